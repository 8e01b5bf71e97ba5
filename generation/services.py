"""Writes for campaigns, briefs and the creation of generation jobs.

Creating work reserves its estimated cost against the campaign's budget under a row lock on
the campaign. Everything that happens to a job after it is queued (the driver, its
transitions, cancel, webhooks, reconciliation) lives in `generation.jobs`.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from generation.audit import audit_record
from generation.jobs import job_send_drive
from generation.matrix import (
    LANGUAGE_NAMES,
    Axis,
    Cell,
    VariantSpec,
    matrix_cells,
    matrix_expand,
    matrix_split_shots,
)
from generation.models import (
    Brief,
    Campaign,
    GenerationJob,
    Membership,
    ReferenceImage,
    Variant,
)
from generation.providers import get_provider
from generation.providers.base import (
    GenerationRequest,
    ProviderError,
    RequestRejected,
)
from generation.providers.capabilities import ModelSpec, spec_for
from generation.references import CleanImage, ReferenceRejected, reference_limit

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
    active = Q(status__in=GenerationJob.ACTIVE)
    # One pass over the campaign's jobs, as selectors.brief_spend does for a brief: the sum
    # runs under the campaign's row lock when a budget is checked.
    totals = GenerationJob.objects.filter(variant__brief__campaign=campaign).aggregate(
        spent=Sum("cost_usd", filter=~active, default=Decimal(0)),
        committed=Sum("cost_estimate_usd", filter=active, default=Decimal(0)),
    )
    return totals["spent"] + totals["committed"]


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


def _request_for(
    variant: Variant, brief: Brief, *, seed: int | None = None, image_url: str = ""
) -> GenerationRequest:
    return GenerationRequest(
        prompt=variant.prompt,
        script=variant.script,
        shots=tuple(variant.shot_list),
        title=brief.title,
        duration_s=variant.duration_s,
        aspect_ratio=variant.aspect_ratio,
        resolution=variant.resolution,
        language=variant.language,
        model=brief.model,
        seed=variant.seed if seed is None else seed,
        image_url=image_url or _reference_url(variant, brief),
    )


def _reference_url(variant: Variant | None, brief: Brief) -> str:
    """The absolute URL of the variant's own reference image, else the brief's first one."""
    scope = (
        Q(variant__isnull=True) if variant is None else Q(variant=variant) | Q(variant__isnull=True)
    )
    reference = (
        ReferenceImage.objects.filter(brief=brief)
        .filter(scope)
        .order_by(F("variant").desc(nulls_last=True), "pk")
        .first()
    )
    if reference is None:
        return ""
    url = reference.image.url
    if url.startswith("/"):
        url = settings.GREENLIGHT_BASE_URL.rstrip("/") + url
    return url


def _new_seed() -> int:
    return secrets.randbelow(2**31 - 1) + 1


@dataclass(frozen=True)
class BriefInput:
    """What a brief says. `scripts` holds one voice-over per language; `script` stands in for a
    language without one. `hooks` is the classic single axis (an axis named "hook")."""

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
    axes: tuple[Axis, ...] = ()
    scripts: dict[str, str] = field(default_factory=dict)
    excluded_cells: tuple[str, ...] = ()
    multi_shot: bool = False


class BriefNotReady(Exception):
    """A brief cannot be launched as it stands (not a draft, a language without a script…)."""


@dataclass(frozen=True)
class BriefPlan:
    """What launching a brief would make: every cell, the chosen variants, their cost."""

    cells: list[tuple[Cell, bool]]
    specs: list[VariantSpec]
    total_cells: int
    cap: int
    estimate_usd: Decimal
    per_model: list[tuple[str, int, Decimal]]
    samples: list[VariantSpec]
    missing_scripts: list[str]
    problems: list[str]

    @property
    def count(self) -> int:
        return len(self.specs)

    @property
    def over_cap(self) -> bool:
        return self.count > self.cap

    @property
    def excess(self) -> int:
        return max(0, self.count - self.cap)

    @property
    def missing_script_names(self) -> list[str]:
        return [LANGUAGE_NAMES.get(code, code) for code in self.missing_scripts]


def can_create_brief(*, user: Any, campaign: Campaign) -> bool:
    """Creators of the campaign write briefs; staff status is not a campaign role."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        campaign=campaign, user=user, role=Membership.Role.CREATOR
    ).exists()


def _brief_axes(data: BriefInput) -> tuple[Axis, ...]:
    axes = tuple(data.axes)
    if data.hooks and not any(a.name == "hook" for a in axes):
        axes = (Axis(name="hook", values=tuple(data.hooks)), *axes)
    return axes


def _model_for(provider_name: str, model: str) -> tuple[Any, ModelSpec]:
    provider = get_provider(provider_name)
    model = model or (provider.models[0] if provider.models else "")
    return provider, spec_for(provider_name, model)


def _spec_problems(spec: ModelSpec, brief: Brief, *, has_image: bool) -> list[str]:
    """Every limit of the model the brief's axes break, each named once."""
    found: list[str] = []
    for duration in brief.durations:
        for aspect in brief.aspect_ratios:
            for language in brief.languages:
                request = GenerationRequest(
                    prompt=brief.prompt,
                    duration_s=int(duration),
                    aspect_ratio=aspect,
                    resolution=brief.resolution,
                    language=language,
                    image_url="reference" if has_image else "",
                    model=spec.model,
                )
                found += [p for p in spec.problems(request) if p not in found]
    return found


@transaction.atomic
def brief_draft_save(
    *,
    campaign: Campaign,
    user: Any,
    data: BriefInput,
    brief: Brief | None = None,
    references: Sequence[CleanImage] = (),
) -> Brief:
    """Create a draft brief, or replace what an existing draft says; nothing is generated.

    `references` are images already validated and re-encoded (`generation.references`); they
    are added to the brief's. Raises PermissionDenied for users who are not creators on the
    campaign, BriefNotReady for a brief already launched, ProviderError for an unknown
    provider or model or a request the model cannot serve (reference images included),
    MatrixError or TemplateError for bad axes or templates, and ReferenceRejected for more
    images than the model takes.
    """
    if not can_create_brief(user=user, campaign=campaign):
        raise PermissionDenied(f"{user} may not write briefs for {campaign}")
    _provider, spec = _model_for(data.provider, data.model)
    axes = _brief_axes(data)
    matrix_expand(
        title=data.title,
        campaign=campaign.name,
        prompt=data.prompt,
        script=data.script,
        scripts=data.scripts,
        axes=axes,
        aspect_ratios=data.aspect_ratios,
        durations=data.durations,
        languages=data.languages,
        resolution=data.resolution,
        cap=settings.GREENLIGHT_BRIEF_MAX_CELLS,
        max_cells=settings.GREENLIGHT_BRIEF_MAX_CELLS,
    )
    fields = {
        "title": data.title,
        "prompt": data.prompt,
        "script": data.script,
        "scripts": {lang: text for lang, text in data.scripts.items() if text.strip()},
        "shots": data.shots,
        "axes": [{"name": a.name, "values": list(a.values)} for a in axes],
        "hooks": [],
        "aspect_ratios": list(data.aspect_ratios),
        "durations": [int(d) for d in data.durations],
        "languages": list(data.languages),
        "excluded_cells": list(data.excluded_cells),
        "multi_shot": data.multi_shot,
        "resolution": data.resolution,
        "provider": data.provider,
        "model": spec.model,
        # What an approver approved is what launches: any change needs approving again.
        "approved_by": None,
        "approved_at": None,
    }
    if brief is None:
        brief = Brief.objects.create(campaign=campaign, created_by=user, **fields)
        action = "brief.create"
    else:
        brief = Brief.objects.select_for_update().get(pk=brief.pk)
        if not brief.is_draft:
            raise BriefNotReady("this brief is launched; its variants can no longer change")
        for name, value in fields.items():
            setattr(brief, name, value)
        brief.save()
        action = "brief.update"
    stored: list[str] = []
    try:
        for image in references:
            stored.append(_reference_store(brief=brief, image=image, spec=spec, user=user))
        problems = _spec_problems(spec, brief, has_image=brief.references.exists())
        if problems:
            raise RequestRejected("; ".join(problems), code="unsupported_request")
    except Exception:
        # The rows roll back with the transaction; the files must go with them.
        for name in stored:
            default_storage.delete(name)
        raise
    audit_record(action=action, obj=brief, actor=user, provider=data.provider, model=spec.model)
    return brief


def _reference_store(
    *, brief: Brief, image: CleanImage, spec: ModelSpec, user: Any, variant: Variant | None = None
) -> str:
    limit = reference_limit(spec)
    if not limit:
        raise ReferenceRejected(f"{spec.label} does not take reference images")
    if variant is not None:
        # A variant's new image replaces its earlier one; the file stays, because the requests
        # of its earlier versions still name it.
        brief.references.filter(variant=variant).delete()
    elif brief.references.filter(variant__isnull=True).count() >= limit:
        raise ReferenceRejected(f"{spec.label} takes at most {limit} reference image(s)")
    name = default_storage.save(
        f"references/{brief.pk}/{uuid.uuid4().hex}.{image.extension}",
        ContentFile(image.content),
    )
    reference = ReferenceImage.objects.create(
        brief=brief,
        image=name,
        format=image.format,
        width=image.width,
        height=image.height,
        bytes=len(image.content),
        sha256=image.sha256,
        original_name=image.original_name[:255],
        uploaded_by=user,
        variant=variant,
    )
    audit_record(action="reference.add", obj=reference, actor=user, sha256=image.sha256)
    return name


def brief_plan(*, brief: Brief, exclude: list[str] | None = None) -> BriefPlan:
    """Work out what launching `brief` would make and cost, without writing anything.

    `exclude` overrides the brief's stored unticked cells. Raises MatrixError or TemplateError
    when the brief's axes or templates are bad (a draft saved through the service never is).
    """
    excluded = set(brief.excluded_cells if exclude is None else exclude)
    axes = brief.axis_list
    cap = settings.GREENLIGHT_BRIEF_MAX_VARIANTS
    specs = (
        matrix_expand(
            title=brief.title,
            campaign=brief.campaign.name,
            prompt=brief.prompt,
            script=brief.script,
            scripts=brief.scripts,
            axes=axes,
            aspect_ratios=brief.aspect_ratios,
            durations=brief.durations,
            languages=brief.languages,
            resolution=brief.resolution,
            exclude=excluded,
            cap=settings.GREENLIGHT_BRIEF_MAX_CELLS,
            max_cells=settings.GREENLIGHT_BRIEF_MAX_CELLS,
        )
        if _any_chosen(brief, axes, excluded)
        else []
    )
    if brief.multi_shot:
        specs = matrix_split_shots(specs, brief.shot_list)
    cells = [
        (cell, cell.key not in excluded)
        for cell in matrix_cells(
            axes=axes,
            aspect_ratios=brief.aspect_ratios,
            durations=brief.durations,
            languages=brief.languages,
        )
    ]
    provider, spec = _model_for(brief.provider, brief.model)
    estimate = Decimal(0)
    for s in specs:
        estimate += spec.cost(duration_s=s.duration_s, resolution=s.resolution, audio=True)
    samples: list[VariantSpec] = []
    for language in brief.languages:
        samples += [s for s in specs if s.language == language][:2]
    missing = [lang for lang in brief.languages if not brief.script_for(lang).strip()]
    problems = _spec_problems(spec, brief, has_image=brief.references.exists())
    return BriefPlan(
        cells=cells,
        specs=specs,
        total_cells=len(cells),
        cap=cap,
        estimate_usd=estimate,
        per_model=[(spec.label, len(specs), estimate)] if specs else [],
        samples=samples,
        missing_scripts=missing,
        problems=problems,
    )


def _any_chosen(brief: Brief, axes, excluded: set[str]) -> bool:
    cells = matrix_cells(
        axes=axes,
        aspect_ratios=brief.aspect_ratios,
        durations=brief.durations,
        languages=brief.languages,
    )
    return any(cell.key not in excluded for cell in cells)


@transaction.atomic
def brief_launch(*, brief: Brief, user: Any, exclude: list[str] | None = None) -> Brief:
    """Turn a draft into variants and queue one job per chosen variant.

    Locks the brief row, so a double click launches once. `exclude` (cell keys) replaces
    the brief's stored unticked cells. Raises PermissionDenied, BriefNotReady (launched
    already, nothing chosen, a language without a script, past the per-brief cap),
    ProviderError for a request the model cannot serve and BudgetExceeded when the estimate
    does not fit the campaign's budget. Nothing is written unless everything passes.
    """
    campaign = brief.campaign
    if not can_create_brief(user=user, campaign=campaign):
        raise PermissionDenied(f"{user} may not launch briefs for {campaign}")
    brief = Brief.objects.select_for_update().get(pk=brief.pk)
    if not brief.is_draft:
        raise BriefNotReady("this brief is already launched")
    if brief.awaits_approval:
        raise BriefNotReady(
            f"{campaign} launches only approved briefs: an approver must approve this one first"
        )
    if exclude is not None:
        brief.excluded_cells = list(exclude)
    plan = brief_plan(brief=brief)
    if plan.missing_scripts:
        names = ", ".join(LANGUAGE_NAMES.get(c, c) for c in plan.missing_scripts)
        raise BriefNotReady(f"write a voice-over script for {names} before launching")
    if not plan.specs:
        raise BriefNotReady("every variant is unticked; choose at least one")
    if plan.over_cap:
        raise BriefNotReady(
            f"{plan.count} variants are chosen; one brief may launch at most {plan.cap}. "
            f"Untick {plan.count - plan.cap} or use fewer values."
        )
    if plan.problems:
        raise RequestRejected("; ".join(plan.problems), code="unsupported_request")
    provider, spec = _model_for(brief.provider, brief.model)
    # The shots of one cell share a seed (and the brief's references): one look, cut apart.
    seeds: dict[str, int] = {}
    variants = Variant.objects.bulk_create(
        Variant(
            brief=brief,
            position=s.position,
            cell_key=s.key,
            hook=s.hook,
            axis_values=s.axis_values,
            aspect_ratio=s.aspect_ratio,
            duration_s=s.duration_s,
            language=s.language,
            resolution=s.resolution,
            prompt=s.prompt,
            script=s.script,
            shots="\n".join(s.shots),
            shot_index=s.shot_index,
            seed=seeds.setdefault(s.group or s.key, _new_seed()),
        )
        for s in plan.specs
    )
    image_url = _reference_url(None, brief)
    jobs = []
    for variant in variants:
        variant.brief = brief
        request = _request_for(variant, brief, image_url=image_url)
        jobs.append(_first_job(variant=variant, request=request, provider=provider, user=user))
    _budget_check(campaign=campaign, extra=sum((j.cost_estimate_usd for j in jobs), Decimal(0)))
    jobs = GenerationJob.objects.bulk_create(jobs)
    brief.status = Brief.Status.LAUNCHED
    brief.launched_at = timezone.now()
    brief.save(update_fields=["status", "launched_at", "excluded_cells"])
    audit_record(
        action="brief.launch", obj=brief, actor=user, variants=len(variants), model=spec.model
    )
    for job in jobs:
        _enqueue_submit(job)
    return brief


def can_approve_brief(*, user: Any, campaign: Campaign) -> bool:
    """Approvers of the campaign approve briefs; staff status is not a campaign role."""
    if not user.is_authenticated:
        return False
    return Membership.objects.filter(
        campaign=campaign, user=user, role=Membership.Role.APPROVER
    ).exists()


@transaction.atomic
def brief_approve(*, brief: Brief, user: Any) -> Brief:
    """Approve a draft brief, so a campaign that needs approval lets its creator launch it.

    Locks the brief row. Raises PermissionDenied for users who are not approvers on the
    campaign and BriefNotReady for a brief already launched or already approved. Editing the
    draft afterwards clears the approval.
    """
    if not can_approve_brief(user=user, campaign=brief.campaign):
        raise PermissionDenied(f"{user} may not approve briefs for {brief.campaign}")
    locked = Brief.objects.select_for_update().get(pk=brief.pk)
    if not locked.is_draft:
        raise BriefNotReady("this brief is already launched")
    if locked.approved_at is not None:
        raise BriefNotReady(f"this brief was already approved by {locked.approved_by}")
    locked.approved_by = user
    locked.approved_at = timezone.now()
    locked.save(update_fields=["approved_by", "approved_at"])
    audit_record(action="brief.approve", obj=locked, actor=user)
    return locked


def brief_model_spec(*, brief: Brief) -> ModelSpec | None:
    """The capability entry of the brief's model; None when the registry no longer has it."""
    try:
        return _model_for(brief.provider, brief.model)[1]
    except ProviderError:
        return None


def model_languages(*, brief: Brief) -> set[str]:
    """The language codes the brief's model speaks (every offered one when it takes any)."""
    _provider, spec = _model_for(brief.provider, brief.model)
    if spec.languages is None:
        return set(LANGUAGE_NAMES)
    return set(spec.languages)


LOCALIZABLE_REVIEW_STATES = ("pending", "in_review", "approved", "archived")


def localize_check(*, job: GenerationJob) -> None:
    """Raise BriefNotReady unless the job made a clip that is approved or still in review.

    The clip and its review live in later apps; they are reached by relation name only.
    """
    if job.variant.is_cut:
        raise BriefNotReady("a cut has no language versions: make them of its shots")
    clip = getattr(job, "clip", None)
    review = getattr(clip, "review", None) if clip is not None else None
    if review is None or review.status not in LOCALIZABLE_REVIEW_STATES:
        raise BriefNotReady("language versions are made from a clip that is approved or in review")


@transaction.atomic
def variant_localize(*, job: GenerationJob, user: Any, scripts: dict[str, str]) -> list[Variant]:
    """Make one language version of the job's clip per entry of `scripts` (language → script).

    Each new variant keeps the source's picture prompt, shots, format, axis values, seed and
    references, speaks its own script, and points at the source job; one job per new variant
    is queued. Locks the brief row so two requests cannot take the same positions. Raises
    PermissionDenied, BriefNotReady (no clip in review or approved; a language the source
    already has or that is empty), RequestRejected for a language the model does not speak and
    BudgetExceeded.
    """
    source = job.variant
    brief = source.brief
    if not can_create_brief(user=user, campaign=brief.campaign):
        raise PermissionDenied(f"{user} may not make variants in {brief.campaign}")
    localize_check(job=job)
    Brief.objects.select_for_update().get(pk=brief.pk)
    provider, spec = _model_for(brief.provider, brief.model)
    taken = {source.language} | set(
        Variant.objects.filter(source_job__variant=source).values_list("language", flat=True)
    )
    scripts = {lang: text.strip() for lang, text in scripts.items()}
    if not scripts:
        raise BriefNotReady("choose at least one language")
    for language, text in scripts.items():
        name = LANGUAGE_NAMES.get(language, language)
        if language in taken:
            raise BriefNotReady(f"this clip already has a {name} version")
        if not text:
            raise BriefNotReady(f"write the {name} script")
        if spec.languages is not None and language not in spec.languages:
            raise RequestRejected(f"{spec.label} does not speak {name}", code="unsupported")
    last = brief.variants.aggregate(n=Max("position"))["n"] or 0
    request = GenerationRequest.from_dict(job.request)
    made = []
    for offset, (language, text) in enumerate(sorted(scripts.items()), start=1):
        made.append(
            Variant.objects.create(
                brief=brief,
                position=last + offset,
                hook=source.hook,
                axis_values=source.axis_values,
                aspect_ratio=source.aspect_ratio,
                duration_s=source.duration_s,
                language=language,
                resolution=source.resolution,
                prompt=request.prompt,
                script=text,
                shots="\n".join(request.shots),
                seed=request.seed,
                source_job=job,
            )
        )
    jobs = []
    for variant in made:
        localized = replace(request, language=variant.language, script=variant.script)
        jobs.append(
            _first_job(
                variant=variant,
                request=localized,
                provider=provider,
                user=user,
                notes=f"{LANGUAGE_NAMES.get(variant.language, variant.language)} version of "
                f"#{source.position} v{job.attempt}",
            )
        )
    _budget_check(
        campaign=brief.campaign, extra=sum((j.cost_estimate_usd for j in jobs), Decimal(0))
    )
    jobs = GenerationJob.objects.bulk_create(jobs)
    audit_record(
        action="variant.localize",
        obj=source,
        actor=user,
        job=job.pk,
        languages=sorted(scripts),
    )
    for new_job in jobs:
        _enqueue_submit(new_job)
    return made


@transaction.atomic
def brief_create(*, campaign: Campaign, user: Any, data: BriefInput) -> Brief:
    """Write a brief and launch it at once (the API and demo path; the form previews first).

    Raises what `brief_draft_save` and `brief_launch` raise; nothing is written unless
    everything passes.
    """
    brief = brief_draft_save(campaign=campaign, user=user, data=data)
    return brief_launch(brief=brief, user=user)


def _first_job(
    *, variant: Variant, request: GenerationRequest, provider: Any, user: Any, notes: str = ""
) -> GenerationJob:
    """An unsaved first attempt of `variant` with its estimate; callers reserve the budget for
    the batch and bulk-create it."""
    brief = variant.brief
    return GenerationJob(
        variant=variant,
        attempt=1,
        provider=brief.provider,
        model=brief.model,
        request=request.as_dict(),
        cost_estimate_usd=provider.estimate_cost(request),
        requested_by=user,
        notes=notes,
    )


def _enqueue_submit(job: GenerationJob) -> None:
    # The first message of a job carries the empty token (generation/leases.py).
    transaction.on_commit(partial(job_send_drive, job_id=job.pk, provider=job.provider))


@transaction.atomic
def job_create(
    *,
    variant: Variant,
    requested_by: Any = None,
    notes: str = "",
    seed: int | None = None,
) -> GenerationJob:
    """Queue a new attempt (the next version) of `variant`; the previous one is left as is.

    The new version takes a fresh seed, so it looks different, unless `seed` pins one (pass
    `variant.seed` to keep the last). Locks the variant row so two requests cannot both take
    the next attempt number. Raises VersionInProgress while an earlier attempt is still
    active, BudgetExceeded when the estimate does not fit the campaign's budget and
    RequestRejected for a cut (a new cut is assembled: `generation.sequences`).
    """
    brief = variant.brief
    if variant.is_cut:
        # A cut is joined from its shots, never generated from a prompt.
        raise RequestRejected(
            "a cut is not generated: approve new versions of its shots, then assemble it again "
            "on the brief page",
            code="cut_not_generated",
        )
    locked = Variant.objects.select_for_update().get(pk=variant.pk)
    active = variant.jobs.filter(status__in=GenerationJob.ACTIVE).order_by("attempt").first()
    if active is not None:
        raise VersionInProgress(f"version {active.attempt} of this variant is still in progress")
    last = variant.jobs.aggregate(n=Max("attempt"))["n"] or 0
    provider = get_provider(brief.provider)
    locked.seed = _new_seed() if seed is None else seed
    locked.save(update_fields=["seed"])
    variant.seed = locked.seed
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
    _enqueue_submit(job)
    return job


@transaction.atomic
def variant_revise(
    *,
    variant: Variant,
    user: Any,
    prompt: str,
    script: str,
    shots: str,
    notes: str = "",
    pin_seed: bool = False,
    reference: CleanImage | None = None,
) -> GenerationJob:
    """Edit a variant's prompt, script and shots, then queue its next version.

    The new version takes a new seed unless `pin_seed`; a `reference` (validated) becomes
    this variant's own image in place of the brief's. Raises PermissionDenied for users who
    are not creators on the campaign, ReferenceRejected for an image the model does not take,
    and what `job_create` raises.
    """
    if not can_create_brief(user=user, campaign=variant.brief.campaign):
        raise PermissionDenied(f"{user} may not generate new versions in this campaign")
    locked = Variant.objects.select_for_update().get(pk=variant.pk)
    changed = {
        name: value
        for name, value in (("prompt", prompt), ("script", script), ("shots", shots))
        if getattr(locked, name) != value
    }
    for name, value in changed.items():
        setattr(locked, name, value)
    if changed:
        locked.save(update_fields=list(changed))
        audit_record(action="variant.revise", obj=locked, actor=user, fields=sorted(changed))
    locked.brief = variant.brief
    if reference is not None:
        _provider, spec = _model_for(locked.brief.provider, locked.brief.model)
        _reference_store(brief=locked.brief, image=reference, spec=spec, user=user, variant=locked)
    return job_create(
        variant=locked,
        requested_by=user,
        notes=notes,
        seed=locked.seed if pin_seed else None,
    )
