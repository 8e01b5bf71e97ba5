"""Scratch space for workers, and the sweep that removes what dead workers left behind.

Worker processes put every temporary file and folder under GREENLIGHT_SCRATCH_DIR (config/
celery.py points `tempfile` there at process start). A task that is killed (SIGKILL, OOM,
the hard time limit) cannot clean up, so the reconciler removes any entry older than the
longest hard time limit: nothing that old can belong to a task still running. Partial
renders (`.*.part`) in the provider work folder are swept by the same rule.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from django.conf import settings


def scratch_root() -> Path:
    root = Path(settings.GREENLIGHT_SCRATCH_DIR)
    root.mkdir(parents=True, exist_ok=True)
    return root


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
            if entry.lstat().st_mtime >= cutoff:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
        except FileNotFoundError:
            continue
    return removed
