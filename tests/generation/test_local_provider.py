"""The tools Greenlight's own providers run die with the worker process that ran them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.e2e.conftest import children_of

ROOT = Path(__file__).resolve().parents[2]

# A thread busy importing beside the fork, as the lease heartbeat may be: the child between
# fork and exec must not need the import lock.
SCRIPT = """
import threading, importlib, django
django.setup()
from generation.providers.local import run_tool

def busy():
    while True:
        for name in ("json", "decimal", "email.utils"):
            importlib.reload(importlib.import_module(name))

threading.Thread(target=busy, daemon=True).start()
run_tool(["sleep", "30"], tool="sleep", timeout=60, step="render")
"""


def _alive(pid: int) -> bool:
    """Running: a zombie waiting for whoever adopted it to reap it counts as dead."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_a_tool_dies_with_the_process_that_ran_it_even_beside_a_busy_thread() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 30
        sleepers: list[int] = []
        while not sleepers and time.monotonic() < deadline:
            sleepers = [
                pid
                for pid in children_of(parent.pid)
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"sleep\0")
            ]
            time.sleep(0.05)
        assert sleepers, "the tool never started (a child stuck between fork and exec?)"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _alive(sleepers[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(sleepers[0]), "the tool outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
