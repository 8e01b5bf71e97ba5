"""Celery tasks for review: the archive copy after approval, and its reconciliation."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assets.services import ArchiveError
from review import services
from review.models import Review


@shared_task(bind=True, max_retries=5, soft_time_limit=540, time_limit=600)
def archive_review(self, review_id: int) -> None:
    """Archive an approved clip; a copy that does not verify is retried."""
    try:
        services.review_archive(review_id=review_id)
    except ArchiveError as exc:
        raise self.retry(exc=exc, countdown=30 * (self.request.retries + 1)) from exc


@shared_task(soft_time_limit=60, time_limit=90)
def reconcile_reviews() -> int:
    """Re-queue the archive copy for approved reviews whose message was lost."""
    cutoff = timezone.now() - timedelta(seconds=settings.GREENLIGHT_STALE_AFTER)
    stuck = Review.objects.filter(status=Review.Status.APPROVED, decided_at__lt=cutoff)
    ids = list(stuck.values_list("pk", flat=True))
    for review_id in ids:
        archive_review.delay(review_id)
    return len(ids)
