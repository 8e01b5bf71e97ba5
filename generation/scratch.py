"""Scratch space for workers, and the sweep that removes what dead workers left behind.

Each worker process puts its temporary files and folders under its own folder,
GREENLIGHT_SCRATCH_DIR/pid-<pid> (config/celery.py points `tempfile` there at process
start). A task that is killed (SIGKILL, OOM, the hard time limit) cannot clean up, so the
reconciler removes the folder of every process that is no longer alive, and any other entry
older than the longest hard time limit (nothing that old can belong to a running task).
Partial renders (`.*.part`) in the provider work folder are swept by the age rule; a new
render of the same request removes them at once.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from django.conf import settings


def scratch_root() -> Path:
    root = Path(settings.GREENLIGHT_SCRATCH_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


def process_scratch() -> Path:
    """This process's own scratch folder."""
    folder = scratch_root() / f"pid-{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _max_age() -> float:
    return max(hard for _soft, hard in settings.GREENLIGHT_TASK_LIMITS.values()) + 60.0


def scratch_sweep(*, now: float | None = None) -> int:
    """Remove scratch entries and partial files older than any task can run; return the count."""
    now = now or time.time()
    cutoff = now - _max_age()
    removed = 0
    candidates = list(scratch_root().iterdir())
    provider_dir = Path(settings.GREENLIGHT_PROVIDER_WORK_DIR)
    if provider_dir.is_dir():
        candidates += list(provider_dir.glob("*/.*.part"))
    for entry in candidates:
        try:
            owner = entry.name.removeprefix("pid-")
            dead_owner = (
                entry.name.startswith("pid-") and owner.isdigit() and not _alive(int(owner))
            )
            if not dead_owner and entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        except FileNotFoundError:
            continue
    return removed
