#!/bin/bash
# Container health probe: `gateway-healthcheck [URL]` wants an HTTP 2xx from the http:// URL
# (default $HEALTHCHECK_URL); `gateway-healthcheck --database` wants $DATABASE_URL to answer a
# query, `gateway-healthcheck --schema` wants it to hold this image's migrations (healthcheck.py
# does those two).
#
# HTTP is spoken by bash itself (/dev/tcp): the probe runs every few seconds in every container,
# and starting Python costs about ten times the CPU of this whole check.
set -u

case "${1:-}" in
    --database | --schema) exec python3 /usr/local/lib/gateway/healthcheck.py "$@" ;;
esac

url="${1:-${HEALTHCHECK_URL:-}}"
rest="${url#http://}"
[ "$rest" != "$url" ] || exit 1 # plain http:// only: the probe stays inside the container
hostport="${rest%%/*}"
path="${rest#"$hostport"}"
[ -n "$path" ] || path=/
host="${hostport%%:*}"
port="${hostport##*:}"
[ "$port" != "$hostport" ] || port=80

{ exec 3<>"/dev/tcp/$host/$port"; } 2>/dev/null || exit 1
printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
read -r -t 4 _ status _ <&3 || exit 1
[[ "$status" == 2[0-9][0-9] ]]
