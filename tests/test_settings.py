"""Settings that decide how the embedded default behaves, read from a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _database(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CONN_MAX_AGE"}}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", GREENLIGHT_VAR_DIR=str(tmp_path))
    env.update(extra)
    code = (
        "import json; from django.conf import settings; "
        "db = settings.DATABASES['default']; "
        "print(json.dumps({k: db.get(k) for k in ('ENGINE', 'CONN_MAX_AGE', 'OPTIONS')}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(run.stdout)


def test_connections_are_kept_between_requests_on_sqlite_as_on_postgresql(tmp_path) -> None:
    """A new SQLite connection runs the WAL pragmas and cost about 3 ms of CPU a request (a
    third of a media request's), so the embedded default keeps it like PostgreSQL does."""
    sqlite = _database(tmp_path)
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["CONN_MAX_AGE"] == 60
    assert sqlite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    postgres = _database(tmp_path, DATABASE_URL="postgres://postgres@127.0.0.1:5432/x")
    assert postgres["CONN_MAX_AGE"] == 60
    assert _database(tmp_path, CONN_MAX_AGE="0")["CONN_MAX_AGE"] == 0
