#!/usr/bin/env bash
# Re-extracts every message into the catalogs (config/locale) and compiles them; then lists
# the messages still missing, fuzzy or with other placeholders, per language.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh
python manage.py messages
