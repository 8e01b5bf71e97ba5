"""Reads for campaigns and briefs; `access_*` helpers are the one place that checks who may see
what, and every view goes through them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from generation.models import Brief, Campaign, GenerationJob, Variant


def campaigns_for_user(*, user: Any) -> QuerySet[Campaign]:
    """Campaigns `user` can see: all for staff, otherwise those they are a member of."""
    qs = Campaign.objects.all()
    if not user.is_staff:
        qs = qs.filter(memberships__user=user)
    return qs


def access_campaign(*, user: Any, slug: str) -> Campaign:
    """Fetch a campaign the user may see, or 404 (existence is not revealed)."""
    try:
        return campaigns_for_user(user=user).get(slug=slug)
    except Campaign.DoesNotExist:
        raise Http404("no such campaign") from None


def access_brief(*, user: Any, brief_id: int) -> Brief:
    """Fetch a brief whose campaign the user may see, or 404."""
    qs = Brief.objects.select_related("campaign", "created_by")
    if not user.is_staff:
        qs = qs.filter(campaign__memberships__user=user)
    try:
        return qs.get(pk=brief_id)
    except Brief.DoesNotExist:
        raise Http404("no such brief") from None


def access_variant(*, user: Any, variant_id: int) -> Variant:
    """Fetch a variant whose campaign the user may see, or 404."""
    qs = Variant.objects.select_related("brief__campaign")
    if not user.is_staff:
        qs = qs.filter(brief__campaign__memberships__user=user)
    try:
        return qs.get(pk=variant_id)
    except Variant.DoesNotExist:
        raise Http404("no such variant") from None


def briefs_for_campaign(*, campaign: Campaign) -> QuerySet[Brief]:
    """A campaign's briefs, newest first, each with its variant count."""
    return (
        Brief.objects.filter(campaign=campaign)
        .select_related("created_by")
        .annotate(variant_count=Count("variants"))
    )


def brief_variants(*, brief: Brief) -> list[Variant]:
    """Variants with every job attempt, its clip and the clip's review, in fixed queries.

    The clip and review live in later apps; they are reached by relation name only so this
    module imports nothing from them.
    """
    jobs = GenerationJob.objects.select_related("clip", "clip__review").order_by("attempt")
    variants = list(
        Variant.objects.filter(brief=brief)
        .prefetch_related(Prefetch("jobs", queryset=jobs))
        .order_by("position")
    )
    for variant in variants:
        attempts = list(variant.jobs.all())
        variant.latest_job = attempts[-1] if attempts else None
    return variants


def brief_progress(*, variants: list[Variant]) -> dict[str, int]:
    """Count the latest attempt of each variant (from `brief_variants`) by stage."""
    counts = {"total": len(variants), "active": 0, "ready": 0, "failed": 0}
    for variant in variants:
        latest = variant.latest_job
        if latest is None:
            continue
        if latest.status in GenerationJob.ACTIVE:
            counts["active"] += 1
        elif latest.status == GenerationJob.Status.SUCCEEDED:
            clip = getattr(latest, "clip", None)
            if clip is None or clip.status == "processing":
                counts["active"] += 1
            elif clip.status == "ready":
                counts["ready"] += 1
            else:
                counts["failed"] += 1
        else:
            counts["failed"] += 1
    counts["done"] = counts["total"] - counts["active"]
    return counts
