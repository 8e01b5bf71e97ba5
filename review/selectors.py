"""Reads for review: the queue and a clip's review with its decisions."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from assets.models import Clip
from assets.selectors import CLIP_CAMPAIGN
from generation.selectors import visible_to
from review.models import Review
from review.services import DECIDING_ROLES

REVIEW_CAMPAIGN = f"clip__{CLIP_CAMPAIGN}"


def review_queue(*, user: Any) -> QuerySet[Review]:
    """Open reviews this user may decide, oldest first."""
    qs = Review.objects.filter(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign", "clip__job"
    )
    qs = visible_to(qs, user=user, campaign=REVIEW_CAMPAIGN, roles=DECIDING_ROLES)
    return qs.order_by("created_at", "pk")


def recently_decided(*, user: Any, limit: int = 10) -> QuerySet[Review]:
    """The latest closed reviews in the user's campaigns, for the queue page's history."""
    qs = Review.objects.exclude(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign"
    )
    qs = visible_to(qs, user=user, campaign=REVIEW_CAMPAIGN)
    return qs.order_by("-decided_at", "-pk")[:limit]


def review_for_clip(*, clip: Clip) -> Review | None:
    """The clip's review with its stage and decisions prefetched; None before the clip is ready."""
    return (
        Review.objects.filter(clip=clip)
        .select_related("stage")
        .prefetch_related("decisions__user", "decisions__stage")
        .first()
    )
