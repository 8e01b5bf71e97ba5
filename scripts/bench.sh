#!/usr/bin/env bash
# Run every benchmark in bench/ and print its ratios (each measures both sides in one run).
# BENCH_QUICK=1 runs each at a small size: CI uses it to check that every bench still runs
# end to end; figures at those sizes are printed but mean little, and nothing is asserted.
# The fan-out bench needs PostgreSQL and Redis (a scratch database it creates and drops).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh

say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }
py=.venv/bin/python
quick=${BENCH_QUICK:-0}
PG_ADMIN=${GREENLIGHT_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
REDIS_URL=${GREENLIGHT_BENCH_REDIS_URL:-redis://127.0.0.1:6379/13}
bench_db=greenlight_bench_$$

bench() { say "bench/$*"; "$py" "bench/$@"; }

if [ "$quick" = "1" ]; then
  bench animatic_render.py
  bench pipeline_latency.py --variants 4 --rounds 1
  bench ingest.py --runs 1
  bench streaming.py --size-mb 20 --runs 2 --ttfb-runs 5
  bench review_queue.py --large 1000 --repeats 5
  bench campaign_pages.py --large 1000 --repeats 5
  bench approve.py --approvals 40
  fanout_args=(--variants 60)
else
  bench animatic_render.py
  bench pipeline_latency.py
  bench ingest.py
  bench streaming.py
  bench review_queue.py
  bench campaign_pages.py
  bench approve.py
  fanout_args=()
fi

psql_admin() { "$py" - "$PG_ADMIN" "$1" <<'PY'
import sys, psycopg
conn = psycopg.connect(sys.argv[1] + "/postgres", autocommit=True, connect_timeout=5)
conn.execute(sys.argv[2])
PY
}
psql_admin "CREATE DATABASE $bench_db"
trap 'psql_admin "DROP DATABASE IF EXISTS $bench_db WITH (FORCE)"' EXIT
DATABASE_URL="$PG_ADMIN/$bench_db" CELERY_BROKER_URL="$REDIS_URL" bench fanout.py "${fanout_args[@]}"
