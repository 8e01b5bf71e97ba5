#!/usr/bin/env bash
# Run the whole suite: lint, then every test on SQLite + the filesystem broker, then again on
# PostgreSQL + Redis. Under CI=true a missing service, browser or ffmpeg is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
GREENLIGHT_BROWSER=1 bash scripts/bootstrap.sh

say() { printf '\033[1;32m==>\033[0m %s\n' "$*"; }
ci=${CI:-false}
PG_URL=${GREENLIGHT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/greenlight}
REDIS_URL=${GREENLIGHT_TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
AMQP_URL=${GREENLIGHT_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672//}

for tool in ffmpeg ffprobe espeak-ng chromium; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

pg_up() { .venv/bin/python - "$PG_URL" <<'PY' >/dev/null 2>&1
import sys, psycopg
from urllib.parse import urlsplit
u = urlsplit(sys.argv[1])
psycopg.connect(host=u.hostname, port=u.port or 5432, user=u.username or "postgres",
                dbname="postgres", connect_timeout=3).close()
PY
}
amqp_up() { .venv/bin/python -c "import kombu,sys; kombu.Connection(sys.argv[1], connect_timeout=3).connect()" "$AMQP_URL" >/dev/null 2>&1; }
redis_up() { .venv/bin/python -c "import redis,sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()" "$REDIS_URL" >/dev/null 2>&1; }

start_services() {
  if ! pg_up && command -v pg_lsclusters >/dev/null; then
    say "Starting PostgreSQL"
    pg_lsclusters --no-header | while read -r version cluster _; do
      pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || true
    done
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  if ! redis_up && command -v redis-server >/dev/null; then
    say "Starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
    for _ in $(seq 1 30); do redis_up && break; sleep 1; done
  fi
  if ! amqp_up && command -v rabbitmq-server >/dev/null; then
    say "Starting RabbitMQ"
    rabbitmq-server -detached || true
    for _ in $(seq 1 60); do amqp_up && break; sleep 1; done
  fi
}

say "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check . >/dev/null || { .venv/bin/ruff format --diff . | head -50; exit 1; }

# run_pass NAME DATABASE_URL BROKER_URL MARKERS [pytest args…]: one pass in its own var folder.
# With arguments (a path, -k …), or markers that select only end-to-end tests, it is one plain
# pytest run. Otherwise the tests that start no worker process are spread over the CPUs
# (pytest-xdist: each process has its own test database, each test its own folders), then the
# end-to-end tests run one at a time: they share the pass's broker and the CPUs their workers
# render on.
run_pass() {
  local name=$1 database=$2 broker=$3 markers=$4
  shift 4
  local run_dir="var/test-$name"
  rm -rf "$run_dir" && mkdir -p "$run_dir"
  if [ $# -gt 0 ]; then
    # The arguments may select nothing this pass runs (pytest's exit status 5): not a failure.
    in_pass ${markers:+-m "$markers"} "$@" || [ $? -eq 5 ]
  elif [[ $markers == e2e* ]]; then
    in_pass -m "$markers"
  else
    in_pass -m "not e2e${markers:+ and ($markers)}" -n auto --maxprocesses 4
    in_pass -m "e2e${markers:+ and ($markers)}"
  fi
}
# in_pass [pytest args…]: pytest with the environment of the run_pass that calls it (bash
# locals are visible to the functions a function calls).
in_pass() {
  env -u DATABASE_URL -u CELERY_BROKER_URL GREENLIGHT_VAR_DIR="$PWD/$run_dir" \
    ${database:+DATABASE_URL="$database"} ${broker:+CELERY_BROKER_URL="$broker"} \
    .venv/bin/pytest "$@"
}

# missing WHAT: under CI a missing service fails the run; elsewhere the pass is skipped loudly.
missing() {
  if [ "$ci" = "true" ]; then
    echo "$1 is not reachable; CI needs it" >&2
    exit 1
  fi
  echo "WARNING: $1 is not reachable; that pass did not run" >&2
}

say "Suite on SQLite + filesystem broker"
run_pass sqlite "" "" "" "$@"

start_services
if pg_up && redis_up; then
  say "Suite on PostgreSQL + Redis"
  run_pass postgres "$PG_URL" "$REDIS_URL" "not browser" "$@"
else
  missing "PostgreSQL ($PG_URL) or Redis ($REDIS_URL)"
fi

# RabbitMQ is the other production broker: the worker end-to-end test runs on it too.
if pg_up && amqp_up; then
  say "End-to-end on PostgreSQL + RabbitMQ"
  run_pass rabbitmq "$PG_URL" "$AMQP_URL" "e2e and not browser" "$@"
else
  missing "PostgreSQL ($PG_URL) or RabbitMQ ($AMQP_URL)"
fi

# Every bench must still run end to end (small sizes; the figures are printed, not asserted:
# speed is judged by `make bench` on a quiet machine, never by a timed test). A run narrowed
# by arguments to pytest skips them.
if [ $# -gt 0 ]; then
  say "Benchmarks skipped: the run was narrowed by arguments"
elif pg_up && redis_up; then
  say "Benchmarks, smoke run"
  BENCH_QUICK=1 GREENLIGHT_BENCH_REDIS_URL="${REDIS_URL%/*}/14" bash scripts/bench.sh
else
  missing "PostgreSQL ($PG_URL) or Redis ($REDIS_URL) for the fan-out bench"
fi
