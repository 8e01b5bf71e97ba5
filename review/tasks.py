"""Celery tasks for review: the archive copy after approval, and its reconciliation."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings

from generation.audit import audit_record
from generation.leases import lease_run, work_reconcile
from generation.models import Lease
from review import services
from review.models import Review

LIMITS = settings.GREENLIGHT_TASK_LIMITS
ARCHIVE = Lease.Kind.ARCHIVE


def _archive_failed(review_id: int, reason: str) -> None:
    # The approval stands (it is a person's decision); the copy is what failed. Ops see the
    # given-up lease in the admin and can re-drive it once the storage is fixed.
    review = Review.objects.filter(pk=review_id).first()
    if review is not None:
        audit_record(action="review.archive_failed", obj=review, reason=reason)


@shared_task(bind=True, soft_time_limit=LIMITS["archive"][0], time_limit=LIMITS["archive"][1])
def archive_review(self, review_id: int, token: str = "") -> None:
    """Archive an approved clip, if this message drives it; a copy that fails is retried."""
    lease_run(
        kind=ARCHIVE,
        object_id=review_id,
        token=token,
        owner=self.request.id or uuid.uuid4().hex,
        work=lambda: services.review_archive(review_id=review_id),
        reschedule=lambda next_token, countdown: archive_review.apply_async(
            (review_id, next_token), countdown=countdown
        ),
        give_up=lambda reason: _archive_failed(review_id, reason),
    )


@shared_task(soft_time_limit=LIMITS["reconcile"][0], time_limit=LIMITS["reconcile"][1])
def reconcile_reviews() -> dict[str, int]:
    """Re-drive archive copies whose worker or message was lost; give up past the budget."""
    return work_reconcile(
        kind=ARCHIVE,
        pending=Review.objects.filter(status=Review.Status.APPROVED, decided_at__isnull=False),
        send=lambda review_id, token: archive_review.delay(review_id, token),
        give_up=_archive_failed,
        deadline_s=settings.GREENLIGHT_ARCHIVE_DEADLINE,
        created_field="decided_at",
    )
