"""Reads for campaigns and briefs; `access_*` helpers are the one place that checks who may see
what, and every view goes through them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import Http404

from generation.models import Brief, Campaign, GenerationJob, Variant
from generation.providers.base import RequestRejected
from generation.providers.capabilities import spec_for


def visible_to(
    qs: QuerySet, *, user: Any, campaign: str = "", roles: tuple[str, ...] = ()
) -> QuerySet:
    """Narrow `qs` to rows in campaigns the user belongs to.

    The one place Greenlight's visibility rule is written. `campaign` is the lookup path from
    the queryset's model to its Campaign ("" for campaigns themselves, "brief__campaign" for
    variants…); `roles` further requires one of those membership roles. Both conditions go in
    one `filter()` so they apply to the same membership row. Staff and superuser flags are
    not campaign roles: they open the admin (by model permissions), not campaigns.
    One hot path restates it in SQL: `review.reads.review_to_decide` (the approval's locked
    read) joins the same membership row; tests/review/test_reads.py holds the two together.
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
    """A campaign's brief ids, newest first: what its page counts and pages through.

    Newest by id (ids grow with `created_at`), so the index on the campaign column gives the
    order and a page is read without sorting every brief of the campaign.
    """
    return Brief.objects.filter(campaign=campaign).order_by("-pk").values_list("pk", flat=True)


def brief_rows(*, ids: list[int]) -> list[Brief]:
    """One page of briefs, in the order of `ids`, with author and variant count."""
    # A count per row, not a GROUP BY over every column of the brief and its author.
    counts = (
        Variant.objects.filter(brief=OuterRef("pk"))
        .order_by()
        .values("brief")
        .annotate(n=Count("pk"))
        .values("n")
    )
    rows = (
        Brief.objects.filter(pk__in=ids)
        .select_related("created_by")
        .annotate(variant_count=Coalesce(Subquery(counts), 0))
        # The list shows these; the brief's JSON (axes, scripts, shots…) is not decoded.
        .only(
            "campaign_id",
            "title",
            "status",
            "provider",
            "model",
            "created_at",
            "created_by__username",
        )
    )
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def brief_variant_ids(*, brief: Brief) -> QuerySet[Variant]:
    """The brief's variant ids in position order: what its page counts and pages through."""
    return Variant.objects.filter(brief=brief).order_by("position").values_list("pk", flat=True)


def brief_variants(*, brief: Brief, ids: list[int] | None = None) -> list[Variant]:
    """Variants (those of `ids`, else all) with every job attempt, its clip and the clip's
    review, in fixed queries; each carries `latest_job`.

    The clip and review live in later apps; they are reached by relation name only so this
    module imports nothing from them.
    """
    jobs = GenerationJob.objects.select_related("clip", "clip__review").order_by("attempt")
    qs = Variant.objects.filter(brief=brief)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    variants = list(qs.prefetch_related(Prefetch("jobs", queryset=jobs)).order_by("position"))
    for variant in variants:
        attempts = list(variant.jobs.all())
        variant.latest_job = attempts[-1] if attempts else None
    return variants


def variant_language_links(*, variants: list[Variant], per_page: int) -> None:
    """Set `localized_from` (the source variant) and `language_versions` on each variant, in
    two queries whatever the page: a source or a language version may sit on another page, so
    each linked variant (a light row) carries `page_number`, its page of the brief's variants
    in position order (`per_page` a page), counted in SQL.
    """
    job_ids = [job.pk for v in variants for job in v.jobs.all()]
    source_ids = [v.source_job_id for v in variants if v.source_job_id]
    before = (
        Variant.objects.filter(brief_id=OuterRef("brief_id"), position__lt=OuterRef("position"))
        .order_by()
        .values("brief_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    light = Variant.objects.only("pk", "brief_id", "position", "language", "source_job_id")
    light = light.annotate(rank=Coalesce(Subquery(before), 0))
    versions = light.filter(source_job_id__in=job_ids).order_by("position")
    sources = {
        v.source_of: v for v in light.filter(jobs__in=source_ids).annotate(source_of=F("jobs__pk"))
    }
    by_job: dict[int, list[Variant]] = {}
    for version in versions:
        by_job.setdefault(version.source_job_id, []).append(version)
    for linked in [*sources.values(), *(v for vs in by_job.values() for v in vs)]:
        linked.page_number = linked.rank // per_page + 1
    for variant in variants:
        variant.localized_from = sources.get(variant.source_job_id)
        variant.language_versions = [
            version for job in variant.jobs.all() for version in by_job.get(job.pk, [])
        ]


def brief_progress(*, brief: Brief) -> dict[str, int]:
    """Count the brief's variants by where their latest attempt stands, in SQL (two queries
    whatever the number of variants): active (generating, or its clip still analysing),
    ready, failed (the job or its clip), done (everything not active)."""
    later = GenerationJob.objects.filter(
        variant_id=OuterRef("variant_id"), attempt__gt=OuterRef("attempt")
    )
    latest = GenerationJob.objects.filter(variant__brief=brief).exclude(Exists(later))
    succeeded = Q(status=GenerationJob.Status.SUCCEEDED)
    active = Q(status__in=GenerationJob.ACTIVE) | (
        succeeded & (Q(clip__isnull=True) | Q(clip__status="processing"))
    )
    counts = latest.aggregate(
        jobs=Count("pk"),
        active=Count("pk", filter=active),
        ready=Count("pk", filter=succeeded & Q(clip__status="ready")),
    )
    total = Variant.objects.filter(brief=brief).count()
    return {
        "total": total,
        "active": counts["active"],
        "ready": counts["ready"],
        "failed": counts["jobs"] - counts["active"] - counts["ready"],
        "done": total - counts["active"],
    }


def brief_spend(*, brief: Brief) -> dict[str, Decimal]:
    """What the brief's jobs (every version) were billed, and what those still in flight have
    reserved, in one query: the campaign's spend rule (services.campaign_spend) for one brief."""
    active = Q(status__in=GenerationJob.ACTIVE)
    return GenerationJob.objects.filter(variant__brief=brief).aggregate(
        spent=Sum("cost_usd", filter=~active, default=Decimal(0)),
        committed=Sum("cost_estimate_usd", filter=active, default=Decimal(0)),
    )


def model_label(*, provider: str, model: str) -> str:
    """The registry's name for a brief's model ("HappyHorse 1.0 text-to-video (fal)"); a model
    the registry no longer lists shows as stored."""
    try:
        return spec_for(provider, model).label
    except RequestRejected:
        return f"{provider} / {model}" if model else provider
