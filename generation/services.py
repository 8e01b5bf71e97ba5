"""Writes for campaigns, briefs and generation jobs.

Every status change of a GenerationJob goes through one of the `job_mark_*` services: each is
atomic, re-fetches the row with `select_for_update()`, checks the move against
`GenerationJob.TRANSITIONS` (raising InvalidTransition) and writes an audit row. The workflow
services `job_submit`, `job_poll` and `job_download` talk to providers outside any transaction
and then call those.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.utils import timezone

from generation.audit import audit_record
from generation.matrix import matrix_expand
from generation.models import Brief, Campaign, GenerationJob, Membership, Variant
from generation.providers import get_provider
from generation.providers.base import (
    GenerationRequest,
    MalformedResponse,
    ProviderError,
    RemoteState,
    TransientError,
)
from generation.signals import job_succeeded

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
    """Return money spent plus money committed by jobs still in flight, in USD."""
    jobs = GenerationJob.objects.filter(variant__brief__campaign=campaign)
    spent = jobs.filter(status=Status.SUCCEEDED).aggregate(
        total=Sum("cost_usd", default=Decimal(0))
    )["total"]
    committed = jobs.filter(status__in=GenerationJob.ACTIVE).aggregate(
        total=Sum("cost_estimate_usd", default=Decimal(0))
    )["total"]
    return spent + committed


def _budget_check(*, campaign: Campaign, extra: Decimal) -> None:
    if campaign.budget_usd is None or extra <= 0:
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
    """Creators of the campaign write briefs; staff status is not a campaign role."""
    if not user.is_authenticated:
        return False
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
                cost_estimate_usd=Decimal(str(provider.estimate_cost(request))),
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
    from generation.tasks import submit_job

    transaction.on_commit(partial(submit_job.delay, job_id))


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
    estimate = Decimal(str(provider.estimate_cost(request)))
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


# --- Job transitions -----------------------------------------------------------------------


def _locked(job_id: int) -> GenerationJob:
    return GenerationJob.objects.select_for_update().get(pk=job_id)


def _move(job: GenerationJob, to: str, *, actor: Any = None, fields: tuple = (), **data) -> None:
    previous = job.transition(to)
    job.save(update_fields=["status", "updated_at", *fields])
    audit_record(action=f"job.{to}", obj=job, actor=actor, from_state=previous, to_state=to, **data)


def job_claim(*, job_id: int) -> bool:
    """Take a queued job for submission; False if another worker holds it or it moved on.

    A conditional UPDATE, not a lock held across the provider call, so no transaction stays
    open while the provider answers.
    """
    claimed = GenerationJob.objects.filter(
        pk=job_id, status=Status.QUEUED, provider_request_id="", claimed_at__isnull=True
    ).update(claimed_at=timezone.now(), updated_at=timezone.now())
    return claimed == 1


@transaction.atomic
def job_mark_submitted(*, job_id: int, request_id: str) -> GenerationJob:
    """Record the provider's request id; a job with an id is never submitted again."""
    job = _locked(job_id)
    job.provider_request_id = request_id
    job.submitted_at = timezone.now()
    _move(
        job,
        Status.SUBMITTED,
        fields=("provider_request_id", "submitted_at"),
        request_id=request_id,
    )
    return job


@transaction.atomic
def job_mark_running(*, job_id: int, progress: float | None = None) -> GenerationJob:
    """Note that the provider has started; later progress updates keep the status."""
    job = _locked(job_id)
    job.progress = progress
    if job.status == Status.RUNNING:
        job.save(update_fields=["progress", "updated_at"])
    else:
        _move(job, Status.RUNNING, fields=("progress",))
    return job


@transaction.atomic
def job_mark_downloading(*, job_id: int) -> GenerationJob:
    """Note that the provider finished and the video is being fetched."""
    job = _locked(job_id)
    job.progress = 1.0
    _move(job, Status.DOWNLOADING, fields=("progress",))
    return job


@transaction.atomic
def job_mark_succeeded(*, job_id: int, output_name: str, cost_usd: Decimal) -> GenerationJob:
    """Store where the video landed and what it cost; tell later apps (`job_succeeded`)."""
    job = _locked(job_id)
    job.output.name = output_name
    job.cost_usd = cost_usd
    job.finished_at = timezone.now()
    job.error = job.error_code = ""
    _move(
        job,
        Status.SUCCEEDED,
        fields=("output", "cost_usd", "finished_at", "error", "error_code"),
        output=output_name,
    )
    job_succeeded.send(sender=GenerationJob, job=job)
    return job


@transaction.atomic
def job_mark_failed(*, job_id: int, error: str, code: str = "") -> GenerationJob:
    """Stop the job with a reason a person can read."""
    job = _locked(job_id)
    job.error = error[:4000]
    job.error_code = code[:80]
    job.finished_at = timezone.now()
    _move(
        job,
        Status.FAILED,
        fields=("error", "error_code", "finished_at"),
        error=job.error,
        code=code,
    )
    return job


@transaction.atomic
def job_cancel(*, job_id: int, actor: Any = None) -> GenerationJob:
    """Cancel a job that has not finished; the provider is asked to stop after commit."""
    job = _locked(job_id)
    request_id = job.provider_request_id
    job.finished_at = timezone.now()
    _move(job, Status.CANCELED, actor=actor, fields=("finished_at",))
    if request_id:
        from generation.tasks import cancel_remote

        transaction.on_commit(partial(cancel_remote.delay, job.provider, request_id))
    return job


# --- Workflow: talking to providers --------------------------------------------------------


def job_submit(*, job_id: int) -> str | None:
    """Submit a queued job once; return "poll" when the worker should poll it next.

    A job that already has a request id, or that another worker claimed, is left alone.
    TransientError propagates for the task to retry (the claim is released first); any other
    ProviderError fails the job.
    """
    job = GenerationJob.objects.get(pk=job_id)
    if job.status != Status.QUEUED:
        return "poll" if job.status in (Status.SUBMITTED, Status.RUNNING) else None
    if not job_claim(job_id=job_id):
        return None
    try:
        provider = get_provider(job.provider)
        request_id = provider.submit(GenerationRequest.from_dict(job.request))
    except TransientError:
        GenerationJob.objects.filter(pk=job_id).update(claimed_at=None)
        raise
    except ProviderError as exc:
        job_mark_failed(job_id=job_id, error=str(exc), code=exc.code or "rejected")
        return None
    job_mark_submitted(job_id=job_id, request_id=request_id)
    return "poll"


def job_poll(*, job_id: int) -> str | None:
    """Ask the provider about a submitted job; return "poll", "download" or None (stop)."""
    job = GenerationJob.objects.get(pk=job_id)
    if job.status == Status.DOWNLOADING:
        return "download"
    if job.status not in (Status.SUBMITTED, Status.RUNNING):
        return None
    provider = get_provider(job.provider)
    try:
        report = provider.status(job.provider_request_id)
    except TransientError:
        raise
    except ProviderError as exc:
        job_mark_failed(job_id=job_id, error=str(exc), code=exc.code or "status_failed")
        return None
    if report.state in (RemoteState.QUEUED, RemoteState.RUNNING):
        if report.state == RemoteState.RUNNING or report.progress is not None:
            job_mark_running(job_id=job_id, progress=report.progress)
        else:
            # A heartbeat: the reconciler only nudges jobs whose poll chain has gone quiet,
            # so a live chain is never doubled.
            GenerationJob.objects.filter(pk=job_id).update(updated_at=timezone.now())
        return "poll"
    if report.state == RemoteState.COMPLETED:
        job_mark_downloading(job_id=job_id)
        return "download"
    if report.state == RemoteState.CANCELED:
        job_cancel(job_id=job_id)
        return None
    job_mark_failed(
        job_id=job_id,
        error=report.error or "the provider reported a failure without a reason",
        code=report.error_code or "provider_failed",
    )
    return None


def _fetch(url: str, target: Path, *, max_bytes: int) -> None:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        source = Path(unquote(parsed.path))
        if not source.is_file():
            raise MalformedResponse(f"the provider's result file is missing: {source}")
        if source.stat().st_size > max_bytes:
            raise ProviderError(f"the result is larger than {max_bytes} bytes", code="too_large")
        shutil.copyfile(source, target)
        return
    if parsed.scheme not in ("http", "https"):
        raise MalformedResponse(f"the provider's result URL is not http(s): {url[:200]}")
    try:
        with (
            httpx.stream("GET", url, follow_redirects=True, timeout=60.0) as response,
            target.open("wb") as out,
        ):
            if response.status_code in (403, 404, 410):
                raise ProviderError(
                    f"the result URL answered {response.status_code} (expired or gone)",
                    code="result_expired",
                )
            if response.status_code >= 400:
                raise TransientError(f"the result URL answered {response.status_code}")
            written = 0
            for chunk in response.iter_bytes(1 << 20):
                written += len(chunk)
                if written > max_bytes:
                    raise ProviderError(
                        f"the result is larger than {max_bytes} bytes", code="too_large"
                    )
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise TransientError(f"downloading the result failed: {exc}") from exc


def job_download(*, job_id: int) -> GenerationJob | None:
    """Fetch a finished job's video into media storage and mark the job succeeded."""
    job = GenerationJob.objects.get(pk=job_id)
    if job.status != Status.DOWNLOADING:
        return None
    provider = get_provider(job.provider)
    try:
        result = provider.result(job.provider_request_id)
        with tempfile.TemporaryDirectory(prefix="greenlight-dl-") as tmp:
            local = Path(tmp) / "video.mp4"
            _fetch(result.url, local, max_bytes=settings.GREENLIGHT_MAX_DOWNLOAD_BYTES)
            if local.stat().st_size == 0:
                raise MalformedResponse("the provider returned an empty file")
            name = f"jobs/{job.pk}/{uuid.uuid4().hex}.mp4"
            with local.open("rb") as fh:
                name = default_storage.save(name, File(fh, name="video.mp4"))
    except TransientError:
        raise
    except ProviderError as exc:
        job_mark_failed(job_id=job_id, error=str(exc), code=exc.code or "download_failed")
        return None
    cost = Decimal(str(provider.estimate_cost(GenerationRequest.from_dict(job.request))))
    return job_mark_succeeded(job_id=job_id, output_name=name, cost_usd=cost)


def jobs_reconcile(*, now=None) -> dict[str, int]:
    """Re-drive jobs whose last step was lost (a worker died, a message vanished).

    Queued jobs that nobody claimed, or whose claim is older than GREENLIGHT_STALE_AFTER, are
    enqueued for submission again; submitted and running jobs are polled; downloading jobs are
    downloaded. Each task is safe to run twice, so an extra nudge costs one query.
    """
    from generation.tasks import download_job, poll_job, submit_job

    now = now or timezone.now()
    quiet = now - timedelta(seconds=max(30.0, settings.GREENLIGHT_POLL_INTERVAL * 10))
    stale = now - timedelta(seconds=settings.GREENLIGHT_STALE_AFTER)
    counts = {"submit": 0, "poll": 0, "download": 0}
    GenerationJob.objects.filter(status=Status.QUEUED, claimed_at__lt=stale).update(claimed_at=None)
    queued = GenerationJob.objects.filter(
        status=Status.QUEUED, claimed_at__isnull=True, updated_at__lt=quiet
    )
    for job_id in queued.values_list("pk", flat=True):
        submit_job.delay(job_id)
        counts["submit"] += 1
    remote = GenerationJob.objects.filter(
        Q(status=Status.SUBMITTED) | Q(status=Status.RUNNING), updated_at__lt=quiet
    )
    for job_id in remote.values_list("pk", flat=True):
        poll_job.delay(job_id)
        counts["poll"] += 1
    downloading = GenerationJob.objects.filter(status=Status.DOWNLOADING, updated_at__lt=quiet)
    for job_id in downloading.values_list("pk", flat=True):
        download_job.delay(job_id)
        counts["download"] += 1
    return counts
