"""A real Celery worker process, pointed at the test database and this test's storage."""

from __future__ import annotations

import contextlib
import os
import shutil
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

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def browser(monkeypatch):
    """Headless Chromium (the system's, never a downloaded build) through Playwright."""
    # Playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are plain synchronous calls, so Django's guard is lifted here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "chromium is required for the browser tests"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
        self.killed = False

    def kill(self) -> None:
        """SIGKILL the worker's main process and its pool processes, as the OOM killer or a
        lost container would. Their own children (ffmpeg, espeak-ng) are not signalled: the
        project must make them die with their parent."""
        self.killed = True
        pool = children_of(self.process.pid)
        for pid in [self.process.pid, *pool]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """End a worker whose test is over: its whole process group (pool, ffmpeg) is killed
        at once. A warm shutdown of even an idle worker takes 4-5 s (the consumer finishes its
        2 s broker drain, then the pool is joined), a cost every end-to-end test would pay in
        each pass of the suite; what a lost worker leaves behind is tested where it is the
        subject (`kill`)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

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


def children_of(pid: int) -> list[int]:
    """Process ids whose parent is `pid`, read from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def processes_mentioning(text: str) -> list[int]:
    """Process ids whose command line contains `text` (e.g. this test's media folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text in cmdline.read_bytes().decode(errors="replace"):
                found.append(int(cmdline.parent.name))
        except OSError:
            continue
    return found


@pytest.fixture
def worker_factory(transactional_db, settings, tmp_path) -> Callable[..., Worker]:
    """Start `celery -A config worker` processes with the test's database, broker and storage.

    Each call starts one more (extra environment variables override the defaults); all are
    stopped at the end of the test, and none may have logged a traceback.
    """
    settings.GREENLIGHT_POLL_INTERVAL = 0.5
    celery_app.control.purge()
    started: list[Worker] = []

    def start(**extra_env: str) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
            "MEDIA_ROOT": str(settings.STORAGES["default"]["OPTIONS"]["location"]),
            "ARCHIVE_ROOT": str(settings.STORAGES["archive"]["OPTIONS"]["location"]),
            "GREENLIGHT_PROVIDER_WORK_DIR": str(settings.GREENLIGHT_PROVIDER_WORK_DIR),
            "GREENLIGHT_SCRATCH_DIR": str(settings.GREENLIGHT_SCRATCH_DIR),
            "GREENLIGHT_POLL_INTERVAL": "0.5",
            "STORAGE_BACKEND": "local",
            "PYTHONUNBUFFERED": "1",
            **extra_env,
        }
        log = tmp_path / f"worker-{len(started) + 1}.log"
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
        started.append(worker)
        worker.wait_for("the worker to start", lambda: "ready." in worker.output(), timeout=60)
        return worker

    yield start
    for worker in started:
        worker.stop()
    # Let nothing the workers left behind reach the next test.
    celery_app.control.purge()
    for worker in started:
        if worker.killed:
            continue
        for line in worker.output().splitlines():
            assert "Traceback" not in line, worker.output()[-4000:]


@pytest.fixture
def celery_worker(worker_factory) -> Worker:
    """One real worker, started for the test."""
    return worker_factory()
