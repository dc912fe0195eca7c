#!/bin/sh
# Container entrypoint: on the proxy's first start, write a default config.yaml into its
# (empty) config volume; then run the service as PID 1's child (compose sets init: true).
set -eu

config=""
previous=""
for arg in "$@"; do
    if [ "$previous" = "--config" ]; then
        config="$arg"
    fi
    previous="$arg"
done

if [ -n "$config" ] && [ ! -f "$config" ]; then
    mkdir -p "$(dirname "$config")"
    umask 077
    cat > "$config.tmp" <<'YAML'
# Proxy configuration, written on the first start of the container; edit it here or from the
# dashboard (it is hot-reloaded). Key names follow CLIProxyAPI.

# Inside the container the proxy listens on every interface; docker-compose.yml publishes
# 8317 on 127.0.0.1 of the host only.
host: 0.0.0.0
port: 8317

# State kept in the stack's volumes.
auth-dir: /var/lib/gateway/auths
usage-dir: /var/lib/gateway/data/usage
state-dir: /var/lib/gateway/data/state
logs-dir: /var/lib/gateway/data/logs

# Client API keys: the dashboard adds the keys its users create (as "sha256:<hex>").
# Empty means every inference request is refused: the proxy is never open.
api-keys: []

routing:
  strategy: round-robin

# The management API accepts callers from loopback and private networks only (the
# dashboard reaches it over the internal network).
remote-management:
  allow-remote: false
YAML
    mv "$config.tmp" "$config"
    echo "gateway-entrypoint: wrote a default $config" >&2
fi

exec "$@"
