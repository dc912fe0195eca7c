#!/usr/bin/env bash
# Operate the Docker Compose stack of this folder: ./manage.sh <command> [args]
# Run `./manage.sh help` for the commands. Needs Docker with the Compose plugin and .env.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="${ENV_FILE:-$HERE/.env}"
COMPOSE_FILE="$HERE/docker-compose.yml"
STACK_FILE="$HERE/stack.yml"
OVERRIDE_FILE="$HERE/docker-compose.override.yml"
BACKUP_DIR="${BACKUP_DIR:-$HERE/backups}"
APP_SERVICES=(proxy collector dashboard)
PROXY_ROOT=/var/lib/gateway
SECRET_NAMES=(POSTGRES_PASSWORD JWT_SECRET MANAGEMENT_API_KEY COLLECTOR_API_KEY PROVIDER_ENCRYPTION_KEY)
WORK=""
trap '[ -z "$WORK" ] || rm -rf "$WORK"' EXIT

die() {
    echo "manage.sh: $*" >&2
    exit 1
}

say() {
    echo "manage.sh: $*"
}

usage() {
    cat <<'USAGE'
Usage: ./manage.sh <command> [args]     (./manage.sh <command> --help for one command)

  init [--force]        write .env with strong random secrets (mode 600); refuses to
                        overwrite an existing .env unless --force
  up [service...]       start the stack (or some services) and wait until healthy
  down                  stop and remove the containers (volumes are kept)
  restart [service...]  restart services
  ps | status [service...]
                        list the services, their health and exit codes
  logs [options] [service...]
                        show logs, e.g. `logs -f --tail 100 dashboard`
  pull [service...]     pull the third-party images (postgres, docker-socket-proxy)
  backup [name] [--encrypt] [--recipient KEY]
                        dump the database, the proxy's config and auth files and .env
                        into backups/<name>_<timestamp>.tar.gz (mode 600); encrypted
                        with gpg (a passphrase or a public key) into ....tar.gz.gpg
  restore <file> [--yes]
                        replace the database and the proxy files with a backup
                        (asks for confirmation unless --yes, and for the passphrase
                        of an encrypted one)
  rotate-backups [N]    keep the newest N backups (default 7), delete the rest
  rotate-secrets [--yes]
                        new management, collector, session and encryption secrets,
                        applied proxy first; stored secrets re-encrypted,
                        dashboard sessions ended
  compose <args...>     run any docker compose command on this stack

Docker Swarm (stack.yml; docs/installation.md, "More than one machine"):
  stack-deploy          deploy or update the Swarm stack with .env and wait until every
                        replica is running
  stack-ps              list the stack's tasks
  stack-rm              remove the stack's services and networks (volumes are kept)
USAGE
}

# The usage of one command.
command_usage() {
    case "$1" in
        init) cat <<'TEXT'
Usage: ./manage.sh init [--force]
Write .env from .env.example with strong random secrets (mode 600).
  --force   replace an existing .env (the database password must then match the volume)
TEXT
            ;;
        up) cat <<'TEXT'
Usage: ./manage.sh up [service...]
Build the gateway image if it is missing, start the stack (or the services named) and wait
until every container is healthy.
TEXT
            ;;
        down) cat <<'TEXT'
Usage: ./manage.sh down
Stop and remove the containers and networks; the volumes (data) are kept.
TEXT
            ;;
        restart) cat <<'TEXT'
Usage: ./manage.sh restart [service...]
Restart the services named (all when none is named).
TEXT
            ;;
        ps | status) cat <<'TEXT'
Usage: ./manage.sh ps [service...]     (alias: status)
List the containers with their state, health and exit code (the one-shot migrate too).
TEXT
            ;;
        logs) cat <<'TEXT'
Usage: ./manage.sh logs [options] [service...]
Show the services' logs. Options:
  -f, --follow        keep following new lines (Ctrl-C stops)
  -t, --timestamps    show timestamps
  --tail N            only the last N lines of each service
  --since T, --until T
                      only lines after / before T (e.g. 10m, 2026-01-01T00:00:00)
  --no-color, --no-log-prefix
TEXT
            ;;
        pull) cat <<'TEXT'
Usage: ./manage.sh pull [service...]
Pull newer third-party images (postgres, docker-socket-proxy); the gateway image is built
here (./manage.sh compose build --pull).
TEXT
            ;;
        backup) cat <<'TEXT'
Usage: ./manage.sh backup [name] [--encrypt] [--recipient KEY]
Dump the database, the proxy's config and auth files and .env into
$BACKUP_DIR/<name>_<timestamp>.tar.gz (mode 600). name: letters, digits, '.', '_', '-'
(default: the compose project name).
  --encrypt          encrypt with gpg (AES256) under a passphrase: read from the file named
                     by BACKUP_PASSPHRASE_FILE, else asked twice on the terminal; writes
                     <name>_<timestamp>.tar.gz.gpg and no plain archive
  --recipient KEY    encrypt to a gpg public key of your keyring instead (implies
                     --encrypt); only the holder of its secret key can restore
TEXT
            ;;
        restore) cat <<'TEXT'
Usage: ./manage.sh restore <file> [--yes]
Replace the database and the proxy's config and auth files with a backup, then start the
stack. A missing .env is restored from the backup. An encrypted backup (.gpg) is decrypted
first: a passphrase comes from the file named by BACKUP_PASSPHRASE_FILE or is asked on the
terminal; a backup made with --recipient is decrypted with your gpg secret key.
  -y, --yes   do not ask for confirmation (needed when not run from a terminal)
TEXT
            ;;
        rotate-backups) cat <<'TEXT'
Usage: ./manage.sh rotate-backups [N]
Keep the newest N backups in $BACKUP_DIR (default 7) and delete the older ones.
TEXT
            ;;
        rotate-secrets) cat <<'TEXT'
Usage: ./manage.sh rotate-secrets [--yes]
Replace MANAGEMENT_API_KEY, COLLECTOR_API_KEY, JWT_SECRET and PROVIDER_ENCRYPTION_KEY in .env
with new random values and apply them: the proxy first, then the collector and the dashboard,
each recreated and healthy (each stops gracefully). The previous encryption key stays in .env as
PROVIDER_ENCRYPTION_KEY_OLD, still accepted, until every stored provider secret has been
re-encrypted with the new key in one transaction; then it is removed. Every dashboard
session ends (users sign in again). Scripts that call the management API or
POST /api/usage/collect need the new keys. If it stops half way, run it again: it resumes
with the encryption key already chosen.
  -y, --yes   do not ask for confirmation (needed when not run from a terminal)
TEXT
            ;;
        stack-deploy) cat <<'TEXT'
Usage: ./manage.sh stack-deploy
Deploy (or update) infrastructure/stack.yml as the Swarm stack $STACK_NAME (default: the compose
project name, llm-gateway) with the settings of .env, and wait until the migration completed
and every replica runs (STACK_WAIT seconds, default 300). Needs a swarm manager
(`docker swarm init`). Labels this node gateway.postgres=true when no node has that label yet
(the database stays on the labelled node, with its volume).
TEXT
            ;;
        stack-ps) cat <<'TEXT'
Usage: ./manage.sh stack-ps
List the tasks of the Swarm stack (docker stack ps).
TEXT
            ;;
        stack-rm) cat <<'TEXT'
Usage: ./manage.sh stack-rm
Remove the Swarm stack's services and networks; the volumes (data) are kept.
TEXT
            ;;
        compose) cat <<'TEXT'
Usage: ./manage.sh compose <args...>
Run any docker compose command on this stack (its files and .env are passed for you),
e.g. `./manage.sh compose build --pull`. Compose's own help: ./manage.sh compose help
TEXT
            ;;
    esac
}

# Answers --help/-h anywhere in the arguments (for `compose`, only as its first argument).
wants_help() {
    local arg
    for arg in "$@"; do
        case "$arg" in -h | --help) return 0 ;; esac
    done
    return 1
}

# A usage error: names the command and the offending argument, exits 2.
refuse() {
    echo "manage.sh $1: $2" >&2
    echo "Run './manage.sh $1 --help' for its usage." >&2
    exit 2
}

# Services are positional; any other option is refused rather than guessed at.
services_only() {
    local command="$1" arg
    shift
    for arg in "$@"; do
        case "$arg" in -*) refuse "$command" "unknown option '$arg'" ;; esac
    done
}

require_docker() {
    command -v docker >/dev/null 2>&1 \
        || die "docker not found: install Docker Engine with the Compose plugin (https://docs.docker.com/engine/install/)"
    docker compose version >/dev/null 2>&1 \
        || die "'docker compose' is not available: install the Docker Compose plugin"
}

require_env() {
    [ -f "$ENV_FILE" ] || die "$ENV_FILE not found: run './manage.sh init' (or copy .env.example) first"
    local placeholders
    placeholders="$(grep -E '^[A-Z_]+=(change-me|changeme|CHANGE_ME|replace-me)?$' "$ENV_FILE" \
        | cut -d= -f1 | grep -xF -f <(printf '%s\n' "${SECRET_NAMES[@]}") || true)"
    [ -z "$placeholders" ] || die "$ENV_FILE still has placeholder secrets: $(echo "$placeholders" | tr '\n' ' ')- run './manage.sh init --force' or set them"
    local mode
    mode="$(stat -c '%a' "$ENV_FILE" 2>/dev/null || echo 600)"
    [ "$mode" = "600" ] || echo "manage.sh: warning: $ENV_FILE is mode $mode; run 'chmod 600 $ENV_FILE'" >&2
}

compose() {
    local files=(-f "$COMPOSE_FILE")
    [ -f "$OVERRIDE_FILE" ] && files+=(-f "$OVERRIDE_FILE")
    docker compose --project-directory "$HERE" "${files[@]}" --env-file "$ENV_FILE" "$@"
}

# No `printf ... | grep -q` here: under `pipefail`, grep's early exit can kill printf with
# SIGPIPE and fail the test even when it matched (a flaky empty secret in `init`).
is_secret_name() {
    local name
    for name in "${SECRET_NAMES[@]}"; do
        [ "$name" = "$1" ] && return 0
    done
    return 1
}

random_hex() {
    # 32 random bytes as 64 hex characters: URL-safe, so usable in DATABASE_URL as is.
    od -An -N32 -tx1 /dev/urandom | tr -d ' \n'
}

cmd_init() {
    local force=0 arg
    for arg in "$@"; do
        case "$arg" in
            --force) force=1 ;;
            -*) refuse init "unknown option '$arg'" ;;
            *) refuse init "unexpected argument '$arg'" ;;
        esac
    done
    if [ -e "$ENV_FILE" ] && [ "$force" -ne 1 ]; then
        die "$ENV_FILE already exists; keep it, or run './manage.sh init --force' to replace it (the database password must then match the existing volume)"
    fi
    [ -f "$HERE/.env.example" ] || die "$HERE/.env.example not found"
    local tmp="$ENV_FILE.tmp.$$"
    (
        umask 077
        : > "$tmp"
        while IFS= read -r line || [ -n "$line" ]; do
            local key="${line%%=*}"
            if [[ "$line" != \#* ]] && [[ "$line" == *=* ]] \
                && is_secret_name "$key"; then
                line="$key=$(random_hex)"
            fi
            printf '%s\n' "$line" >> "$tmp"
        done < "$HERE/.env.example"
    )
    mv "$tmp" "$ENV_FILE"
    chmod 600 "$ENV_FILE"
    say "wrote $ENV_FILE with new secrets (mode 600); review DASHBOARD_URL and API_URL"
}

# Parses `backup` arguments into BACKUP_NAME, BACKUP_ENCRYPT (0/1), BACKUP_RECIPIENT.
parse_backup_args() {
    BACKUP_NAME="" BACKUP_ENCRYPT=0 BACKUP_RECIPIENT=""
    while [ $# -gt 0 ]; do
        case "$1" in
            --encrypt) BACKUP_ENCRYPT=1 ;;
            --recipient)
                [ $# -ge 2 ] && [ -n "$2" ] || refuse backup "--recipient needs a gpg key id or e-mail"
                BACKUP_ENCRYPT=1 BACKUP_RECIPIENT="$2"
                shift
                ;;
            --recipient=*) BACKUP_ENCRYPT=1 BACKUP_RECIPIENT="${1#--recipient=}" ;;
            -*) refuse backup "unknown option '$1'" ;;
            *)
                [ -z "$BACKUP_NAME" ] || refuse backup "takes one name at most, got: $BACKUP_NAME $1"
                BACKUP_NAME="$1"
                ;;
        esac
        shift
    done
    BACKUP_NAME="${BACKUP_NAME:-${COMPOSE_PROJECT_NAME:-llm-gateway}}"
    # The name becomes part of a file name in $BACKUP_DIR: no paths, no surprises.
    [[ "$BACKUP_NAME" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] \
        || refuse backup "the name may hold letters, digits, '.', '_' and '-' only, got '$BACKUP_NAME'"
    if [ "$BACKUP_ENCRYPT" -eq 1 ]; then
        command -v gpg >/dev/null 2>&1 || die "backup --encrypt needs gpg: install gnupg"
    fi
}

# The passphrase of an encrypted backup: BACKUP_PASSPHRASE_FILE, else asked on the terminal
# (twice when `twice`). Printed on stdout for a pipe, never written to a file or argv.
read_passphrase() {
    local twice="$1" pass again
    if [ -n "${BACKUP_PASSPHRASE_FILE:-}" ]; then
        [ -r "$BACKUP_PASSPHRASE_FILE" ] || die "BACKUP_PASSPHRASE_FILE is not a readable file: $BACKUP_PASSPHRASE_FILE"
        pass="$(head -n 1 "$BACKUP_PASSPHRASE_FILE")"
    else
        [ -t 0 ] || die "no passphrase: set BACKUP_PASSPHRASE_FILE to a file holding it when not running from a terminal"
        read -r -s -p "Backup passphrase: " pass && echo >&2
        if [ "$twice" -eq 1 ]; then
            read -r -s -p "Repeat it: " again && echo >&2
            [ "$pass" = "$again" ] || die "the passphrases differ"
        fi
    fi
    [ ${#pass} -ge 8 ] || die "the backup passphrase must have at least 8 characters"
    printf '%s' "$pass"
}

# gpg with a throw-away home for passphrase work (the user's keyring stays untouched).
gpg_symmetric() {
    local home="$WORK/gnupg"
    [ -d "$home" ] || mkdir -m 700 "$home"
    GNUPGHOME="$home" gpg --batch --yes --quiet --pinentry-mode loopback "$@"
}

# Writes the archive of folder $1 to $2 (.tar.gz, or .tar.gz.gpg when encrypting).
write_archive() {
    local work="$1" archive="$2" pass
    if [ "$BACKUP_ENCRYPT" -eq 0 ]; then
        (umask 077 && tar -C "$work" -czf "$archive" .)
    elif [ -n "$BACKUP_RECIPIENT" ]; then
        (umask 077 && tar -C "$work" -cz . | gpg --batch --yes --quiet --trust-model always \
            --encrypt --recipient "$BACKUP_RECIPIENT" --output "$archive") \
            || die "gpg could not encrypt to '$BACKUP_RECIPIENT' (is its public key in your keyring?)"
    else
        pass="$(read_passphrase 1)"
        (umask 077 && tar -C "$work" -cz . | gpg_symmetric --symmetric --cipher-algo AES256 \
            --passphrase-fd 3 --output "$archive" 3< <(printf '%s' "$pass")) \
            || die "gpg could not encrypt the backup"
    fi
}

# Decrypts an encrypted backup $1 into the gzip'ed tar $2.
decrypt_backup() {
    local file="$1" out="$2" pass packets
    command -v gpg >/dev/null 2>&1 || die "$file is encrypted: restoring it needs gpg (install gnupg)"
    # Lists the packets it can read without a key (and fails on the rest).
    packets="$(gpg_symmetric --list-packets "$file" 2>/dev/null </dev/null || true)"
    grep -q '^:\(symkey\|pubkey\) enc packet:' <<<"$packets" \
        || die "$file is not a backup made by manage.sh (neither gzip nor gpg)"
    if grep -q '^:symkey enc packet:' <<<"$packets"; then
        pass="$(read_passphrase 0)"
        gpg_symmetric --decrypt --passphrase-fd 3 --output "$out" "$file" 3< <(printf '%s' "$pass") \
            2>/dev/null || die "cannot decrypt $file: wrong passphrase?"
    else
        gpg --batch --yes --quiet --decrypt --output "$out" "$file" \
            || die "cannot decrypt $file: the secret key of its recipient is not in your keyring"
    fi
}

cmd_backup() {
    local name="$BACKUP_NAME"
    local stamp work archive
    stamp="$(date +%Y%m%d_%H%M%S)"
    mkdir -p "$BACKUP_DIR"
    chmod 700 "$BACKUP_DIR"
    WORK="$(mktemp -d)"
    # What goes into the archive, beside (not holding) gpg's temporary home.
    work="$WORK/content"
    mkdir -m 700 "$work"
    say "dumping the database"
    # shellcheck disable=SC2016 # the variables are expanded inside the postgres container
    compose exec -T postgres sh -c \
        'pg_dump --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --no-owner --no-privileges' \
        > "$work/database.sql"
    say "copying the proxy's config and auth files"
    compose run --rm --no-deps -T --entrypoint tar proxy -C "$PROXY_ROOT" -cf - config auths \
        > "$work/proxy.tar"
    cp "$ENV_FILE" "$work/env"
    [ -f "$OVERRIDE_FILE" ] && cp "$OVERRIDE_FILE" "$work/docker-compose.override.yml"
    archive="$BACKUP_DIR/${name}_${stamp}.tar.gz"
    [ "$BACKUP_ENCRYPT" -eq 0 ] || archive="$archive.gpg"
    write_archive "$work" "$archive"
    say "backup written to $archive"
}

confirm() {
    local prompt="$1"
    [ -t 0 ] || die "refusing to restore without confirmation: pass --yes when running from a script"
    local answer
    read -r -p "$prompt Type 'yes' to continue: " answer
    [ "$answer" = "yes" ] || die "restore cancelled"
}

cmd_restore() {
    local file="" yes=0 arg
    for arg in "$@"; do
        case "$arg" in
            --yes | -y) yes=1 ;;
            -*) refuse restore "unknown option '$arg'" ;;
            *)
                [ -z "$file" ] || refuse restore "takes one backup file, got '$file' and '$arg'"
                file="$arg"
                ;;
        esac
    done
    [ -n "$file" ] || refuse restore "which backup? ./manage.sh restore <backup.tar.gz> [--yes]"
    require_docker
    [ -f "$file" ] || die "backup file not found: $file"
    local work plain="$file"
    WORK="$(mktemp -d)"
    work="$WORK"
    # Not gzip's magic number: an encrypted backup (gpg's packets), decrypted beside the rest.
    if [ "$(head -c 2 "$file" | od -An -tx1 | tr -d ' \n')" != 1f8b ]; then
        mkdir -m 700 "$work/decrypted" "$work/backup"
        plain="$work/decrypted/backup.tar.gz"
        decrypt_backup "$file" "$plain"
        work="$work/backup"
    fi
    tar -C "$work" -xzf "$plain" || die "cannot read $file as a backup archive"
    [ -f "$work/database.sql" ] && [ -f "$work/proxy.tar" ] \
        || die "$file is not a backup made by manage.sh (database.sql or proxy.tar missing)"
    if [ "$yes" -ne 1 ]; then
        confirm "This replaces the database and the proxy's config and auth files with $file."
    fi
    if [ ! -f "$ENV_FILE" ]; then
        (umask 077 && cp "$work/env" "$ENV_FILE")
        say "restored $ENV_FILE from the backup"
    elif ! cmp -s "$work/env" "$ENV_FILE"; then
        echo "manage.sh: warning: the backup's .env differs from $ENV_FILE; keeping the current one" \
            "(PROVIDER_ENCRYPTION_KEY must match the backup's to decrypt stored provider keys;" \
            "see 'tar -xzOf $file ./env')" >&2
    fi
    if [ -f "$work/docker-compose.override.yml" ] && [ ! -f "$OVERRIDE_FILE" ]; then
        cp "$work/docker-compose.override.yml" "$OVERRIDE_FILE"
    fi
    require_env
    say "stopping ${APP_SERVICES[*]}"
    compose stop "${APP_SERVICES[@]}"
    compose up -d --wait postgres
    say "restoring the database"
    # One transaction: a failing restore leaves the previous data in place.
    # shellcheck disable=SC2016 # the variables are expanded inside the postgres container
    { echo 'DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;'; cat "$work/database.sql"; } \
        | compose exec -T postgres sh -c \
            'psql --quiet --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" --set ON_ERROR_STOP=1 --single-transaction --output=/dev/null'
    say "restoring the proxy's config and auth files"
    compose run --rm --no-deps -T --entrypoint sh proxy -c \
        "find $PROXY_ROOT/config $PROXY_ROOT/auths -mindepth 1 -delete && tar -C $PROXY_ROOT -xf -" \
        < "$work/proxy.tar"
    compose up -d --wait
    say "restore complete"
}

cmd_rotate() {
    [ $# -le 1 ] || refuse rotate-backups "takes one number at most, got: $*"
    local keep="${1:-7}"
    case "$keep" in -*) refuse rotate-backups "unknown option '$keep'" ;; esac
    [[ "$keep" =~ ^[0-9]+$ ]] || refuse rotate-backups "wants a number, got '$keep'"
    [ -d "$BACKUP_DIR" ] || { say "no backups in $BACKUP_DIR"; return 0; }
    local files=() file
    # Names end in a sortable timestamp; newest first.
    while IFS= read -r file; do files+=("$file"); done \
        < <(find "$BACKUP_DIR" -maxdepth 1 -type f \( -name '*_*.tar.gz' -o -name '*_*.tar.gz.gpg' \) -printf '%f\n' \
            | sed -E 's/^.*_([0-9]{8}_[0-9]{6})\.tar\.gz(\.gpg)?$/\1 &/' | sort -r | cut -d' ' -f2-)
    local index=0
    for file in "${files[@]}"; do
        index=$((index + 1))
        if [ "$index" -gt "$keep" ]; then
            rm -f -- "$BACKUP_DIR/$file"
            say "deleted $file"
        fi
    done
    say "kept $((index < keep ? index : keep)) backup(s)"
}

# The value of KEY in .env ("" when absent).
env_value() {
    grep -E "^$1=" "$ENV_FILE" | tail -n 1 | cut -d= -f2- || true
}

# Sets KEY=VALUE in .env (replacing its line, or appending one), atomically, mode 600.
set_env() {
    local key="$1" value="$2" tmp="$ENV_FILE.tmp.$$"
    (
        umask 077
        grep -vE "^$key=" "$ENV_FILE" > "$tmp" || true
        [ -z "$value" ] || printf '%s=%s\n' "$key" "$value" >> "$tmp"
    )
    mv "$tmp" "$ENV_FILE"
}

ROTATED_SECRETS=(MANAGEMENT_API_KEY COLLECTOR_API_KEY JWT_SECRET)

cmd_rotate_secrets() {
    local yes=0 arg
    for arg in "$@"; do
        case "$arg" in
            --yes | -y) yes=1 ;;
            -*) refuse rotate-secrets "unknown option '$arg'" ;;
            *) refuse rotate-secrets "unexpected argument '$arg'" ;;
        esac
    done
    require_docker
    require_env
    if [ "$yes" -ne 1 ]; then
        [ -t 0 ] || die "refusing to rotate secrets without confirmation: pass --yes when running from a script"
        local answer
        read -r -p "New secrets end every dashboard session and invalidate the management and collector keys scripts use. Type 'yes' to continue: " answer
        [ "$answer" = "yes" ] || die "rotation cancelled"
    fi
    local name
    if [ -n "$(env_value PROVIDER_ENCRYPTION_KEY_OLD)" ]; then
        say "resuming: PROVIDER_ENCRYPTION_KEY_OLD is set, keeping the encryption key already chosen"
    else
        set_env PROVIDER_ENCRYPTION_KEY_OLD "$(env_value PROVIDER_ENCRYPTION_KEY)"
        set_env PROVIDER_ENCRYPTION_KEY "$(random_hex)"
    fi
    for name in "${ROTATED_SECRETS[@]}"; do set_env "$name" "$(random_hex)"; done
    say "wrote new ${ROTATED_SECRETS[*]} PROVIDER_ENCRYPTION_KEY to $ENV_FILE"
    # The proxy first (it serves traffic), healthy before the collector and the dashboard,
    # which it answers with the new keys; each container stops gracefully.
    say "restarting proxy with the new secrets"
    compose up -d --wait --no-deps proxy
    say "restarting collector and dashboard with the new secrets"
    compose up -d --wait --no-deps collector dashboard
    say "re-encrypting the stored provider secrets and ending sessions (one transaction)"
    compose exec -T dashboard python -m services.dashboard.rotate \
        || die "re-encryption failed; nothing was re-encrypted and PROVIDER_ENCRYPTION_KEY_OLD stays in $ENV_FILE: fix the cause and run './manage.sh rotate-secrets' again"
    set_env PROVIDER_ENCRYPTION_KEY_OLD ""
    compose up -d --wait --no-deps dashboard
    say "secrets rotated; the previous encryption key is gone from $ENV_FILE (older backups still hold it)"
}

# Compose prints a progress line per image and repeats the error; say once what went wrong.
cmd_pull() {
    local out
    if out="$(compose pull --ignore-buildable --quiet "$@" 2>&1)"; then
        say "images pulled; './manage.sh up' starts the services whose image changed"
        return 0
    fi
    local last registry
    last="$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)"
    registry="$(printf '%s\n' "$out" | sed -nE 's#.*"(https?://[^/"]+)/.*#\1#p' | head -n 1)"
    if [ -n "$registry" ] && grep -qiE \
        'no such host|connection refused|i/o timeout|network is unreachable|no route to host|TLS handshake timeout|server misbehaving' \
        <<< "$out"; then
        die "pull failed: the registry $registry cannot be reached (${last##*: }); the images in use are unchanged"
    fi
    die "pull failed: ${last:-docker compose pull exited with an error}"
}

# Options of `logs` that compose accepts and that only read: anything else is refused.
check_logs_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            -f | --follow | -t | --timestamps | --no-color | --no-log-prefix) ;;
            --tail=* | --since=* | --until=*) ;;
            --tail | --since | --until)
                [ $# -ge 2 ] || refuse logs "$1 needs a value"
                shift
                ;;
            -*) refuse logs "unknown option '$1'" ;;
        esac
        shift
    done
}

stack_name() {
    echo "${STACK_NAME:-${COMPOSE_PROJECT_NAME:-llm-gateway}}"
}

# Exports the settings of .env for `docker stack deploy`, which reads no env file. Lines are
# taken literally (no shell evaluation); variables already set in the environment win, as
# with compose. An empty DATABASE_URL means the stack's own Postgres.
export_env_file() {
    local line key
    while IFS= read -r line || [ -n "$line" ]; do
        [[ "$line" =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || continue
        key="${line%%=*}"
        [ -n "${!key+set}" ] || export "$key=${line#*=}"
    done < "$ENV_FILE"
    if [ -z "${DATABASE_URL:-}" ]; then
        export DATABASE_URL="postgresql://${POSTGRES_USER:-gateway}:${POSTGRES_PASSWORD}@postgres:5432/${POSTGRES_DB:-gateway}"
    fi
}

require_swarm_manager() {
    local state
    state="$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || true)"
    [ "$state" = "active true" ] \
        || die "this engine is not a swarm manager: run 'docker swarm init' (or run this on a manager)"
}

# Postgres is pinned to a labelled node (its volume is local there): this one, unless another
# node already carries the label.
label_postgres_node() {
    local node labelled=""
    for node in $(docker node ls -q); do
        if [ "$(docker node inspect --format '{{index .Spec.Labels "gateway.postgres"}}' "$node")" = true ]; then
            labelled="$node"
        fi
    done
    [ -z "$labelled" ] || return 0
    docker node update --label-add gateway.postgres=true "$(docker info --format '{{.Swarm.NodeID}}')" >/dev/null
    say "labelled this node gateway.postgres=true: the stack's Postgres runs here"
}

# True once the one-shot migration completed and every other service runs all its replicas.
stack_ready() {
    local name="$1" service replicas
    while read -r service replicas; do
        case "$service" in
            "${name}_migrate")
                local states
                states="$(docker service ps --format '{{.CurrentState}}' "$service")" || return 1
                [[ "${states%%$'\n'*}" == Complete* ]] || return 1
                ;;
            *) [ "${replicas%%/*}" = "$(echo "${replicas#*/}" | cut -d' ' -f1)" ] || return 1 ;;
        esac
    done < <(docker service ls --filter "label=com.docker.stack.namespace=$name" \
        --format '{{.Name}} {{.Replicas}}')
}

cmd_stack_deploy() {
    require_swarm_manager
    export_env_file
    label_postgres_node
    local name waited=0
    name="$(stack_name)"
    docker stack deploy --prune -c "$STACK_FILE" "$name"
    while ! stack_ready "$name"; do
        [ "$waited" -lt "${STACK_WAIT:-300}" ] \
            || die "the stack is not ready after ${STACK_WAIT:-300} s: see './manage.sh stack-ps'"
        sleep 2
        waited=$((waited + 2))
    done
    say "stack $name is running (./manage.sh stack-ps lists its tasks)"
}

# Checks the arguments of a stack command before anything runs.
check_args() {
    local command="$1"
    shift
    case "$command" in
        up | restart | ps | status | pull) services_only "$command" "$@" ;;
        down | stack-deploy | stack-ps | stack-rm)
            services_only "$command" "$@"
            [ $# -eq 0 ] || refuse "$command" "takes no arguments, got: $*"
            ;;
        logs) check_logs_args "$@" ;;
        backup) parse_backup_args "$@" ;;
    esac
}

main() {
    local command="${1:-help}"
    [ $# -gt 0 ] && shift
    case "$command" in
        help | -h | --help)
            usage
            return 0
            ;;
        init | up | down | restart | ps | status | logs | pull | backup | restore | rotate-backups \
            | rotate-secrets | stack-deploy | stack-ps | stack-rm) ;;
        compose)
            case "${1:-}" in -h | --help) command_usage compose && return 0 ;; esac
            ;;
        *)
            usage >&2
            die "unknown command: $command"
            ;;
    esac
    if [ "$command" != compose ] && wants_help "$@"; then
        command_usage "$command"
        return 0
    fi
    case "$command" in
        init) cmd_init "$@" ;;
        rotate-backups) cmd_rotate "$@" ;;
        rotate-secrets) cmd_rotate_secrets "$@" ;;
        restore) cmd_restore "$@" ;;
        stack-*)
            check_args "$command" "$@"
            command -v docker >/dev/null 2>&1 \
                || die "docker not found: install Docker Engine (https://docs.docker.com/engine/install/)"
            require_env
            case "$command" in
                stack-deploy) cmd_stack_deploy ;;
                stack-ps) docker stack ps "$(stack_name)" ;;
                stack-rm) docker stack rm "$(stack_name)" ;;
            esac
            ;;
        *)
            check_args "$command" "$@"
            require_docker
            require_env
            case "$command" in
                up) compose up -d --wait "$@" ;;
                down) compose down --remove-orphans ;;
                restart) compose restart "$@" ;;
                ps | status) compose ps --all "$@" ;;
                logs) compose logs "$@" ;;
                pull) cmd_pull "$@" ;;
                backup) cmd_backup ;;
                compose) compose "$@" ;;
            esac
            ;;
    esac
}

main "$@"
