#!/usr/bin/env bash
# Operate the Docker Compose stack of this folder: ./manage.sh <command> [args]
# Run `./manage.sh help` for the commands. Needs Docker with the Compose plugin and .env.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENV_FILE="${ENV_FILE:-$HERE/.env}"
COMPOSE_FILE="$HERE/docker-compose.yml"
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
  backup [name]         dump the database, the proxy's config and auth files and .env
                        into backups/<name>_<timestamp>.tar.gz (mode 600)
  restore <file> [--yes]
                        replace the database and the proxy files with a backup
                        (asks for confirmation unless --yes)
  rotate-backups [N]    keep the newest N backups (default 7), delete the rest
  compose <args...>     run any docker compose command on this stack
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
Usage: ./manage.sh backup [name]
Dump the database, the proxy's config and auth files and .env into
$BACKUP_DIR/<name>_<timestamp>.tar.gz (mode 600). name: letters, digits, '.', '_', '-'
(default: the compose project name).
TEXT
            ;;
        restore) cat <<'TEXT'
Usage: ./manage.sh restore <file> [--yes]
Replace the database and the proxy's config and auth files with a backup, then start the
stack. A missing .env is restored from the backup.
  -y, --yes   do not ask for confirmation (needed when not run from a terminal)
TEXT
            ;;
        rotate-backups) cat <<'TEXT'
Usage: ./manage.sh rotate-backups [N]
Keep the newest N backups in $BACKUP_DIR (default 7) and delete the older ones.
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
                && printf '%s\n' "${SECRET_NAMES[@]}" | grep -qx "$key"; then
                line="$key=$(random_hex)"
            fi
            printf '%s\n' "$line" >> "$tmp"
        done < "$HERE/.env.example"
    )
    mv "$tmp" "$ENV_FILE"
    chmod 600 "$ENV_FILE"
    say "wrote $ENV_FILE with new secrets (mode 600); review DASHBOARD_URL and API_URL"
}

backup_name() {
    [ $# -le 1 ] || refuse backup "takes one name at most, got: $*"
    local name="${1:-${COMPOSE_PROJECT_NAME:-llm-gateway}}"
    case "$name" in -*) refuse backup "unknown option '$name'" ;; esac
    # The name becomes part of a file name in $BACKUP_DIR: no paths, no surprises.
    [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] \
        || refuse backup "the name may hold letters, digits, '.', '_' and '-' only, got '$name'"
    echo "$name"
}

cmd_backup() {
    local name="$1"
    local stamp work archive
    stamp="$(date +%Y%m%d_%H%M%S)"
    mkdir -p "$BACKUP_DIR"
    chmod 700 "$BACKUP_DIR"
    WORK="$(mktemp -d)"
    work="$WORK"
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
    (umask 077 && tar -C "$work" -czf "$archive" .)
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
    local work
    WORK="$(mktemp -d)"
    work="$WORK"
    tar -C "$work" -xzf "$file" || die "cannot read $file as a backup archive"
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
        < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name '*_*.tar.gz' -printf '%f\n' \
            | sed -E 's/^.*_([0-9]{8}_[0-9]{6})\.tar\.gz$/\1 &/' | sort -r | cut -d' ' -f2-)
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
    if [ -n "$registry" ] && printf '%s\n' "$out" | grep -qiE \
        'no such host|connection refused|i/o timeout|network is unreachable|no route to host|TLS handshake timeout|server misbehaving'; then
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

# Checks the arguments of a stack command before anything runs.
check_args() {
    local command="$1"
    shift
    case "$command" in
        up | restart | ps | status | pull) services_only "$command" "$@" ;;
        down)
            services_only down "$@"
            [ $# -eq 0 ] || refuse down "takes no arguments, got: $*"
            ;;
        logs) check_logs_args "$@" ;;
        backup) backup_name "$@" >/dev/null ;;
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
        init | up | down | restart | ps | status | logs | pull | backup | restore | rotate-backups) ;;
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
        restore) cmd_restore "$@" ;;
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
                backup) cmd_backup "$(backup_name "$@")" ;;
                compose) compose "$@" ;;
            esac
            ;;
    esac
}

main "$@"
