"""A real Celery worker process, pointed at the test database and this test's storage."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    if db["ENGINE"].endswith("postgresql"):
        auth = db["USER"] or "postgres"
        if db["PASSWORD"]:
            auth += f":{db['PASSWORD']}"
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    raise RuntimeError(f"no worker URL for {db['ENGINE']}")


class Worker:
    def __init__(self, process: subprocess.Popen, log: Path) -> None:
        self.process = process
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, what: str, check: Callable[[], object], timeout: float = 120.0):
        """Poll `check` until it returns something truthy; fail with the worker's log."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            if self.process.poll() is not None:
                pytest.fail(f"worker exited while waiting for {what}:\n{self.output()[-4000:]}")
            time.sleep(0.25)
        pytest.fail(f"timed out after {timeout}s waiting for {what}:\n{self.output()[-4000:]}")


@pytest.fixture
def celery_worker(transactional_db, settings, tmp_path) -> Worker:
    """Start `celery -A config worker` with the test's database, broker and storage."""
    settings.GREENLIGHT_POLL_INTERVAL = 0.5
    celery_app.control.purge()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.STORAGES["default"]["OPTIONS"]["location"]),
        "ARCHIVE_ROOT": str(settings.STORAGES["archive"]["OPTIONS"]["location"]),
        "GREENLIGHT_PROVIDER_WORK_DIR": str(settings.GREENLIGHT_PROVIDER_WORK_DIR),
        "GREENLIGHT_POLL_INTERVAL": "0.5",
        "STORAGE_BACKEND": "local",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--loglevel=INFO", "--concurrency=2", "--without-gossip",
                "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = Worker(process, log)
    worker.wait_for("the worker to start", lambda: "ready." in worker.output(), timeout=60)
    yield worker
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    # Let nothing the worker left behind reach the next test.
    celery_app.control.purge()
    for line in worker.output().splitlines():
        assert "Traceback" not in line, worker.output()[-4000:]
