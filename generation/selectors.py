"""Reads for campaigns and briefs; `access_*` helpers are the one place that checks who may see
what, and every view goes through them."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Prefetch, QuerySet
from django.http import Http404

from generation.models import Brief, Campaign, GenerationJob, Variant


def visible_to(
    qs: QuerySet, *, user: Any, campaign: str = "", roles: tuple[str, ...] = ()
) -> QuerySet:
    """Narrow `qs` to rows in campaigns the user belongs to.

    The one place Greenlight's visibility rule is written. `campaign` is the lookup path from
    the queryset's model to its Campaign ("" for campaigns themselves, "brief__campaign" for
    variants…); `roles` further requires one of those membership roles. Both conditions go in
    one `filter()` so they apply to the same membership row. Staff and superuser flags are
    not campaign roles: they open the admin (by model permissions), not campaigns.
    """
    if not user.is_authenticated:
        return qs.none()
    prefix = f"{campaign}__" if campaign else ""
    lookups: dict[str, Any] = {f"{prefix}memberships__user": user}
    if roles:
        lookups[f"{prefix}memberships__role__in"] = roles
    return qs.filter(**lookups)


def get_or_404(qs: QuerySet, what: str, **lookup: Any) -> Any:
    """Fetch one row or raise Http404 naming `what` (never 403: existence is not revealed)."""
    try:
        return qs.get(**lookup)
    except qs.model.DoesNotExist:
        raise Http404(f"no such {what}") from None


def campaigns_for_user(*, user: Any) -> QuerySet[Campaign]:
    """Campaigns `user` is a member of."""
    return visible_to(Campaign.objects.all(), user=user)


def access_campaign(*, user: Any, slug: str) -> Campaign:
    """Fetch a campaign the user may see, or 404."""
    return get_or_404(campaigns_for_user(user=user), "campaign", slug=slug)


def access_brief(*, user: Any, brief_id: int) -> Brief:
    """Fetch a brief whose campaign the user may see, or 404."""
    qs = Brief.objects.select_related("campaign", "created_by")
    return get_or_404(visible_to(qs, user=user, campaign="campaign"), "brief", pk=brief_id)


def access_variant(*, user: Any, variant_id: int) -> Variant:
    """Fetch a variant whose campaign the user may see, or 404."""
    qs = Variant.objects.select_related("brief__campaign")
    return get_or_404(
        visible_to(qs, user=user, campaign="brief__campaign"), "variant", pk=variant_id
    )


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
