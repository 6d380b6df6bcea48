#!/usr/bin/env bash
# Runs a benchmark from bench/ against local PostgreSQL and Redis. Usage: scripts/bench.sh generation [args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev source scripts/venv.sh
source scripts/services.sh
name="$1"; shift
# The feed benchmark loads the API with wrk (Debian's package).
if [ "$name" = feed ] && ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
# The generation benchmark's scale-out runs on RabbitMQ too (guest/guest on 127.0.0.1).
if [ "$name" = generation ]; then ensure_rabbitmq; fi
exec python "bench/$name.py" "$@"
