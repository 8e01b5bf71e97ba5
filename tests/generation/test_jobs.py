"""The job driver: transitions, one driver per job, money-safe submits, failure budgets.

The numbered findings of the engine issue each have a test here (F1 … F9 in the names' doc
lines); threaded races run against the real database (SQLite in one pass, PostgreSQL in the
other) with `transaction=True`.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assets.models import Clip
from generation import jobs, leases
from generation.models import AuditEvent, GenerationJob, Lease
from generation.providers.base import (
    AmbiguousSubmit,
    CancelOutcome,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RemoteState,
    RequestRejected,
    ResultReport,
    StatusReport,
    Submission,
    TransientError,
)
from generation.statemachine import InvalidTransition
from tests.factories import JobFactory
from tests.providers import ScriptedProvider, install

pytestmark = pytest.mark.django_db

Status = GenerationJob.Status
DRIVE = "generation.tasks.drive_job"
CANCEL = "generation.tasks.cancel_remote"
INGEST = "assets.tasks.ingest_clip"
JOB = Lease.Kind.JOB


@pytest.fixture
def fake(monkeypatch) -> type[ScriptedProvider]:
    provider = type("Fake", (ScriptedProvider,), {"submit_calls": [], "cancel_calls": []})
    install(monkeypatch, provider)
    return provider


def _fake_job(**kwargs) -> GenerationJob:
    kwargs.setdefault("request", {"prompt": "p", "duration_s": 3, "model": "fake-1"})
    return JobFactory(provider="fake", model="fake-1", **kwargs)


def _actions(job) -> list[str]:
    rows = AuditEvent.objects.filter(object_type="generation.generationjob", object_id=str(job.pk))
    return list(rows.order_by("pk").values_list("action", flat=True))


def _in_thread(target, *args) -> threading.Thread:
    """A daemon thread that closes its own database connection when done."""

    def run() -> None:
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def _drives(sent) -> list[tuple]:
    return [args for name, args in sent if name == DRIVE]


# --- The happy path: one hop for a local render ---------------------------------------------


def test_an_animatic_job_goes_from_queued_to_clip_in_one_message(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    job = JobFactory()

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.job_drive(job_id=job.pk, token="", owner="task-1") is None

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.submission["request_id"] == job.provider_request_id
    assert default_storage.size(job.output.name) > 10_000
    assert job.cost_usd == Decimal("0")
    clip = Clip.objects.get(job=job)
    assert no_enqueue == [(INGEST, (clip.pk,))]
    assert _actions(job) == ["job.submitted", "job.downloading", "job.succeeded"]
    lease = Lease.objects.get(kind=JOB, object_id=job.pk)
    assert (lease.done, lease.owner) == (True, "")
    # Any later message for the job is a no-op.
    assert jobs.job_drive(job_id=job.pk, token="", owner="task-2") is None
    assert jobs.job_drive(job_id=job.pk, token=lease.token, owner="task-3") is None


def test_a_remote_job_polls_by_handing_its_lease_to_one_later_message(fake, no_enqueue) -> None:
    fake.status_report = StatusReport(state=RemoteState.QUEUED, queue_position=3, poll_after_s=7)
    job = _fake_job()

    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert wait == 7
    job.refresh_from_db()
    assert (job.status, job.queue_position, job.provider_request_id) == ("submitted", 3, "fake-1")
    ((job_id, token),) = _drives(no_enqueue)
    lease = Lease.objects.get(kind=JOB, object_id=job.pk)
    assert (job_id, token, lease.owner) == (job.pk, lease.token, "")
    # The provider's hint is kept within the configured floor and ceiling.
    fake.status_report = StatusReport(state=RemoteState.RUNNING, progress=0.4, poll_after_s=0.01)
    assert jobs.job_drive(job_id=job.pk, token=token, owner="t2") == 2.0  # POLL_INTERVAL
    fake.status_report = StatusReport(state=RemoteState.RUNNING, poll_after_s=9999)
    token = _drives(no_enqueue)[-1][1]
    assert jobs.job_drive(job_id=job.pk, token=token, owner="t3") == 60.0  # POLL_MAX
    assert GenerationJob.objects.get(pk=job.pk).progress == 0.4


# --- Query budget: one message, no redundant round trips ----------------------------------


def _statements(queries, table: str) -> list[str]:
    return [q["sql"] for q in queries if f'"{table}"' in q["sql"]]


@pytest.mark.django_db(transaction=True)
def test_a_hosted_job_that_answers_at_once_takes_one_message_and_a_fixed_query_budget(
    fake, no_enqueue, settings, http_base
) -> None:
    """Submit, status, result and download in one message, in autocommit as a worker runs.

    The budget counts every statement (BEGIN/COMMIT and savepoints included): the lease is
    one INSERT (taken as it is created) and one UPDATE (finished inside the final transition),
    the job is read once (each transition's locked read carries the loop on), the deadline
    and the provider's concurrency limit ride on the submit's conditional UPDATE, and the clip
    is one INSERT in a savepoint plus its audit row. Before, the same job cost 36 statements
    on PostgreSQL, with a lease created in its own transaction, an existence check, a deadline
    UPDATE, a re-read after every step and the lease finished twice; then 27, with a COUNT of
    the jobs in flight and the clip's get_or_create (a read, then the INSERT in a savepoint)
    inside a savepoint of its own.
    """
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    settings.GREENLIGHT_PROVIDER_CONCURRENCY = {"fake": 5}
    fake.status_report = StatusReport(state=RemoteState.COMPLETED)
    fake.result_url = f"{http_base}/video.mp4"
    job = _fake_job()

    with CaptureQueriesContext(connection) as queries:
        assert jobs.job_drive(job_id=job.pk, token="", owner="t1") is None

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED and job.deadline_at is not None
    lease = _statements(queries, "generation_lease")
    assert [sql.split()[0] for sql in lease] == ["INSERT", "UPDATE"], lease
    reads = [
        sql
        for sql in _statements(queries, "generation_generationjob")
        if sql.startswith("SELECT") and "COUNT(" not in sql
    ]
    assert len(reads) == 4, reads  # the driver's one read and three transitions' locked reads
    assert not [sql for sql in _statements(queries, "generation_generationjob") if "COUNT(" in sql]
    clip = _statements(queries, "assets_clip")
    assert [sql.split()[0] for sql in clip] == ["INSERT"], clip
    assert len([q for q in queries if q["sql"].startswith("SAVEPOINT")]) == 1
    assert len(queries) <= 23, "\n".join(q["sql"][:120] for q in queries)
    assert _drives(no_enqueue) == []
    assert Lease.objects.get(kind=JOB, object_id=job.pk).done


def _clip_creations(job) -> int:
    return AuditEvent.objects.filter(action="clip.create", data__job=job.pk).count()


def test_the_clip_of_a_succeeded_job_is_created_once_however_often_it_is_asked_for(
    no_enqueue,
) -> None:
    """A second call (a re-sent signal, an admin re-run) returns the same clip: no second row,
    audit entry or ingest, and the caller's transaction stays usable after the conflict."""
    from assets.services import clip_create_for_job

    job = JobFactory(succeeded=True)
    with transaction.atomic():
        first = clip_create_for_job(job=job)
        again = clip_create_for_job(job=job)
        assert GenerationJob.objects.filter(pk=job.pk).exists()  # not an aborted transaction
    assert again.pk == first.pk and again.uuid == first.uuid
    assert Clip.objects.filter(job=job).count() == 1
    assert _clip_creations(job) == 1
    assert (first.variant_id, first.version, first.file.name) == (
        job.variant_id,
        job.attempt,
        job.output.name,
    )


def test_creating_a_clip_inside_the_jobs_transaction_reads_nothing_first(no_enqueue) -> None:
    """The INSERT in a savepoint, then the audit row: no read before it, and no savepoint of
    the function's own around them (get_or_create in a savepoint took seven statements)."""
    from assets.services import clip_create_for_job

    job = JobFactory(succeeded=True)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        clip_create_for_job(job=job)
    statements = [" ".join(q["sql"].split()[:2]) for q in queries.captured_queries]
    assert [s.split()[0] for s in statements] == ["SAVEPOINT", "INSERT", "RELEASE", "INSERT"], (
        statements
    )


@pytest.mark.django_db(transaction=True)
def test_two_creators_racing_for_one_jobs_clip_make_one_clip_and_neither_fails() -> None:
    """The second creator's INSERT waits for the first's transaction (PostgreSQL: the unique
    index; SQLite: the write lock), then conflicts and returns the first's clip."""
    from assets.services import clip_create_for_job

    job = JobFactory(succeeded=True)
    second: dict = {}
    inserted = threading.Event()

    def racer() -> None:
        inserted.wait(10)
        second["clip"] = clip_create_for_job(job=GenerationJob.objects.get(pk=job.pk))

    thread = _in_thread(racer)
    with transaction.atomic():
        first = clip_create_for_job(job=job)
        inserted.set()
        time.sleep(0.3)  # the racer is now blocked behind this uncommitted row
    thread.join(15)
    assert not thread.is_alive()
    assert second["clip"].pk == first.pk
    assert Clip.objects.filter(job=job).count() == 1
    assert _clip_creations(job) == 1


def test_a_final_transition_finishes_the_lease_in_its_own_transaction(
    fake, no_enqueue, django_capture_on_commit_callbacks
) -> None:
    """No window in which a job is final but its lease is open (it used to wait for on_commit),
    and a transition that rolls back leaves the lease as it was."""
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")
    assert leases.lease_take(kind=JOB, object_id=job.pk, token="", owner="t1")

    with pytest.raises(RuntimeError), transaction.atomic():
        jobs.job_mark_failed(job_id=job.pk, error="boom")
        raise RuntimeError
    assert not Lease.objects.get(kind=JOB, object_id=job.pk).done

    with django_capture_on_commit_callbacks(execute=False):
        jobs.job_mark_failed(job_id=job.pk, error="boom")
        lease = Lease.objects.get(kind=JOB, object_id=job.pk)
        assert (lease.done, lease.owner) == (True, "")


# --- F1: a job canceled while its submit is in flight ----------------------------------------


@pytest.mark.parametrize(
    ("outcome", "final"),
    [
        (CancelOutcome.CANCELED, Status.CANCELED),
        (CancelOutcome.NOT_FOUND, Status.CANCELED),
        (CancelOutcome.ALREADY_COMPLETED, Status.SUCCEEDED),
    ],
)
def test_f1_cancel_during_submit_keeps_the_request_id_and_stops_it_remotely(
    fake, no_enqueue, settings, http_base, outcome, final
) -> None:
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.result_url = f"{http_base}/video.mp4"
    fake.cancel_outcome = outcome
    job = _fake_job()
    fake.during_submit = staticmethod(lambda: jobs.job_cancel(job_id=job.pk))

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert job.provider_request_id == "fake-1"  # stored, not dropped
    assert fake.cancel_calls == ["fake-1"]  # the paid request was asked to stop
    assert job.status == final
    assert len(fake.submit_calls) == 1
    assert "job.cancel_requested" in _actions(job)


def test_f1_cancel_before_the_submit_starts_sends_nothing(fake, no_enqueue) -> None:
    job = _fake_job()
    jobs.job_cancel(job_id=job.pk)

    assert jobs.job_drive(job_id=job.pk, token="", owner="t1") is None

    assert GenerationJob.objects.get(pk=job.pk).status == Status.CANCELED
    assert fake.submit_calls == []


def test_f1_cancel_of_a_remote_job_waits_for_the_provider(fake, no_enqueue) -> None:
    fake.cancel_outcome = CancelOutcome.REQUESTED
    fake.status_report = StatusReport(state=RemoteState.RUNNING)
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-9")

    jobs.job_cancel(job_id=job.pk)
    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert wait is not None  # still running: polled until the provider confirms
    assert GenerationJob.objects.get(pk=job.pk).status == Status.RUNNING
    fake.status_report = StatusReport(state=RemoteState.CANCELED)
    jobs.job_drive(job_id=job.pk, token=_drives(no_enqueue)[-1][1], owner="t2")
    assert GenerationJob.objects.get(pk=job.pk).status == Status.CANCELED


def test_canceling_a_finished_job_is_refused() -> None:
    job = JobFactory(status=Status.FAILED)
    with pytest.raises(InvalidTransition, match="'failed' to 'canceled'"):
        jobs.job_cancel(job_id=job.pk)


@pytest.mark.django_db(transaction=True)
def test_f1_cancel_from_another_thread_during_submit(fake, no_enqueue) -> None:
    job = _fake_job()
    in_submit, canceled = threading.Event(), threading.Event()

    def submit_waits() -> None:
        in_submit.set()
        assert canceled.wait(10)

    fake.during_submit = staticmethod(submit_waits)
    driver = _in_thread(lambda: jobs.job_drive(job_id=job.pk, token="", owner="t1"))
    assert in_submit.wait(10)
    jobs.job_cancel(job_id=job.pk)
    canceled.set()
    driver.join(20)

    job.refresh_from_db()
    assert (job.status, job.provider_request_id, fake.cancel_calls) == (
        Status.CANCELED,
        "fake-1",
        ["fake-1"],
    )


# --- F2: duplicate messages never start a second chain ---------------------------------------


def test_f2_a_duplicate_submit_message_does_nothing(fake, no_enqueue) -> None:
    job = _fake_job()

    jobs.job_drive(job_id=job.pk, token="", owner="t1")
    assert jobs.job_drive(job_id=job.pk, token="", owner="t2") is None  # redelivered copy

    assert len(fake.submit_calls) == 1
    assert len(_drives(no_enqueue)) == 1  # one poll chain
    # A message from before the last hand-over is void even when nobody holds the lease.
    old = _drives(no_enqueue)[0][1]
    jobs.job_drive(job_id=job.pk, token=old, owner="t3")
    assert jobs.job_drive(job_id=job.pk, token=old, owner="t4") is None
    assert len(_drives(no_enqueue)) == 2


def test_a_message_redelivered_after_its_worker_died_takes_over_at_once(fake, no_enqueue) -> None:
    job = _fake_job()
    assert leases.lease_take(kind=JOB, object_id=job.pk, token="", owner="t1")
    # t1 died holding the lease; another task may not take it while it is unexpired...
    assert jobs.job_drive(job_id=job.pk, token="", owner="t2") is None
    # ...but the same message, redelivered with its task id, may.
    assert jobs.job_drive(job_id=job.pk, token="", owner="t1") is not None
    assert len(fake.submit_calls) == 1


@pytest.mark.django_db(transaction=True)
def test_f2_concurrent_duplicate_messages_submit_once(fake, no_enqueue) -> None:
    job = _fake_job()
    start = threading.Barrier(4)

    def drive(owner: str) -> None:
        start.wait(10)
        jobs.job_drive(job_id=job.pk, token="", owner=owner)

    threads = [_in_thread(drive, f"t{i}") for i in range(4)]
    for thread in threads:
        thread.join(20)

    assert len(fake.submit_calls) == 1
    assert len(_drives(no_enqueue)) == 1


def test_a_webhook_and_a_poll_report_the_same_completion_once(fake, no_enqueue) -> None:
    from generation.providers.base import WebhookEvent

    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")
    done = StatusReport(state=RemoteState.COMPLETED)
    event = WebhookEvent(request_id="fake-1", delivery_id="d1", status=done)

    assert jobs.job_apply_event(provider="fake", event=event) == jobs.WebhookOutcome.APPLIED
    assert jobs.job_apply_event(provider="fake", event=event) == jobs.WebhookOutcome.REPLAYED
    jobs.job_apply_report(job_id=job.pk, report=done)  # the poll's late copy
    jobs.job_apply_report(job_id=job.pk, report=StatusReport(state=RemoteState.RUNNING))

    assert GenerationJob.objects.get(pk=job.pk).status == Status.DOWNLOADING
    assert _actions(job) == ["job.downloading"]
    unknown = WebhookEvent(request_id="nope", delivery_id="d2", status=done)
    assert jobs.job_apply_event(provider="fake", event=unknown) == jobs.WebhookOutcome.UNKNOWN


# --- F3: the reconciler leaves a long download alone --------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_f3_reconciler_does_not_double_a_long_running_download(
    fake, no_enqueue, settings, monkeypatch
) -> None:
    settings.GREENLIGHT_LEASE_SECONDS = 0.3  # renewed every 0.1 s while the download runs
    settings.GREENLIGHT_REDRIVE_GRACE = 0
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")
    in_download, release = threading.Event(), threading.Event()

    def slow_download(self, result, target, *, max_bytes, deadline_s):
        in_download.set()
        assert release.wait(10)
        target.write_bytes(b"video bytes")
        return 11

    monkeypatch.setattr(fake, "download", slow_download)
    driver = _in_thread(lambda: jobs.job_drive(job_id=job.pk, token="", owner="t1"))
    assert in_download.wait(10)
    for _ in range(10):  # well past several lease lengths
        time.sleep(0.1)
        jobs.jobs_reconcile()
    release.set()
    driver.join(20)

    assert _drives(no_enqueue) == []
    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    stored = default_storage.listdir(f"jobs/{job.pk}")[1]
    assert stored == [job.output.name.rsplit("/", 1)[1]]  # one file, no orphan


def test_a_dead_workers_lease_is_redriven_once_with_a_fresh_token(fake, no_enqueue) -> None:
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")
    assert leases.lease_take(kind=JOB, object_id=job.pk, token="", owner="dead")
    later = timezone.now() + timedelta(hours=2)

    counts = jobs.jobs_reconcile(now=later)
    jobs.jobs_reconcile(now=later)  # a second run before the new message ran adds nothing

    assert counts == {"redriven": 1, "gave_up": 0}
    ((job_id, token),) = _drives(no_enqueue)
    lease = Lease.objects.get(kind=JOB, object_id=job.pk)
    assert (token, lease.redrives, lease.owner) == (lease.token, 1, "")
    assert jobs.job_drive(job_id=job.pk, token="", owner="dead") is None  # the old one is void


def test_an_active_job_whose_first_message_was_lost_is_redriven(no_enqueue) -> None:
    job = JobFactory()
    GenerationJob.objects.filter(pk=job.pk).update(
        updated_at=timezone.now() - timedelta(minutes=5),
        created_at=timezone.now() - timedelta(minutes=5),
    )

    assert jobs.jobs_reconcile() == {"redriven": 1, "gave_up": 0}
    assert _drives(no_enqueue) == [(job.pk, Lease.objects.get(object_id=job.pk).token)]


# --- F4: a lost answer never leads to a second paid submission --------------------------------


def _crash_after_submit(monkeypatch) -> None:
    real = jobs.job_mark_submitted

    def crash(**kwargs):
        monkeypatch.setattr(jobs, "job_mark_submitted", real)
        raise KeyboardInterrupt("worker lost before the request id was stored")

    monkeypatch.setattr(jobs, "job_mark_submitted", crash)


def test_f4_after_a_lost_answer_the_request_is_looked_up_not_resent(
    fake, no_enqueue, monkeypatch
) -> None:
    job = _fake_job()
    looked_up = []

    def lookup(self, *, idempotency_key):
        looked_up.append(idempotency_key)
        return Submission(request_id="fake-1")

    monkeypatch.setattr(fake, "lookup", lookup)
    _crash_after_submit(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        jobs.job_drive(job_id=job.pk, token="", owner="t1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")  # redelivered

    job.refresh_from_db()
    assert len(fake.submit_calls) == 1
    assert fake.submit_calls[0][1] == job.idempotency_key == looked_up[0]
    # Found, stored and polled on (the scripted provider reports it running).
    assert (job.status, job.provider_request_id) == (Status.RUNNING, "fake-1")


def test_f4_without_a_lookup_the_job_fails_instead_of_paying_twice(
    fake, no_enqueue, monkeypatch
) -> None:
    job = _fake_job()
    _crash_after_submit(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        jobs.job_drive(job_id=job.pk, token="", owner="t1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert len(fake.submit_calls) == 1
    assert (job.status, job.error_code) == (Status.FAILED, "ambiguous_submit")
    assert "avoid paying twice" in job.error


def test_f4_the_animatic_deduplicates_by_key_and_renders_once(no_enqueue, monkeypatch) -> None:
    from generation.providers import animatic

    renders = []
    real_render = animatic.render_animatic
    monkeypatch.setattr(
        animatic, "render_animatic", lambda **kw: renders.append(1) or real_render(**kw)
    )
    job = JobFactory()
    _crash_after_submit(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        jobs.job_drive(job_id=job.pk, token="", owner="t1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert GenerationJob.objects.get(pk=job.pk).status == Status.SUCCEEDED
    assert len(renders) == 1


# --- F6: one taxonomy, decided by kind -------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        MalformedResponse("garbled"),
        TransientError("503"),
        RateLimited("429", retry_after=42),
        ProviderError.__new__(TransientError),
    ],
)
def test_f6_retryable_errors_back_off_instead_of_failing(fake, no_enqueue, monkeypatch, error):
    if not error.args:
        error.__init__("plain transient")
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")

    def status(self, submission):
        raise error

    monkeypatch.setattr(fake, "status", status)
    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.retries) == (Status.RUNNING, 1)
    if isinstance(error, RateLimited):
        assert wait == 42
    else:
        assert 1.0 <= wait <= 3.0  # 2 s base with jitter
    assert len(_drives(no_enqueue)) == 1


def test_f6_retries_are_counted_and_bounded(
    fake, no_enqueue, monkeypatch, settings, django_capture_on_commit_callbacks
) -> None:
    settings.GREENLIGHT_MAX_RETRIES = 2
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")
    monkeypatch.setattr(fake, "status", lambda self, s: (_ for _ in ()).throw(TransientError("x")))

    token = ""
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            jobs.job_drive(job_id=job.pk, token=token, owner=f"t{n}")
            token = Lease.objects.get(object_id=job.pk).token

    job.refresh_from_db()
    assert (job.status, job.retries, job.error) == (Status.FAILED, 3, "gave up after 2 retries: x")
    assert no_enqueue[-1] == (CANCEL, (job.pk,))  # the remote request is asked to stop


def test_f6_rejections_fail_at_once_with_the_reason(fake, no_enqueue) -> None:
    fake.submit_error = RequestRejected("content policy: violence", code="content_policy")
    job = _fake_job()

    assert jobs.job_drive(job_id=job.pk, token="", owner="t1") is None

    job.refresh_from_db()
    assert (job.status, job.error_code, job.error) == (
        Status.FAILED,
        "content_policy",
        "content policy: violence",
    )


def test_a_request_the_model_cannot_serve_is_refused_before_sending(fake, no_enqueue) -> None:
    job = _fake_job(request={"prompt": "p", "duration_s": 99, "model": "fake-1"})

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "unsupported_request")
    assert "not 99" in job.error
    assert fake.submit_calls == []


def test_the_animatic_rejects_what_it_cannot_render() -> None:
    job = JobFactory(request={"prompt": "p", "duration_s": 3, "language": "xx"})

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error_code == "unsupported_request"


# --- F7: what a hosted provider may hand back -------------------------------------------------


def test_f7_a_hosted_provider_cannot_hand_back_a_local_file(fake, no_enqueue, tmp_path) -> None:
    secret = tmp_path / "secret.mp4"
    secret.write_bytes(b"not yours")
    fake.result_url = secret.as_uri()
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "bad_url")
    assert not job.output


def test_an_expired_url_is_asked_for_once_more(fake, no_enqueue, settings, http_base) -> None:
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    urls = iter([f"{http_base}/expired.mp4", f"{http_base}/video.mp4"])
    fake.result = lambda self, submission: ResultReport(url=next(urls))
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert GenerationJob.objects.get(pk=job.pk).status == Status.SUCCEEDED


def test_a_url_that_stays_expired_fails_clearly(fake, no_enqueue, settings, http_base) -> None:
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.result_url = f"{http_base}/gone.mp4"
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "result_expired")
    assert "410" in job.error


# --- F8: what it cost, with which seed ---------------------------------------------------------


def test_f8_the_billed_cost_seed_and_raw_result_are_kept(
    fake, no_enqueue, settings, http_base
) -> None:
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.result_report = ResultReport(
        url=f"{http_base}/video.mp4",
        cost_usd=Decimal("0.7312"),
        seed=987654321,
        usage={"duration_s": 3},
        raw={"video": {"file_size": 10}},
    )
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.cost_usd, job.seed) == (Decimal("0.7312"), 987654321)
    assert job.result == {"usage": {"duration_s": 3}, "raw": {"video": {"file_size": 10}}}


def test_f8_without_a_billed_cost_the_delivered_seconds_are_priced(
    fake, no_enqueue, settings, http_base
) -> None:
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    # Asked for 3 s, delivered 5 s: $0.50 a second for what arrived.
    fake.result_report = ResultReport(url=f"{http_base}/video.mp4", usage={"duration_s": 5})
    job = _fake_job(status=Status.DOWNLOADING, provider_request_id="fake-1")

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert GenerationJob.objects.get(pk=job.pk).cost_usd == Decimal("2.5")


# --- F9: deadlines, soft time limits, timeouts, queues ------------------------------------------


def test_f9_a_job_past_its_deadline_fails_and_stops_remotely(
    fake, no_enqueue, django_capture_on_commit_callbacks
) -> None:
    job = _fake_job(
        status=Status.RUNNING,
        provider_request_id="fake-1",
        deadline_at=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "deadline")
    assert no_enqueue[-1] == (CANCEL, (job.pk,))


def test_f9_a_soft_time_limit_releases_the_lease_and_counts_a_retry(
    fake, no_enqueue, monkeypatch
) -> None:
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")

    def slow(self, submission):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(fake, "status", slow)
    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert wait is not None
    job.refresh_from_db()
    assert job.retries == 1
    lease = Lease.objects.get(object_id=job.pk)
    assert lease.owner == "" and _drives(no_enqueue) == [(job.pk, lease.token)]


def test_f9_the_reconciler_gives_up_after_its_budget(fake, no_enqueue, settings) -> None:
    settings.GREENLIGHT_MAX_REDRIVES = 2
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")
    now = timezone.now()
    for n in range(3):
        Lease.objects.update_or_create(
            kind=JOB, object_id=job.pk, defaults={"expires_at": now - timedelta(hours=1)}
        )
        jobs.jobs_reconcile(now=now + timedelta(minutes=n))

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "stalled")
    assert "lost 2 times" in job.error
    lease = Lease.objects.get(object_id=job.pk)
    assert lease.done and lease.gave_up_at is not None


def test_f9_every_inner_timeout_is_inside_its_tasks_soft_limit(settings) -> None:
    from generation.providers import animatic, http

    soft = settings.GREENLIGHT_TASK_LIMITS["drive"][0]
    espeak = 60
    assert animatic.render_timeout(animatic.MAX_DURATION_S) + espeak < soft
    assert http.DEFAULT_TIMEOUT.read < soft and http.DEFAULT_TIMEOUT.connect < soft
    assert soft > settings.GREENLIGHT_DOWNLOAD_DEADLINE
    for soft_limit, hard_limit in settings.GREENLIGHT_TASK_LIMITS.values():
        assert soft_limit < hard_limit


def test_f9_backoff_has_jitter_and_honours_retry_after_within_the_cap(settings) -> None:
    waits = {jobs.backoff_seconds(failures=3, exc=TransientError("x")) for _ in range(50)}
    assert len(waits) > 40 and all(4.0 <= w <= 12.0 for w in waits)  # 8 s × [0.5, 1.5]
    assert jobs.backoff_seconds(failures=1, exc=RateLimited("x", retry_after=30)) == 30
    settings.GREENLIGHT_RETRY_AFTER_CAP = 100
    assert jobs.backoff_seconds(failures=1, exc=RateLimited("x", retry_after=86400)) == 100


def test_f9_work_is_routed_to_its_own_queue_and_a_plain_worker_consumes_all(settings) -> None:
    from config.celery import app

    routes = settings.CELERY_TASK_ROUTES
    assert routes["generation.tasks.drive_job"]["queue"] == "providers"
    assert routes["assets.tasks.ingest_clip"]["queue"] == "media"
    assert routes["review.tasks.archive_review"]["queue"] == "archive"
    consumed = {q.name for q in app.conf.task_queues}
    assert {"celery", "providers", "media", "archive", "webhooks"} <= consumed


def test_f9_redis_visibility_timeout_is_above_the_longest_hold(monkeypatch) -> None:
    import importlib

    import config.settings as config_settings

    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
    module = importlib.reload(config_settings)
    try:
        longest_countdown = max(module.GREENLIGHT_RETRY_AFTER_CAP, module.GREENLIGHT_POLL_MAX)
        longest_limit = max(h for _s, h in module.GREENLIGHT_TASK_LIMITS.values())
        timeout = module.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        assert timeout > longest_countdown + longest_limit
    finally:
        monkeypatch.undo()
        importlib.reload(config_settings)


def test_ambiguous_submits_are_retried_only_through_a_lookup(fake, no_enqueue) -> None:
    fake.submit_error = AmbiguousSubmit("timed out after sending", code="ambiguous")
    job = _fake_job()

    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert wait is not None and job.status == Status.QUEUED and job.submit_started_at
    fake.submit_error = None
    jobs.job_drive(job_id=job.pk, token=_drives(no_enqueue)[-1][1], owner="t2")
    job.refresh_from_db()
    # The scripted provider cannot look requests up: failing beats a second paid submit.
    assert (job.status, job.error_code, len(fake.submit_calls)) == (
        Status.FAILED,
        "ambiguous_submit",
        1,
    )


def test_an_unexpected_error_in_a_step_is_a_bounded_retry(fake, no_enqueue, monkeypatch) -> None:
    job = _fake_job(status=Status.RUNNING, provider_request_id="fake-1")

    def broken(self, submission):
        raise KeyError("status")

    monkeypatch.setattr(fake, "status", broken)
    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert wait is not None and (job.status, job.retries) == (Status.RUNNING, 1)
    assert Lease.objects.get(object_id=job.pk).owner == ""


@pytest.mark.parametrize(
    "error",
    [RateLimited("429", retry_after=5), TransientError("503 busy", status_code=503)],
)
def test_a_submit_the_provider_answered_with_an_error_is_sent_again(fake, no_enqueue, error):
    """A 429 or 503 means nothing was created: the retry submits again, it does not look up."""
    fake.submit_error = error
    job = _fake_job()

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.submit_started_at) == (Status.QUEUED, None)
    fake.submit_error = None
    jobs.job_drive(job_id=job.pk, token=_drives(no_enqueue)[-1][1], owner="t2")
    job.refresh_from_db()
    assert job.status == Status.RUNNING and len(fake.submit_calls) == 2


def test_a_provider_at_its_concurrency_limit_waits_without_counting_a_retry(
    fake, no_enqueue, settings
) -> None:
    settings.GREENLIGHT_PROVIDER_CONCURRENCY = {"fake": 1}
    _fake_job(status=Status.RUNNING, provider_request_id="fake-busy")
    job = _fake_job()

    wait = jobs.job_drive(job_id=job.pk, token="", owner="t1")

    job.refresh_from_db()
    assert (job.status, job.retries, fake.submit_calls) == (Status.QUEUED, 0, [])
    assert wait >= settings.GREENLIGHT_POLL_INTERVAL
    GenerationJob.objects.filter(provider_request_id="fake-busy").update(status=Status.FAILED)
    jobs.job_drive(job_id=job.pk, token=_drives(no_enqueue)[-1][1], owner="t2")
    assert len(fake.submit_calls) == 1


def test_the_concurrency_limit_counts_only_other_jobs_of_the_provider_in_flight(
    fake, no_enqueue, settings
) -> None:
    """Submitted, running and submit-started jobs of the provider fill slots; the job itself,
    finished jobs and other providers' do not. The check rides on the submit's UPDATE."""
    settings.GREENLIGHT_PROVIDER_CONCURRENCY = {"fake": 2}
    fake.idempotent_submit = True  # its interrupted submit is simply sent again
    _fake_job(status=Status.SUBMITTED, provider_request_id="fake-a")
    _fake_job(status=Status.FAILED)
    JobFactory(status=Status.RUNNING, provider_request_id="other-provider")
    job = _fake_job(submit_started_at=timezone.now())  # its own slot is not another's

    jobs.job_drive(job_id=job.pk, token="", owner="t1")

    assert len(fake.submit_calls) == 1  # one slot was free
    waiting = _fake_job()
    _fake_job(submit_started_at=timezone.now())  # a submit in flight fills the second slot
    GenerationJob.objects.filter(pk=job.pk).update(status=Status.FAILED)
    wait = jobs.job_drive(job_id=waiting.pk, token="", owner="t2")
    waiting.refresh_from_db()
    assert wait >= settings.GREENLIGHT_POLL_INTERVAL and len(fake.submit_calls) == 1
    assert (waiting.status, waiting.submit_started_at, waiting.retries) == (Status.QUEUED, None, 0)


def test_a_job_canceled_while_waiting_for_a_slot_is_canceled_not_kept_waiting(
    fake, no_enqueue, settings
) -> None:
    settings.GREENLIGHT_PROVIDER_CONCURRENCY = {"fake": 1}
    _fake_job(status=Status.RUNNING, provider_request_id="fake-busy")
    job = _fake_job(cancel_requested_at=timezone.now())

    assert jobs.job_drive(job_id=job.pk, token="", owner="t1") is None

    job.refresh_from_db()
    assert job.status == Status.CANCELED and fake.submit_calls == []


def test_a_message_for_a_job_that_is_gone_is_ignored_and_cleaned_up(no_enqueue) -> None:
    assert jobs.job_drive(job_id=987654, token="", owner="t1") is None

    lease = Lease.objects.get(kind=JOB, object_id=987654)
    assert (lease.owner, lease.done) == ("", False)
    # The reconciler finishes a lease whose job does not exist, sending nothing.
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Lease.objects.filter(pk=lease.pk).update(expires_at=an_hour_ago, taken_at=an_hour_ago)
    assert jobs.jobs_reconcile() == {"redriven": 0, "gave_up": 0}
    assert Lease.objects.get(pk=lease.pk).done and _drives(no_enqueue) == []


# --- Queues: every drive message of a job goes to its provider's queue --------------------


@pytest.fixture
def queued(monkeypatch) -> list[tuple[str, tuple, str]]:
    """Messages sent, with the queue each went to (apply_async's option, else the route)."""
    from celery.app.task import Task
    from django.conf import settings

    calls: list[tuple[str, tuple, str]] = []

    def apply_async(self, args=None, kwargs=None, **options):
        queue = options.get("queue") or settings.CELERY_TASK_ROUTES.get(self.name, {}).get(
            "queue", settings.CELERY_TASK_DEFAULT_QUEUE
        )
        calls.append((self.name, tuple(args or ()), queue))

    monkeypatch.setattr(Task, "apply_async", apply_async)
    monkeypatch.setattr(Task, "delay", lambda self, *args, **kw: apply_async(self, args, kw))
    return calls


def _drive_queues(queued) -> list[str]:
    return [queue for name, _args, queue in queued if name == DRIVE]


def _overdue(job) -> None:
    """A lease whose holder stopped renewing an hour ago: its worker is gone."""
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Lease.objects.update_or_create(
        kind=JOB,
        object_id=job.pk,
        defaults={"owner": "dead-worker", "expires_at": an_hour_ago, "taken_at": an_hour_ago},
    )


def test_a_jobs_first_message_hand_overs_retries_kicks_and_re_drives_share_one_queue(
    fake, queued, settings, django_capture_on_commit_callbacks
) -> None:
    """Routing is by provider in one place (`jobs.drive_queue`), not by task name: a provider
    mapped to "media" gets every drive message there, whoever sends it."""
    settings.GREENLIGHT_DRIVE_QUEUES = {"fake": "media"}
    # A poll that must wait hands the lease to a later message.
    fake.status_report = StatusReport(state=RemoteState.QUEUED, poll_after_s=5)
    polled = _fake_job()
    jobs.job_drive(job_id=polled.pk, token="", owner="t1")
    # A transient failure schedules the retry.
    fake.submit_error = TransientError("502 from the gateway")
    retried = _fake_job()
    jobs.job_drive(job_id=retried.pk, token="", owner="t2")
    # A cancel wakes the driver of a job waiting for its next poll.
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_cancel(job_id=polled.pk)
    # The reconciler re-drives a job whose worker went quiet.
    stalled = _fake_job(status=Status.RUNNING, provider_request_id="fake-9")
    _overdue(stalled)
    assert jobs.jobs_reconcile()["redriven"] == 1
    # The first message of a new attempt.
    with django_capture_on_commit_callbacks(execute=True):
        from generation.services import _enqueue_submit

        _enqueue_submit(_fake_job())

    assert _drive_queues(queued) == ["media"] * 5, queued
    settings.GREENLIGHT_DRIVE_QUEUES = {}
    _overdue(_fake_job(status=Status.RUNNING, provider_request_id="fake-10"))
    jobs.jobs_reconcile()
    assert _drive_queues(queued)[-1] == "providers"


def test_a_cuts_retries_and_re_drives_go_to_the_media_queue_like_its_first_message(
    queued, django_capture_on_commit_callbacks
) -> None:
    """Issue 8: cut_assemble sent the first drive_job of a cut to "media", but the driver and
    the reconciler routed by task name, so every later message of the cut went to
    "providers"; the animatic and hosted providers stay there."""
    cut = JobFactory(provider="sequence", model="sequence-join", status=Status.QUEUED)
    _overdue(cut)
    animatic = JobFactory()
    _overdue(animatic)
    assert jobs.jobs_reconcile()["redriven"] == 2
    by_job = {args[0]: queue for name, args, queue in queued if name == DRIVE}
    assert by_job == {cut.pk: "media", animatic.pk: "providers"}
    # A kick (a cancel of a cut whose submit may have started) goes to the same queue.
    GenerationJob.objects.filter(pk=cut.pk).update(submit_started_at=timezone.now())
    Lease.objects.filter(kind=JOB, object_id=cut.pk).update(
        owner="", expires_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        jobs.job_cancel(job_id=cut.pk)
    assert _drive_queues(queued)[-1] == "media"


def test_the_lease_admins_re_drive_sends_a_cut_to_the_media_queue(
    client, queued, fast_password_hasher
) -> None:
    """Ops' "Re-drive now" on given-up work routes like every other drive message: a cut's
    job to "media", an animatic job to "providers"; the lease's failure counts are cleared."""
    from django.urls import reverse

    from tests.factories import UserFactory

    cut = JobFactory(provider="sequence", model="sequence-join", status=Status.QUEUED)
    animatic = JobFactory()
    given_up = timezone.now() - timedelta(minutes=5)
    for job in (cut, animatic):
        Lease.objects.create(
            kind=JOB, object_id=job.pk, token="old", owner="", expires_at=given_up,
            gave_up_at=given_up, failures=3, redrives=2,
        )  # fmt: skip
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:generation_lease_changelist"),
        {
            "action": "redrive",
            "_selected_action": list(Lease.objects.values_list("pk", flat=True)),
        },
    )

    assert response.status_code == 302
    by_job = {args[0]: queue for name, args, queue in queued if name == DRIVE}
    assert by_job == {cut.pk: "media", animatic.pk: "providers"}
    assert set(Lease.objects.values_list("failures", "redrives", "gave_up_at")) == {(0, 0, None)}
