"""Celery tasks for review: the archive copy after approval, and its reconciliation."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from assets.services import ArchiveError
from review import notifications, services
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


# --- notifications ----------------------------------------------------------------------------
# Imported late by review.notifications, which queues these after the change commits.


@shared_task(bind=True, max_retries=5, soft_time_limit=60, time_limit=90)
def send_notification(self, notification_id: int) -> int:
    """Email one notification; a refused send is retried (and by `retry_notifications`)."""
    try:
        return notifications.notification_send(notification_id=notification_id)
    except notifications.SendFailed as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task(bind=True, max_retries=5, soft_time_limit=60, time_limit=90)
def send_digest(self, user_id: int) -> int:
    """Email a user's pending digest as one message."""
    try:
        return notifications.digest_send(user_id=user_id)
    except notifications.SendFailed as exc:
        raise self.retry(exc=exc, countdown=30 * 2**self.request.retries) from exc


@shared_task(soft_time_limit=120, time_limit=150)
def remind_due_reviews() -> int:
    """Remind deciders before a stage's due time and once it is overdue (beat)."""
    return notifications.reminders_send()


@shared_task(soft_time_limit=60, time_limit=90)
def retry_notifications() -> int:
    """Queue again every email that failed or whose message was lost (beat)."""
    return notifications.notifications_retry()
