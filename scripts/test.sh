#!/usr/bin/env bash
# The whole test suite on real PostgreSQL and Redis. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=dev source scripts/venv.sh
source scripts/services.sh
exec python -m pytest "$@"
