# Sourced by test.sh: makes sure PostgreSQL and Redis are installed and running
# on 127.0.0.1, installing Debian's packages and starting them when needed.
set -euo pipefail

tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

redis_ping() {
    (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && IFS= read -r -t 2 line <&3 && [[ "$line" == +PONG* ]]) 2>/dev/null
}

wait_for() {  # wait_for NAME CMD...
    local name=$1; shift
    for _ in $(seq 1 60); do "$@" && return 0; sleep 0.5; done
    echo "!! $name did not come up" >&2; return 1
}

ensure_postgres() {
    if tcp_open 127.0.0.1 5432; then return 0; fi
    if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
        echo "==> installing PostgreSQL (Debian package)"
        apt_install postgresql postgresql-client
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    echo "==> starting PostgreSQL $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for PostgreSQL tcp_open 127.0.0.1 5432
    # A fresh Debian cluster wants a password over TCP; give the postgres role the
    # one the test settings use. (Machines with trust auth accept it as well.)
    if ! PGPASSWORD=postgres PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1; then
        as_root su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
    fi
}

ensure_redis() {
    if redis_ping; then return 0; fi
    if ! command -v redis-server >/dev/null 2>&1; then
        echo "==> installing Redis (Debian package)"
        apt_install redis-server
    fi
    echo "==> starting Redis"
    as_root mkdir -p /var/lib/redis /var/log/redis
    as_root redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis_ping
}

ensure_rabbitmq() {  # the generation benchmark's second broker (scripts/bench.sh generation)
    if tcp_open 127.0.0.1 5672; then return 0; fi
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
        echo "==> installing RabbitMQ (Debian package)"
        apt_install rabbitmq-server
    fi
    echo "==> starting RabbitMQ"
    as_root rabbitmq-server -detached
    wait_for RabbitMQ tcp_open 127.0.0.1 5672
}

is_local_url() { [[ -z "${1:-}" || "$1" == *"@127.0.0.1"* || "$1" == *"://127.0.0.1"* || "$1" == *"localhost"* ]]; }

is_local_url "${DATABASE_URL:-}" && ensure_postgres
is_local_url "${REDIS_URL:-}" && ensure_redis
true
