"""Celery tasks that drive generation jobs. Each takes ids, calls one service, owns retries."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from generation import services
from generation.providers import get_provider
from generation.providers.base import ProviderError, RateLimited, Submission, TransientError

log = logging.getLogger(__name__)

MAX_TRANSIENT_RETRIES = 8


def _backoff(task, exc: TransientError) -> float:
    if isinstance(exc, RateLimited) and exc.retry_after:
        return min(float(exc.retry_after), 600.0)
    return min(2.0**task.request.retries * 2, 300.0)


def _retry_or_fail(task, exc: TransientError, job_id: int):
    if task.request.retries >= MAX_TRANSIENT_RETRIES:
        services.job_mark_failed(
            job_id=job_id,
            error=f"gave up after {task.request.retries} retries: {exc}",
            code=exc.code or "transient_exhausted",
        )
        return None
    raise task.retry(exc=exc, countdown=_backoff(task, exc))


@shared_task(bind=True, max_retries=MAX_TRANSIENT_RETRIES, soft_time_limit=240, time_limit=300)
def submit_job(self, job_id: int) -> None:
    """Submit a queued job to its provider, then start polling it."""
    try:
        step = services.job_submit(job_id=job_id)
    except TransientError as exc:
        return _retry_or_fail(self, exc, job_id)
    if step == "poll":
        poll_job.apply_async((job_id,), countdown=0)


@shared_task(bind=True, max_retries=None, soft_time_limit=60, time_limit=90)
def poll_job(self, job_id: int) -> None:
    """Ask the provider once; schedule the next poll or the download."""
    try:
        step = services.job_poll(job_id=job_id)
    except TransientError as exc:
        # A retry, not a fresh send, so the wait grows while the provider stays unwell.
        raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc
    if step == "poll":
        poll_job.apply_async((job_id,), countdown=settings.GREENLIGHT_POLL_INTERVAL)
    elif step == "download":
        download_job.delay(job_id)


@shared_task(bind=True, max_retries=MAX_TRANSIENT_RETRIES, soft_time_limit=540, time_limit=600)
def download_job(self, job_id: int) -> None:
    """Fetch a finished job's video into storage."""
    try:
        services.job_download(job_id=job_id)
    except TransientError as exc:
        return _retry_or_fail(self, exc, job_id)


@shared_task(bind=True, max_retries=5, soft_time_limit=30, time_limit=60)
def cancel_remote(self, provider: str, request_id: str) -> None:
    """Ask a provider to stop a request; a provider that cannot is logged, not retried."""
    try:
        get_provider(provider).cancel(Submission(request_id=request_id))
    except TransientError as exc:
        raise self.retry(exc=exc, countdown=_backoff(self, exc)) from exc
    except ProviderError as exc:
        log.warning("cancel of %s request %s failed: %s", provider, request_id, exc)


@shared_task(soft_time_limit=60, time_limit=90)
def reconcile_jobs() -> dict[str, int]:
    """Re-drive jobs whose last step was lost; run by beat."""
    return services.jobs_reconcile()
