#!/usr/bin/env bash
# Entrypoint of the Postgres stand-in (tests/docker/standins.py), honouring the official
# `postgres` image's documented contract:
# - POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER
#   (default postgres), POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS, each also as
#   <NAME>_FILE (the value read from that file);
# - the cluster in $PGDATA (/var/lib/postgresql/data), made by initdb on the first start only;
#   local socket connections trusted, TCP connections from anywhere by
#   POSTGRES_HOST_AUTH_METHOD (default scram-sha-256);
# - /docker-entrypoint-initdb.d/*.sh, *.sql and *.sql.gz run once, on that first start, against
#   a server that listens on its socket only (so TCP health checks fail until it is done);
# - started as root, it prepares the folders and runs the server as the postgres user;
# - arguments that start with "-" are options of `postgres`; other commands run as given.
set -Eeuo pipefail

# NAME from NAME or from the file NAME_FILE names; the default otherwise.
file_env() {
    local name="$1" file_name="${1}_FILE" default="${2:-}"
    if [ -n "${!name:-}" ] && [ -n "${!file_name:-}" ]; then
        echo "error: both $name and $file_name are set (they are exclusive)" >&2
        exit 1
    fi
    local value="$default"
    if [ -n "${!name:-}" ]; then
        value="${!name}"
    elif [ -n "${!file_name:-}" ]; then
        value="$(<"${!file_name}")"
    fi
    export "$name"="$value"
    unset "$file_name"
}

prepare_folders_as_root() {
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 0700 "$PGDATA"
    chmod 3777 /var/run/postgresql
}

check_password() {
    if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
        cat >&2 <<'TEXT'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser
       (or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection without one).
TEXT
        exit 1
    fi
}

run_init_scripts() {
    local file
    for file in /docker-entrypoint-initdb.d/*; do
        case "$file" in
            *.sh) echo "running $file" && bash "$file" ;;
            *.sql) echo "running $file" && psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" -f "$file" ;;
            *.sql.gz) echo "running $file" && gunzip -c "$file" | psql -v ON_ERROR_STOP=1 --dbname "$POSTGRES_DB" ;;
            *) if [ -e "$file" ]; then echo "ignoring $file"; fi ;;
        esac
    done
}

initialise() {
    check_password
    initdb --username="$POSTGRES_USER" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") \
        ${POSTGRES_INITDB_ARGS:+$POSTGRES_INITDB_ARGS}
    printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"
    export PGUSER="$POSTGRES_USER" PGPASSWORD="$POSTGRES_PASSWORD"
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    run_init_scripts
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGUSER PGPASSWORD
    echo "PostgreSQL init process complete; ready for start up."
}

if [ "${1:0:1}" = "-" ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
    prepare_folders_as_root
    exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" = postgres ]; then
    file_env POSTGRES_PASSWORD
    file_env POSTGRES_USER postgres
    file_env POSTGRES_DB "$POSTGRES_USER"
    file_env POSTGRES_INITDB_ARGS
    : "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
    if [ -s "$PGDATA/PG_VERSION" ]; then
        echo "PostgreSQL Database directory appears to contain a database; Skipping initialization"
    else
        initialise
    fi
fi

exec "$@"
