#!/usr/bin/env bash
# Runs a benchmark from bench/ against local PostgreSQL and Redis. Usage: scripts/bench.sh generation [args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev source scripts/venv.sh
source scripts/services.sh
name="$1"; shift
# The feed benchmark loads the API with wrk (Debian's package).
if [ "$name" = feed ] && ! command -v wrk >/dev/null 2>&1; then apt_install wrk; fi
exec python "bench/$name.py" "$@"
