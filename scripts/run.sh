#!/usr/bin/env bash
# Runs the backend on embedded defaults: ASGI server (HTTP + websocket) and a
# Celery worker with beat. Nothing to configure; any variable from README.md applies.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
# Media URLs in API answers are absolute: point them at this server unless told otherwise.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$HOST:$PORT}"
mkdir -p var

python manage.py migrate --noinput
python manage.py collectstatic --noinput -v 0
python manage.py ensure_demo_admin

# --without-mingle/gossip: the embedded file-system broker has no broadcast.
celery -A config worker -B -Q default,gpu --concurrency "${WORKER_CONCURRENCY:-1}" \
    --schedule var/celerybeat-schedule --without-mingle --without-gossip --loglevel INFO &
worker=$!
trap 'kill "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT INT TERM

cat <<MSG

  API        http://$HOST:$PORT/api/v1/
  API docs   http://$HOST:$PORT/api/docs/
  Admin      http://$HOST:$PORT/admin/   (demo admin printed above)
  Websocket  ws://$HOST:$PORT/ws/?token=<access token>

MSG
uvicorn config.asgi:application --host "$HOST" --port "$PORT" --ws websockets --lifespan off
