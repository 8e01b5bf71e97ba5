"""Writes for campaigns, briefs and the creation of generation jobs.

Creating work reserves its estimated cost against the campaign's budget under a row lock on
the campaign. Everything that happens to a job after it is queued (the driver, its
transitions, cancel, webhooks, reconciliation) lives in `generation.jobs`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Max, Sum

from generation.audit import audit_record
from generation.matrix import matrix_expand
from generation.models import Brief, Campaign, GenerationJob, Membership, Variant
from generation.providers import get_provider
from generation.providers.base import (
    GenerationRequest,
)

log = logging.getLogger(__name__)
Status = GenerationJob.Status


class BudgetExceeded(Exception):
    """The estimated cost would take a campaign past its budget."""


class PermissionDenied(Exception):
    """The user's role on the campaign does not allow this action."""


class VersionInProgress(Exception):
    """A variant already has a version being generated; wait for it before asking again."""


# --- Campaigns and briefs ------------------------------------------------------------------


@transaction.atomic
def campaign_create(
    *,
    name: str,
    slug: str,
    description: str = "",
    budget_usd: Decimal | None = None,
    created_by: Any = None,
) -> Campaign:
    """Create a campaign; its creator becomes a creator member."""
    campaign = Campaign.objects.create(
        name=name, slug=slug, description=description, budget_usd=budget_usd, created_by=created_by
    )
    if created_by is not None:
        Membership.objects.create(campaign=campaign, user=created_by, role=Membership.Role.CREATOR)
    audit_record(action="campaign.create", obj=campaign, actor=created_by, name=name)
    return campaign


def membership_set(*, campaign: Campaign, user: Any, role: str) -> Membership:
    """Give `user` exactly one role on `campaign`."""
    membership, _ = Membership.objects.update_or_create(
        campaign=campaign, user=user, defaults={"role": role}
    )
    return membership


def campaign_spend(*, campaign: Campaign) -> Decimal:
    """Return money spent plus money committed by jobs still in flight, in USD.

    A job in flight counts its estimate (reserved when it was queued); a finished job counts
    what it was billed, which replaced the estimate when it finished.
    """
    jobs = GenerationJob.objects.filter(variant__brief__campaign=campaign)
    spent = jobs.exclude(status__in=GenerationJob.ACTIVE).aggregate(
        total=Sum("cost_usd", default=Decimal(0))
    )["total"]
    committed = jobs.filter(status__in=GenerationJob.ACTIVE).aggregate(
        total=Sum("cost_estimate_usd", default=Decimal(0))
    )["total"]
    return spent + committed


def _budget_check(*, campaign: Campaign, extra: Decimal) -> None:
    """Reserve `extra` against the campaign's budget or raise BudgetExceeded.

    Locks the campaign row (call inside the transaction that creates the jobs), so two briefs
    created at once cannot both fit in what only one of them fits in.
    """
    if extra <= 0:
        return
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.budget_usd is None:
        return
    already = campaign_spend(campaign=campaign)
    if already + extra > campaign.budget_usd:
        raise BudgetExceeded(
            f"this needs ${extra:.2f} but {campaign} has ${campaign.budget_usd - already:.2f} "
            f"left of its ${campaign.budget_usd:.2f} budget"
        )


def _request_for(variant: Variant, brief: Brief) -> GenerationRequest:
    return GenerationRequest(
        prompt=variant.prompt,
        script=variant.script,
        shots=tuple(brief.shot_list),
        title=brief.title,
        duration_s=variant.duration_s,
        aspect_ratio=variant.aspect_ratio,
        resolution=variant.resolution,
        language=variant.language,
        model=brief.model,
    )


@dataclass(frozen=True)
class BriefInput:
    title: str
    prompt: str
    script: str
    shots: str
    hooks: list[str]
    aspect_ratios: list[str]
    durations: list[int]
    languages: list[str]
    resolution: str
    provider: str
    model: str = ""


def can_create_brief(*, user: Any, campaign: Campaign) -> bool:
    if user.is_staff:
        return True
    return Membership.objects.filter(
        campaign=campaign, user=user, role=Membership.Role.CREATOR
    ).exists()


@transaction.atomic
def brief_create(*, campaign: Campaign, user: Any, data: BriefInput) -> Brief:
    """Create a brief, expand its axes into variants and queue one job per variant.

    Raises PermissionDenied for users who are not creators on the campaign, MatrixError or
    TemplateError for bad axes or templates, ProviderError for an unknown provider and
    BudgetExceeded when the estimate does not fit the campaign's budget. Nothing is written
    unless everything passes.
    """
    if not can_create_brief(user=user, campaign=campaign):
        raise PermissionDenied(f"{user} may not write briefs for {campaign}")
    provider = get_provider(data.provider)
    model = data.model or (provider.models[0] if provider.models else "")
    specs = matrix_expand(
        title=data.title,
        campaign=campaign.name,
        prompt=data.prompt,
        script=data.script,
        hooks=data.hooks,
        aspect_ratios=data.aspect_ratios,
        durations=data.durations,
        languages=data.languages,
        resolution=data.resolution,
    )
    brief = Brief.objects.create(
        campaign=campaign,
        title=data.title,
        prompt=data.prompt,
        script=data.script,
        shots=data.shots,
        hooks=data.hooks,
        aspect_ratios=data.aspect_ratios,
        durations=data.durations,
        languages=data.languages,
        resolution=data.resolution,
        provider=data.provider,
        model=model,
        created_by=user,
    )
    variants = Variant.objects.bulk_create(
        Variant(
            brief=brief,
            position=s.position,
            hook=s.hook,
            aspect_ratio=s.aspect_ratio,
            duration_s=s.duration_s,
            language=s.language,
            resolution=s.resolution,
            prompt=s.prompt,
            script=s.script,
        )
        for s in specs
    )
    jobs = []
    for variant in variants:
        request = _request_for(variant, brief)
        jobs.append(
            GenerationJob(
                variant=variant,
                attempt=1,
                provider=data.provider,
                model=model,
                request=request.as_dict(),
                cost_estimate_usd=provider.estimate_cost(request),
                requested_by=user,
            )
        )
    _budget_check(campaign=campaign, extra=sum((j.cost_estimate_usd for j in jobs), Decimal(0)))
    jobs = GenerationJob.objects.bulk_create(jobs)
    audit_record(
        action="brief.create", obj=brief, actor=user, variants=len(variants), provider=data.provider
    )
    for job in jobs:
        _enqueue_submit(job.pk)
    return brief


def _enqueue_submit(job_id: int) -> None:
    from generation.tasks import drive_job

    # The first message of a job carries the empty token (generation/leases.py).
    transaction.on_commit(partial(drive_job.delay, job_id, ""))


@transaction.atomic
def job_create(*, variant: Variant, requested_by: Any = None, notes: str = "") -> GenerationJob:
    """Queue a new attempt (the next version) of `variant`; the previous one is left as is.

    Locks the variant row so two requests cannot both take the next attempt number. Raises
    VersionInProgress while an earlier attempt is still active and BudgetExceeded when the
    estimate does not fit the campaign's budget.
    """
    brief = variant.brief
    Variant.objects.select_for_update().get(pk=variant.pk)
    active = variant.jobs.filter(status__in=GenerationJob.ACTIVE).order_by("attempt").first()
    if active is not None:
        raise VersionInProgress(f"version {active.attempt} of this variant is still in progress")
    last = variant.jobs.aggregate(n=Max("attempt"))["n"] or 0
    provider = get_provider(brief.provider)
    request = _request_for(variant, brief)
    estimate = provider.estimate_cost(request)
    _budget_check(campaign=brief.campaign, extra=estimate)
    job = GenerationJob.objects.create(
        variant=variant,
        attempt=last + 1,
        provider=brief.provider,
        model=brief.model,
        request=request.as_dict(),
        cost_estimate_usd=estimate,
        requested_by=requested_by,
        notes=notes,
    )
    audit_record(action="job.create", obj=job, actor=requested_by, attempt=job.attempt)
    _enqueue_submit(job.pk)
    return job
