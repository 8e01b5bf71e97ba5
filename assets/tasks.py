"""Celery tasks for media: ingest and its reconciliation."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assets import services
from assets.models import Clip


@shared_task(soft_time_limit=540, time_limit=600)
def ingest_clip(clip_id: int) -> None:
    """Probe, fix for streaming, poster and hash one clip."""
    services.clip_ingest(clip_id=clip_id)


@shared_task(soft_time_limit=60, time_limit=90)
def reconcile_clips() -> int:
    """Re-queue ingest for clips stuck in processing (their message was lost)."""
    cutoff = timezone.now() - timedelta(seconds=settings.GREENLIGHT_STALE_AFTER)
    stuck = Clip.objects.filter(status=Clip.Status.PROCESSING, updated_at__lt=cutoff)
    ids = list(stuck.values_list("pk", flat=True))
    for clip_id in ids:
        ingest_clip.delay(clip_id)
    return len(ids)
