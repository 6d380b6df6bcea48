#!/usr/bin/env bash
# The whole test suite on real PostgreSQL and Redis. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev source scripts/venv.sh
source scripts/services.sh
# A fresh test database every run: one left by an older checkout (other migrations) would break --reuse-db.
exec python -m pytest --create-db "$@"
