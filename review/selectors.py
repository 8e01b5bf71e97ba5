"""Reads for review: the queue and a clip's review with its decisions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from assets.models import Clip
from review.models import Review
from review.services import DECIDING_ROLES


def review_queue(*, user: Any) -> QuerySet[Review]:
    """Open reviews this user may decide, oldest first."""
    qs = Review.objects.filter(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign", "clip__job"
    )
    if not user.is_staff:
        qs = qs.filter(
            clip__variant__brief__campaign__memberships__user=user,
            clip__variant__brief__campaign__memberships__role__in=DECIDING_ROLES,
        )
    return qs.order_by("created_at", "pk")


def recently_decided(*, user: Any, limit: int = 10) -> QuerySet[Review]:
    """The latest closed reviews in the user's campaigns, for the queue page's history."""
    qs = Review.objects.exclude(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign"
    )
    if not user.is_staff:
        qs = qs.filter(clip__variant__brief__campaign__memberships__user=user)
    return qs.order_by("-decided_at", "-pk")[:limit]


def review_for_clip(*, clip: Clip) -> Review | None:
    """The clip's review with its stage and decisions prefetched; None before the clip is ready."""
    return (
        Review.objects.filter(clip=clip)
        .select_related("stage")
        .prefetch_related("decisions__user", "decisions__stage")
        .first()
    )
