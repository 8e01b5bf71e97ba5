#!/usr/bin/env bash
# Start Greenlight on the embedded default: web, worker and beat, with demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export PYTHONUNBUFFERED=1
.venv/bin/python manage.py migrate --no-input -v 0
.venv/bin/python manage.py greenlight_demo
exec .venv/bin/honcho -f Procfile start
