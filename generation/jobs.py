"""The job driver: every step a generation job takes, and the one way each state is entered.

Transitions (`job_mark_*`, `job_cancel`, `job_apply_report`) are atomic, re-fetch the row with
`select_for_update()`, check the move against `GenerationJob.TRANSITIONS` and write an audit
row. `job_apply_report` is the only way a provider's report (from a poll, a webhook or the
reconciler) changes a job, and it only ever moves forward: a late or duplicate report is a
no-op, never an error.

`job_drive` is what a `drive_job` message runs. It takes the job's lease (generation/leases.py;
a message whose token is stale does nothing), then advances the job as far as it can go now:
submit → status → download, in one task when the provider answers at once (the local animatic
renders inside submit, so a whole job is one hop). When the job must wait (a remote queue, a
backoff), it passes the lease to one new message scheduled for later. Nothing holds a row lock
across a provider call.
"""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import BooleanField, DateTimeField, Q, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from generation.audit import audit_record
from generation.leases import (
    lease_finish,
    lease_heartbeat,
    lease_kick,
    lease_pass,
    lease_release,
    lease_take,
    retry_backoff,
    work_reconcile,
)
from generation.models import GenerationJob, Lease, WebhookDelivery
from generation.providers import get_provider
from generation.providers.base import (
    CancelOutcome,
    ErrorKind,
    GenerationRequest,
    Provider,
    ProviderError,
    RemoteState,
    RequestRejected,
    ResultExpired,
    ResultReport,
    StatusReport,
    Submission,
    TransientError,
    WebhookEvent,
)
from generation.providers.capabilities import spec_for
from generation.signals import job_succeeded

log = logging.getLogger(__name__)
Status = GenerationJob.Status
JOB = Lease.Kind.JOB
# The type of a datetime bound into an UPDATE: built once, as Value would build one per call.
_WHEN = DateTimeField()


# --- Transitions -----------------------------------------------------------------------------


def _locked(job_id: int) -> GenerationJob:
    return GenerationJob.objects.select_for_update().get(pk=job_id)


def _move(job: GenerationJob, to: str, *, actor: Any = None, fields: tuple = (), **data) -> None:
    previous = job.transition(to)
    job.save(update_fields=["status", "updated_at", *fields])
    audit_record(action=f"job.{to}", obj=job, actor=actor, from_state=previous, to_state=to, **data)
    if job.is_final:
        # In the same transaction: a job is final exactly when its lease is done, so no
        # message drives it again and the driver has nothing left to hand over.
        lease_finish(kind=JOB, object_id=job.pk)


def drive_queue(*, provider: str) -> str:
    """The queue of every `drive_job` message of a job on `provider`.

    GREENLIGHT_DRIVE_QUEUES names the providers whose work runs elsewhere (the cut joiner's
    ffmpeg on "media"); every other provider's go where `drive_job` is routed ("providers").
    Decided here, by provider, for the first message, every hand-over, kick and re-drive
    alike: a task route alone cannot tell a cut's messages from a hosted job's.
    """
    queue = settings.GREENLIGHT_DRIVE_QUEUES.get(provider)
    return queue or settings.CELERY_TASK_ROUTES["generation.tasks.drive_job"]["queue"]


def job_send_drive(
    *, job_id: int, provider: str | None = None, token: str = "", countdown: float = 0
) -> None:
    """Send one `drive_job` message for the job to its provider's queue (`drive_queue`).

    `token` is the lease token the message carries ("" for a job's first message). Without
    `provider` the job's is read, one query: for senders that hold only the id.
    """
    from generation.tasks import drive_job

    if provider is None:
        providers = GenerationJob.objects.filter(pk=job_id).values_list("provider", flat=True)
        provider = next(iter(providers), "")
    options: dict[str, Any] = {"queue": drive_queue(provider=provider)}
    if countdown > 0:
        options["countdown"] = countdown
    drive_job.apply_async((job_id, token), **options)


def job_redrive(job_id: int, token: str) -> None:
    """Send a re-drive carrying `token` for a job known by its id alone (the reconciler, the
    Lease admin's "Re-drive now"): `job_send_drive` reads its provider."""
    job_send_drive(job_id=job_id, token=token)


def _kick_on_commit(job: GenerationJob) -> None:
    """After commit, wake the job's driver now unless a worker is already driving it."""
    job_id, provider = job.pk, job.provider

    def kick() -> None:
        token = lease_kick(kind=JOB, object_id=job_id)
        if token is not None:
            job_send_drive(job_id=job_id, provider=provider, token=token)

    transaction.on_commit(kick)


@transaction.atomic
def job_mark_submitted(*, job_id: int, submission: Submission) -> GenerationJob:
    """Record what the provider gave back; a job with a request id is never submitted again.

    A job canceled while its submit was in flight keeps the id too, so the driver can stop the
    remote request (it stays queued with `cancel_requested_at` set until then).
    """
    job = _locked(job_id)
    job.provider_request_id = submission.request_id
    job.submission = submission.as_dict()
    job.submitted_at = timezone.now()
    _move(
        job,
        Status.SUBMITTED,
        fields=("provider_request_id", "submission", "submitted_at"),
        request_id=submission.request_id,
    )
    return job


@transaction.atomic
def job_apply_report(*, job_id: int, report: StatusReport) -> GenerationJob:
    """Apply a provider's status report; reports for a state the job has left do nothing.

    QUEUED/RUNNING record queue position and progress (RUNNING also moves a submitted job on);
    COMPLETED moves to downloading; FAILED fails the job with the provider's reason; CANCELED
    cancels it.
    """
    job = _locked(job_id)
    if job.status not in (Status.SUBMITTED, Status.RUNNING):
        return job
    state = report.state
    if state in (RemoteState.QUEUED, RemoteState.RUNNING):
        job.queue_position = report.queue_position
        if report.progress is not None:
            job.progress = report.progress
        if state == RemoteState.RUNNING and job.status == Status.SUBMITTED:
            _move(job, Status.RUNNING, fields=("progress", "queue_position"))
        else:
            job.save(update_fields=["progress", "queue_position", "updated_at"])
    elif state == RemoteState.COMPLETED:
        job.progress = 1.0
        job.queue_position = None
        _move(job, Status.DOWNLOADING, fields=("progress", "queue_position"))
    elif state == RemoteState.CANCELED:
        job.finished_at = timezone.now()
        _move(job, Status.CANCELED, fields=("finished_at",), reason="provider reported canceled")
    else:
        _fail(
            job,
            error=report.error or "the provider reported a failure without a reason",
            code=report.error_code or "provider_failed",
        )
    return job


def _fail(job: GenerationJob, *, error: str, code: str) -> None:
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


@transaction.atomic
def job_mark_failed(*, job_id: int, error: str, code: str = "") -> GenerationJob:
    """Stop the job with a reason a person can read; a remote request is asked to stop."""
    job = _locked(job_id)
    _fail(job, error=error, code=code)
    if job.provider_request_id:
        from generation.tasks import cancel_remote

        transaction.on_commit(partial(cancel_remote.delay, job.pk))
    return job


@transaction.atomic
def job_mark_succeeded(
    *,
    job_id: int,
    output_name: str,
    cost_usd: Decimal,
    seed: int | None = None,
    result: dict[str, Any] | None = None,
) -> GenerationJob:
    """Store where the video landed and what it cost; tell later apps (`job_succeeded`)."""
    job = _locked(job_id)
    job.output.name = output_name
    job.cost_usd = cost_usd
    job.seed = seed
    job.result = result or {}
    job.finished_at = timezone.now()
    job.error = job.error_code = ""
    _move(
        job,
        Status.SUCCEEDED,
        fields=("output", "cost_usd", "seed", "result", "finished_at", "error", "error_code"),
        output=output_name,
        cost_usd=str(cost_usd),
    )
    job_succeeded.send(sender=GenerationJob, job=job)
    return job


@transaction.atomic
def job_mark_canceled(*, job_id: int, actor: Any = None, reason: str = "") -> GenerationJob:
    job = _locked(job_id)
    job.finished_at = timezone.now()
    _move(job, Status.CANCELED, actor=actor, fields=("finished_at",), reason=reason)
    return job


@transaction.atomic
def job_cancel(*, job_id: int, actor: Any = None) -> GenerationJob:
    """Cancel a job that has not finished.

    A queued job whose submit never started is canceled at once. Any other (a submit in
    flight, a request at the provider) gets `cancel_requested_at` and its driver is woken: it
    stores a request id that arrives late and asks the provider to stop; the job ends
    canceled, or downloads when the provider says the result already exists (it is paid for).
    Raises InvalidTransition for a finished job.
    """
    job = _locked(job_id)
    if job.is_final:
        job.transition(Status.CANCELED)  # raises, naming the current state
    if job.status == Status.QUEUED and job.submit_started_at is None:
        job.finished_at = timezone.now()
        _move(job, Status.CANCELED, actor=actor, fields=("finished_at",))
        return job
    if job.cancel_requested_at is None:
        job.cancel_requested_at = timezone.now()
        job.save(update_fields=["cancel_requested_at", "updated_at"])
        audit_record(action="job.cancel_requested", obj=job, actor=actor, from_state=job.status)
    _kick_on_commit(job)
    return job


class WebhookOutcome:
    APPLIED = "applied"
    REPLAYED = "replayed"
    UNKNOWN = "unknown"


def job_apply_event(*, provider: str, event: WebhookEvent) -> str:
    """Apply a verified webhook: the same report service a poll uses, then wake the driver.

    Returns REPLAYED for a delivery id seen before (nothing changes) and UNKNOWN for a request
    id no job carries.
    """
    with transaction.atomic():
        job = GenerationJob.objects.filter(
            provider=provider, provider_request_id=event.request_id
        ).first()
        if job is None:
            return WebhookOutcome.UNKNOWN
        try:
            with transaction.atomic():
                WebhookDelivery.objects.create(
                    provider=provider,
                    delivery_id=event.delivery_id,
                    request_id=event.request_id,
                    payload=event.raw,
                )
        except IntegrityError:
            return WebhookOutcome.REPLAYED
        job_apply_report(job_id=job.pk, report=event.status)
        _kick_on_commit(job)
    return WebhookOutcome.APPLIED


# --- The driver ------------------------------------------------------------------------------


def job_drive(*, job_id: int, token: str, owner: str) -> float | None:
    """Advance one job as far as it can go now, if this message holds its lease.

    Returns the seconds until the job's next message (already scheduled), or None when this
    message did nothing (stale or duplicate) or the job needs nothing more. Locks: none held
    across provider calls; the lease is renewed in the background while a step runs. A soft
    time limit releases the lease and counts as a transient failure.
    """
    if not lease_take(kind=JOB, object_id=job_id, token=token, owner=owner):
        log.info("job %s: message with a stale token or a held lease ignored", job_id)
        return None
    try:
        # get(), not filter().first(): first() orders by the primary key, and compiling that
        # ORDER BY cost as much CPU as the rest of this read.
        job = GenerationJob.objects.get(pk=job_id)
    except GenerationJob.DoesNotExist:
        # A message for a job that is gone (deleted, or from another database's run): let the
        # lease go; the reconciler finishes a lease whose work no longer exists.
        log.warning("job %s: no such job; message ignored", job_id)
        lease_release(kind=JOB, object_id=job_id, owner=owner)
        return None
    if job.is_final:
        # Made final by something that does not go through `_move` (an admin edit): nothing
        # to drive, and no message should try again.
        lease_finish(kind=JOB, object_id=job_id)
        return None
    try:
        with lease_heartbeat(kind=JOB, object_id=job_id, owner=owner):
            wait = _advance(job)
    except SoftTimeLimitExceeded:
        wait = _retry_or_fail(
            job_id, TransientError("a step ran past its time limit", code="time_limit")
        )
    except Exception as exc:
        # Not a provider answer (a database hiccup, a bug): logged in full, then retried
        # within the same budget, so it ends in a clear failure rather than a stalled job.
        log.exception("job %s: step failed unexpectedly", job_id)
        wait = _retry_or_fail(
            job_id, TransientError(f"{type(exc).__name__}: {exc}", code="internal_error")
        )
    except BaseException:
        lease_release(kind=JOB, object_id=job_id, owner=owner)
        raise
    if wait is None:
        return None  # the job is final: the transition that made it so finished the lease
    next_token = lease_pass(kind=JOB, object_id=job_id, owner=owner, countdown=wait)
    if next_token is not None:
        job_send_drive(job_id=job_id, provider=job.provider, token=next_token, countdown=wait)
    return wait


# What a step answers: seconds until the job's next message (stop here), the job as the step's
# last transition left it (go on with it), or None (go on after reading the job again).
Step = float | GenerationJob | None


def _deadline(job: GenerationJob) -> datetime:
    """When the job fails unfinished: `deadline_at`, which the submit step stores, else the
    same instant computed from its creation."""
    if job.deadline_at is not None:
        return job.deadline_at
    return job.created_at + timedelta(seconds=settings.GREENLIGHT_JOB_DEADLINE)


def _advance(job: GenerationJob) -> float | None:
    """Run steps until the job must wait (the seconds) or is final (None).

    Each step's transition hands back the row it read under its lock, and the loop goes on
    with that instead of reading the job again: a cancel that lands after that read is seen
    one step later, as it would be after a re-read a moment later.
    """
    job_id = job.pk
    provider: Provider | None = None
    while True:
        if job.is_final:
            return None
        if timezone.now() > _deadline(job):
            job_mark_failed(
                job_id=job_id,
                error=f"did not finish within {settings.GREENLIGHT_JOB_DEADLINE:.0f} s "
                f"(stopped while {job.status})",
                code="deadline",
            )
            return None
        try:
            if provider is None:
                provider = get_provider(job.provider)  # once: a job keeps its provider
            step: Step
            if job.cancel_requested_at is not None:
                step = _cancel_step(job, provider)
            elif job.status == Status.QUEUED:
                step = _submit_step(job, provider)
            elif job.status in (Status.SUBMITTED, Status.RUNNING):
                step = _status_step(job, provider)
            else:
                step = _download_step(job, provider)
        except ProviderError as exc:
            # An ambiguous submit is retried too: the next run looks the request up first.
            if exc.retryable or exc.kind == ErrorKind.AMBIGUOUS:
                return _retry_or_fail(job_id, exc)
            job_mark_failed(job_id=job_id, error=str(exc), code=exc.code or exc.kind.value)
            return None
        if isinstance(step, GenerationJob):
            job = step
        elif step is None:
            job = GenerationJob.objects.get(pk=job_id)
        else:
            return step


def _submission(job: GenerationJob) -> Submission:
    if job.submission:
        return Submission.from_dict(job.submission)
    return Submission(request_id=job.provider_request_id)


def _webhook_url(job: GenerationJob) -> str | None:
    try:
        path = reverse("generation:provider_webhook", args=[job.provider])
    except NoReverseMatch:
        return None
    return urljoin(settings.GREENLIGHT_BASE_URL, path)


def _find_lost_submit(job: GenerationJob, provider: Provider) -> Submission | None:
    """After an interrupted submit: the request the provider already holds, if any.

    Raises RequestRejected when the provider can neither deduplicate by key nor look the
    request up: sending again could pay twice, so a person decides.
    """
    if provider.idempotent_submit:
        return None  # sending again with the same key returns the same request
    try:
        return provider.lookup(idempotency_key=job.idempotency_key)
    except ProviderError as exc:
        if exc.retryable:
            raise
        raise RequestRejected(
            f"an earlier submit to {provider.label} was interrupted and may have reached it; "
            f"not sending again to avoid paying twice ({exc})",
            code="ambiguous_submit",
        ) from exc


def _submit_step(job: GenerationJob, provider: Provider) -> Step:
    request = GenerationRequest.from_dict(job.request)
    if job.submit_started_at is not None:
        found = _find_lost_submit(job, provider)
        if found is not None:
            return job_mark_submitted(job_id=job.pk, submission=found)
    else:
        spec_for(job.provider, job.model or provider.models[0]).check(request)
    started = (
        GenerationJob.objects.filter(
            pk=job.pk, status=Status.QUEUED, cancel_requested_at__isnull=True
        )
        .filter(_free_slot(job))
        .update(
            submit_started_at=Coalesce("submit_started_at", Value(timezone.now(), _WHEN)),
            deadline_at=Coalesce("deadline_at", Value(_deadline(job), _WHEN)),
        )
    )
    if not started:
        # Canceled meanwhile (the loop takes it from there), or the provider has no free slot:
        # waiting for one is not a failure, so no retry is counted.
        job = GenerationJob.objects.get(pk=job.pk)
        if job.status == Status.QUEUED and job.cancel_requested_at is None:
            return _poll_wait(provider)
        return job
    try:
        submission = provider.submit(
            request, idempotency_key=job.idempotency_key, webhook_url=_webhook_url(job)
        )
    except ProviderError as exc:
        if exc.kind != ErrorKind.AMBIGUOUS:
            # The provider answered (a 429, a 5xx, a refusal): nothing was created there, so
            # the next attempt may submit again instead of looking the request up.
            GenerationJob.objects.filter(pk=job.pk, provider_request_id="").update(
                submit_started_at=None
            )
        raise
    return job_mark_submitted(job_id=job.pk, submission=submission)


def _free_slot(job: GenerationJob) -> Q | RawSQL:
    """The submit UPDATE's condition that the provider has a free slot: fewer than
    GREENLIGHT_PROVIDER_CONCURRENCY of its other jobs in flight (submitted, running, or queued
    with a submit started), i.e. no `limit`-th such job. Always true without a limit.

    Checked inside the statement that marks the submit started, not by a COUNT before it:
    one statement fewer a job. Written as SQL because building and compiling the same
    condition as a queryset in `Exists` cost more CPU than the COUNT it replaced (callgrind
    of a whole job: 1.3M instructions more; this, 1.9M fewer). A soft limit still: two drivers
    passing it at the same instant may both submit, so an account sees at most the limit plus
    the number of worker processes.
    """
    limit = settings.GREENLIGHT_PROVIDER_CONCURRENCY.get(job.provider)
    if not limit:
        return Q()
    # Plain strings: a choices member is an Enum, which a database driver may bind by name.
    submitted, running, queued = Status.SUBMITTED.value, Status.RUNNING.value, Status.QUEUED.value
    return RawSQL(
        f'NOT EXISTS (SELECT 1 FROM "{GenerationJob._meta.db_table}" other'
        " WHERE other.provider = %s AND other.id <> %s AND (other.status IN (%s, %s)"
        " OR (other.status = %s AND other.submit_started_at IS NOT NULL))"
        " LIMIT 1 OFFSET %s)",
        (job.provider, job.pk, submitted, running, queued, limit - 1),
        output_field=BooleanField(),
    )


def _poll_wait(provider: Provider, report: StatusReport | None = None) -> float:
    hint = report.poll_after_s if report is not None else None
    wait = hint if hint is not None else (provider.poll_interval_s or 0)
    wait = max(wait, settings.GREENLIGHT_POLL_INTERVAL)
    return min(wait, settings.GREENLIGHT_POLL_MAX)


def _status_step(job: GenerationJob, provider: Provider) -> Step:
    report = provider.status(_submission(job))
    job = job_apply_report(job_id=job.pk, report=report)
    if job.status in (Status.SUBMITTED, Status.RUNNING):
        return _poll_wait(provider, report)
    return job


def _cancel_step(job: GenerationJob, provider: Provider) -> Step:
    if job.status == Status.DOWNLOADING:
        return _download_step(job, provider)  # the result exists and is paid for
    if not job.provider_request_id:
        found = None
        if job.submit_started_at is not None:
            try:
                found = provider.lookup(idempotency_key=job.idempotency_key)
            except ProviderError as exc:
                if exc.retryable:
                    raise
                job_mark_canceled(
                    job_id=job.pk,
                    reason=f"canceled; an interrupted submit could not be checked: {exc}",
                )
                return None
        if found is None:
            job_mark_canceled(job_id=job.pk, reason="canceled before the provider had it")
            return None
        job_mark_submitted(job_id=job.pk, submission=found)
        job.refresh_from_db()
    outcome = provider.cancel(_submission(job))
    audit_record(action="job.cancel_sent", obj=job, outcome=outcome.value)
    if outcome in (CancelOutcome.CANCELED, CancelOutcome.NOT_FOUND):
        job_mark_canceled(job_id=job.pk, reason=f"provider answered {outcome.value}")
        return None
    if outcome == CancelOutcome.ALREADY_COMPLETED:
        job_apply_report(job_id=job.pk, report=StatusReport(state=RemoteState.COMPLETED))
        return None
    # Requested: the provider will stop it when it can; its status says when.
    report = provider.status(_submission(job))
    job = job_apply_report(job_id=job.pk, report=report)
    if job.status in (Status.SUBMITTED, Status.RUNNING):
        return _poll_wait(provider, report)
    return None


def _download_step(job: GenerationJob, provider: Provider) -> Step:
    submission = _submission(job)
    result = provider.result(submission)
    name = ""
    with tempfile.TemporaryDirectory(prefix="greenlight-dl-") as tmp:
        local = Path(tmp) / "video.mp4"
        for last_try in (False, True):
            try:
                size = provider.download(
                    result,
                    local,
                    max_bytes=settings.GREENLIGHT_MAX_DOWNLOAD_BYTES,
                    deadline_s=settings.GREENLIGHT_DOWNLOAD_DEADLINE,
                )
                break
            except ResultExpired:
                if last_try:
                    raise
                result = provider.result(submission)  # one fresh URL, then give up
        if size == 0:
            raise ProviderError("the provider returned an empty file", code="empty_result")
        with local.open("rb") as fh:
            name = default_storage.save(f"jobs/{job.pk}/{job.key.hex}.mp4", File(fh))
    try:
        return job_mark_succeeded(
            job_id=job.pk,
            output_name=name,
            cost_usd=_billed_cost(job, provider, result),
            seed=result.seed,
            result={"usage": result.usage, "raw": result.raw},
        )
    except Exception:
        default_storage.delete(name)  # never leave a file no job points at
        raise


def _billed_cost(job: GenerationJob, provider: Provider, result: ResultReport) -> Decimal:
    """What the provider billed, else the registry's price for what was delivered."""
    if result.cost_usd is not None:
        return Decimal(result.cost_usd)
    request = GenerationRequest.from_dict(job.request)
    delivered = result.usage.get("duration_s") or request.duration_s
    try:
        seconds = int(round(float(delivered)))
    except (TypeError, ValueError):
        seconds = request.duration_s
    spec = spec_for(job.provider, job.model or provider.models[0])
    return spec.cost(duration_s=seconds, resolution=request.resolution, audio=request.audio)


def backoff_seconds(*, failures: int, exc: ProviderError) -> float:
    """Seconds before trying again: Retry-After when the provider gave one (capped), else
    the lease layer's exponential backoff with jitter."""
    if exc.retry_after is not None:
        return min(float(exc.retry_after), settings.GREENLIGHT_RETRY_AFTER_CAP)
    return retry_backoff(failures)


def _retry_or_fail(job_id: int, exc: ProviderError) -> float | None:
    """Count a transient failure; fail the job past GREENLIGHT_MAX_RETRIES, else back off."""
    job = GenerationJob.objects.get(pk=job_id)
    if job.is_final:
        return None
    retries = job.retries + 1
    GenerationJob.objects.filter(pk=job_id).update(retries=retries, updated_at=timezone.now())
    if retries > settings.GREENLIGHT_MAX_RETRIES:
        job_mark_failed(
            job_id=job_id,
            error=f"gave up after {retries - 1} retries: {exc}",
            code=exc.code or "transient_exhausted",
        )
        return None
    return backoff_seconds(failures=retries, exc=exc)


# --- Reconciliation --------------------------------------------------------------------------


def jobs_reconcile(*, now=None) -> dict[str, int]:
    """Re-drive jobs whose driver went quiet (a worker died, a message was lost).

    Each stalled job gets one new message with a fresh token, so any late original is void.
    Past GREENLIGHT_MAX_REDRIVES re-drives, or past GREENLIGHT_JOB_DEADLINE, the job fails
    with the reason instead of being re-driven forever.
    """

    def give_up(job_id: int, why: str) -> None:
        job = GenerationJob.objects.get(pk=job_id)
        if not job.is_final:
            job_mark_failed(
                job_id=job_id, error=f"stopped while {job.status}: {why}", code="stalled"
            )

    return work_reconcile(
        kind=JOB,
        pending=GenerationJob.objects.filter(status__in=GenerationJob.ACTIVE),
        send=job_redrive,
        give_up=give_up,
        deadline_s=settings.GREENLIGHT_JOB_DEADLINE,
        now=now,
    )
