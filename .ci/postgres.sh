# A throwaway PostgreSQL for the integration tests; sourced by .ci/run.
#
#   postgres_start   install the distribution's server if missing, init a cluster in a temp
#                    dir (as the `postgres` user: initdb refuses root), start it on a unix
#                    socket in that dir (no TCP port to collide with), export
#                    HEALTHEX_TEST_POSTGRES_URL (a superuser URL; tests make their own databases)
#   postgres_stop    stop the server and remove the dir (safe to call twice, or after a failure)
#
# Only tests/test_instance_postgres.py reads HEALTHEX_TEST_POSTGRES_URL; the rest of the suite
# keeps the embedded SQLite instance (HEALTHEX_DAGSTER_POSTGRES_URL stays unset).

PG_DIR=""

_pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

_pg_as_owner() {
    # Run a server command as the cluster's owner: `postgres` when we are root, else ourselves.
    if [ "$(id -u)" -eq 0 ]; then
        # From / : the postgres user may not enter the (private) checkout directory.
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

postgres_start() {
    if [ -z "$(_pg_bindir)" ]; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        # Our own cluster is all the tests need: stop the package from creating and starting
        # its default one (on port 5432) unless the machine already says otherwise.
        if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
            $sudo mkdir -p /etc/postgresql-common
            echo "create_main_cluster = false" | $sudo tee /etc/postgresql-common/createcluster.conf >/dev/null
        fi
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            postgresql >/dev/null
    fi
    local bin
    bin="$(_pg_bindir)"
    [ -n "$bin" ] || { echo "postgres.sh: no PostgreSQL server binaries" >&2; return 1; }
    PG_DIR="$(mktemp -d /tmp/healthex-ci-pg.XXXXXX)"
    [ "$(id -u)" -ne 0 ] || chown postgres: "$PG_DIR"
    _pg_as_owner "$bin/initdb" -D "$PG_DIR/data" -U healthex --auth=trust \
        --encoding=UTF8 --no-locale >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    _pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$PG_DIR' -c fsync=off" start \
        >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
    export HEALTHEX_TEST_POSTGRES_URL="postgresql://healthex@/postgres?host=$PG_DIR"
    echo "postgres.sh: PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on $PG_DIR" >&2
}

postgres_stop() {
    [ -n "$PG_DIR" ] || return 0
    local bin
    bin="$(_pg_bindir)"
    if [ -f "$PG_DIR/data/postmaster.pid" ]; then
        _pg_as_owner "$bin/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null || true
    fi
    rm -rf "$PG_DIR"
    PG_DIR=""
    unset HEALTHEX_TEST_POSTGRES_URL
}
