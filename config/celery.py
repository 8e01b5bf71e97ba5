"""The Celery application; tasks are found in each app's tasks module."""

from __future__ import annotations

import os
import tempfile

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("greenlight")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def _scratch_in_var(**_kwargs) -> None:
    # Temporary files of a killed task stay behind; keeping them all in one folder lets the
    # reconciler sweep them (generation/scratch.py) without touching anything else in /tmp.
    from generation.scratch import scratch_root

    tempfile.tempdir = str(scratch_root())
