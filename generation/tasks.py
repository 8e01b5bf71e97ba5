"""Celery tasks that drive generation jobs. Each takes ids, calls one service, owns nothing else.

Retries, backoff and give-up live in the driver (`generation.jobs`), which schedules the next
message itself with a fresh lease token; these tasks never call `self.retry`.
"""

from __future__ import annotations

import logging
import uuid

from celery import shared_task, signals
from django.conf import settings
from django.db import close_old_connections

from generation import jobs
from generation.models import GenerationJob
from generation.providers import get_provider, internal_provider_classes, provider_classes
from generation.providers.base import ProviderError
from generation.scratch import scratch_sweep

log = logging.getLogger(__name__)
LIMITS = settings.GREENLIGHT_TASK_LIMITS

# Import every provider's module now. A worker imports its task modules before it forks the
# pool, so the pool processes share these imports (about a quarter of a second of CPU:
# httpx, which pulls in rich for its command line, cryptography, the adapters) instead of
# each paying them inside its first job.
provider_classes()
internal_provider_classes()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_connections(sender=None, **_kwargs) -> None:
    # A task is a request to a worker: keep its connections as CONN_MAX_AGE says, and drop one
    # that errored and is unusable. Celery's own per-task close is limited by
    # CELERY_DB_REUSE_MAX (config/settings.py), which would otherwise reconnect every task.
    # An eager task runs inside its caller's transaction, which is not ours to close.
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()


@shared_task(bind=True, soft_time_limit=LIMITS["drive"][0], time_limit=LIMITS["drive"][1])
def drive_job(self, job_id: int, token: str = "") -> None:
    """Advance one job (submit, poll, download) if this message holds its lease."""
    jobs.job_drive(job_id=job_id, token=token, owner=self.request.id or uuid.uuid4().hex)


@shared_task(soft_time_limit=LIMITS["cancel"][0], time_limit=LIMITS["cancel"][1])
def cancel_remote(job_id: int) -> None:
    """Ask the provider to stop a failed job's request; failure to do so is only logged."""
    job = GenerationJob.objects.get(pk=job_id)
    if not job.provider_request_id:
        return
    try:
        outcome = get_provider(job.provider).cancel(jobs._submission(job))
    except ProviderError as exc:
        log.warning("cancel of job %s (%s) failed: %s", job_id, job.provider_request_id, exc)
        return
    log.info("cancel of job %s (%s): %s", job_id, job.provider_request_id, outcome)


@shared_task(soft_time_limit=LIMITS["reconcile"][0], time_limit=LIMITS["reconcile"][1])
def reconcile_jobs() -> dict[str, int]:
    """Re-drive jobs whose driver went quiet and sweep dead workers' scratch; run by beat."""
    counts = jobs.jobs_reconcile()
    counts["scratch_removed"] = scratch_sweep()
    return counts
