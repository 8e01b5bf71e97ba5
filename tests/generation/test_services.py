from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from assets.models import Clip
from generation import providers, services
from generation.matrix import MatrixError, TemplateError
from generation.models import AuditEvent, Brief, GenerationJob, Membership, Variant
from generation.providers.animatic import AnimaticProvider
from generation.providers.base import (
    MalformedResponse,
    Provider,
    ProviderError,
    RemoteState,
    RequestRejected,
    ResultReport,
    StatusReport,
    TransientError,
)
from generation.statemachine import InvalidTransition
from tests.factories import (
    CampaignFactory,
    JobFactory,
    MembershipFactory,
    UserFactory,
    VariantFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

Status = GenerationJob.Status
SUBMIT = "generation.tasks.submit_job"
POLL = "generation.tasks.poll_job"
DOWNLOAD = "generation.tasks.download_job"
CANCEL = "generation.tasks.cancel_remote"
INGEST = "assets.tasks.ingest_clip"


class FakeProvider(Provider):
    """A scriptable provider; the `fake_provider` fixture hands out a fresh subclass."""

    name = "fake"
    label = "Fake"
    models = ("fake-1",)
    price_per_second = {"fake-1": 0.5}

    submit_calls: list
    submit_error: Exception | None = None
    status_report: StatusReport = StatusReport(state=RemoteState.RUNNING, progress=0.5)
    result_url: str = ""

    def submit(self, request):
        type(self).submit_calls.append(request)
        if self.submit_error is not None:
            raise self.submit_error
        return f"fake-{len(self.submit_calls)}"

    def status(self, request_id):
        return self.status_report

    def result(self, request_id):
        return ResultReport(url=self.result_url)

    def cancel(self, request_id):
        pass


@pytest.fixture
def fake_provider(monkeypatch) -> type[FakeProvider]:
    provider = type("Fake", (FakeProvider,), {"submit_calls": []})
    monkeypatch.setattr(
        providers, "_registry", lambda: {"animatic": AnimaticProvider, "fake": provider}
    )
    return provider


def _creator(campaign):
    return MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user


def _input(**overrides) -> services.BriefInput:
    data = services.BriefInput(
        title="Spring",
        prompt="{hook} bottle, {aspect_ratio}, {duration}s",
        script="Fresh in {language}",
        shots="Fresh\nBright",
        hooks=["Wake up"],
        aspect_ratios=["16:9", "9:16"],
        durations=[3],
        languages=["en", "fr"],
        resolution="720p",
        provider="animatic",
    )
    return replace(data, **overrides)


def _audit(job) -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(
        object_type="generation.generationjob", object_id=str(job.pk)
    ).order_by("pk")
    return list(rows.values_list("action", "from_state", "to_state"))


def _nothing_written() -> bool:
    return not (
        Brief.objects.exists() or Variant.objects.exists() or GenerationJob.objects.exists()
    )


# --- brief_create ------------------------------------------------------------------------------


def test_brief_create_makes_variants_and_jobs_and_enqueues_on_commit(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    campaign = CampaignFactory(name="Launch")
    user = _creator(campaign)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        brief = services.brief_create(campaign=campaign, user=user, data=_input())
        assert no_enqueue == []

    variants = list(brief.variants.order_by("position"))
    assert len(variants) == 4
    assert variants[0].prompt == "Wake up bottle, 16:9, 3s"
    assert variants[0].script == "Fresh in en"
    assert brief.model == "animatic-v1"
    assert brief.created_by == user
    jobs = list(GenerationJob.objects.filter(variant__brief=brief).order_by("pk"))
    assert len(jobs) == 4
    assert {(j.status, j.attempt, j.provider, j.model) for j in jobs} == {
        (Status.QUEUED, 1, "animatic", "animatic-v1")
    }
    assert jobs[0].request["shots"] == ["Fresh", "Bright"]
    assert jobs[0].request["title"] == "Spring"
    assert {j.requested_by for j in jobs} == {user}
    assert len(callbacks) == 4
    assert no_enqueue == [(SUBMIT, (j.pk,)) for j in jobs]
    assert AuditEvent.objects.filter(action="brief.create", object_id=str(brief.pk)).exists()


def test_staff_without_membership_may_not_create_briefs(no_enqueue) -> None:
    # Staff status opens the admin; it is not a campaign role (issue 9).
    campaign = CampaignFactory()
    staff = UserFactory(is_staff=True, is_superuser=True)

    with pytest.raises(services.PermissionDenied):
        services.brief_create(campaign=campaign, user=staff, data=_input())

    assert _nothing_written()


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.APPROVER, None])
def test_brief_create_needs_the_creator_role(role, no_enqueue) -> None:
    campaign = CampaignFactory()
    user = MembershipFactory(campaign=campaign, role=role).user if role else UserFactory()

    with pytest.raises(services.PermissionDenied):
        services.brief_create(campaign=campaign, user=user, data=_input())

    assert _nothing_written()


def test_brief_create_over_budget_writes_nothing(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("5.00"))
    user = _creator(campaign)

    # 4 variants x 3 s x $0.50 = $6.00.
    with pytest.raises(services.BudgetExceeded) as excinfo:
        services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    assert str(excinfo.value) == (
        f"this needs $6.00 but {campaign} has $5.00 left of its $5.00 budget"
    )
    assert _nothing_written()
    assert not AuditEvent.objects.filter(action="brief.create").exists()


def test_brief_create_counts_money_already_committed(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("10.00"))
    user = _creator(campaign)
    services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    with pytest.raises(services.BudgetExceeded):
        services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    assert Brief.objects.count() == 1
    assert services.campaign_spend(campaign=campaign) == Decimal("6.00")


def test_brief_create_unknown_provider(no_enqueue) -> None:
    campaign = CampaignFactory()

    with pytest.raises(ProviderError) as excinfo:
        services.brief_create(
            campaign=campaign, user=_creator(campaign), data=_input(provider="nope")
        )

    assert excinfo.value.code == "unknown_provider"
    assert _nothing_written()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [({"languages": []}, MatrixError), ({"prompt": "{offer}"}, TemplateError)],
)
def test_brief_create_bad_axes_or_template(overrides, error, no_enqueue) -> None:
    campaign = CampaignFactory()

    with pytest.raises(error):
        services.brief_create(campaign=campaign, user=_creator(campaign), data=_input(**overrides))

    assert _nothing_written()


# --- job_create ------------------------------------------------------------------------------


def test_job_create_queues_the_next_attempt(django_capture_on_commit_callbacks, no_enqueue) -> None:
    first = JobFactory(status=Status.FAILED)
    JobFactory(variant=first.variant, attempt=2, status=Status.CANCELED)
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(variant=first.variant, requested_by=user, notes="brighter")

    assert (job.attempt, job.status, job.notes, job.requested_by) == (
        3,
        Status.QUEUED,
        "brighter",
        user,
    )
    assert job.request["duration_s"] == first.variant.duration_s
    assert no_enqueue == [(SUBMIT, (job.pk,))]
    assert _audit(job) == [("job.create", "", "")]
    assert first.variant.jobs.count() == 3


def test_job_create_respects_the_budget(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("1.00"))
    variant = VariantFactory(
        brief__campaign=campaign, brief__provider="fake", brief__model="fake-1", duration_s=3
    )

    with pytest.raises(services.BudgetExceeded):
        services.job_create(variant=variant)

    assert not GenerationJob.objects.exists()


# --- job_mark_* --------------------------------------------------------------------------------


def test_job_claim_once() -> None:
    job = JobFactory()

    assert services.job_claim(job_id=job.pk) is True
    assert services.job_claim(job_id=job.pk) is False
    job.refresh_from_db()
    assert job.claimed_at is not None
    assert job.status == Status.QUEUED


def test_job_claim_refuses_a_job_past_queued() -> None:
    job = JobFactory(status=Status.SUBMITTED, provider_request_id="r1")
    assert services.job_claim(job_id=job.pk) is False


def test_job_mark_submitted() -> None:
    job = JobFactory()

    services.job_mark_submitted(job_id=job.pk, request_id="abc")

    job.refresh_from_db()
    assert job.status == Status.SUBMITTED
    assert job.provider_request_id == "abc"
    assert job.submitted_at is not None
    assert _audit(job) == [("job.submitted", "queued", "submitted")]
    assert AuditEvent.objects.get(action="job.submitted").data == {"request_id": "abc"}


def test_job_mark_running_then_progress_keeps_status() -> None:
    job = JobFactory(status=Status.SUBMITTED, provider_request_id="r1")

    services.job_mark_running(job_id=job.pk, progress=0.25)
    services.job_mark_running(job_id=job.pk, progress=0.75)

    job.refresh_from_db()
    assert (job.status, job.progress) == (Status.RUNNING, 0.75)
    assert _audit(job) == [("job.running", "submitted", "running")]


def test_job_mark_downloading() -> None:
    job = JobFactory(status=Status.RUNNING, provider_request_id="r1", progress=0.5)

    services.job_mark_downloading(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.progress) == (Status.DOWNLOADING, 1.0)
    assert _audit(job) == [("job.downloading", "running", "downloading")]


def test_job_mark_succeeded_creates_the_clip(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    job = JobFactory(
        status=Status.DOWNLOADING, provider_request_id="r1", error="old", error_code="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.job_mark_succeeded(
            job_id=job.pk, output_name="jobs/1/out.mp4", cost_usd=Decimal("1.5")
        )

    job.refresh_from_db()
    assert job.status == Status.SUCCEEDED
    assert job.output.name == "jobs/1/out.mp4"
    assert job.cost_usd == Decimal("1.5")
    assert job.finished_at is not None
    assert (job.error, job.error_code) == ("", "")
    assert _audit(job) == [("job.succeeded", "downloading", "succeeded")]
    clip = Clip.objects.get(job=job)
    assert (clip.status, clip.file.name, clip.version, clip.variant) == (
        Clip.Status.PROCESSING,
        "jobs/1/out.mp4",
        job.attempt,
        job.variant,
    )
    assert no_enqueue == [(INGEST, (clip.pk,))]


@pytest.mark.parametrize("status", [Status.QUEUED, Status.SUBMITTED, Status.RUNNING])
def test_job_mark_failed(status) -> None:
    job = JobFactory(status=status, provider_request_id="" if status == "queued" else "r1")

    services.job_mark_failed(job_id=job.pk, error="x" * 5000, code="boom")

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error == "x" * 4000
    assert job.error_code == "boom"
    assert job.finished_at is not None
    assert _audit(job) == [("job.failed", status, "failed")]


def test_job_cancel_with_a_request_id_asks_the_provider_after_commit(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    job = JobFactory(status=Status.RUNNING, provider_request_id="r1")
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job_id=job.pk, actor=user)
        assert no_enqueue == []

    job.refresh_from_db()
    assert job.status == Status.CANCELED
    assert no_enqueue == [(CANCEL, ("animatic", "r1"))]
    event = AuditEvent.objects.get(action="job.canceled")
    assert (event.actor, event.from_state, event.to_state) == (user, "running", "canceled")


def test_job_cancel_of_a_queued_job_needs_no_provider(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    job = JobFactory()

    with django_capture_on_commit_callbacks(execute=True):
        services.job_cancel(job_id=job.pk)

    assert GenerationJob.objects.get(pk=job.pk).status == Status.CANCELED
    assert no_enqueue == []


@pytest.mark.parametrize(
    ("status", "call"),
    [
        (Status.QUEUED, lambda pk: services.job_mark_downloading(job_id=pk)),
        (Status.QUEUED, lambda pk: services.job_mark_running(job_id=pk)),
        (
            Status.SUCCEEDED,
            lambda pk: services.job_mark_succeeded(job_id=pk, output_name="x", cost_usd=0),
        ),
        (Status.SUCCEEDED, lambda pk: services.job_mark_failed(job_id=pk, error="late")),
        (Status.FAILED, lambda pk: services.job_cancel(job_id=pk)),
        (Status.CANCELED, lambda pk: services.job_mark_submitted(job_id=pk, request_id="again")),
    ],
)
def test_forbidden_moves_raise_and_write_nothing(status, call) -> None:
    job = JobFactory(status=status, provider_request_id="r1" if status == "succeeded" else "")

    with pytest.raises(InvalidTransition) as excinfo:
        call(job.pk)

    assert f"cannot move from '{status.value}' to '" in str(excinfo.value)
    assert GenerationJob.objects.get(pk=job.pk).status == status
    assert _audit(job) == []


# --- job_submit / job_poll / job_download ---------------------------------------------------


def test_animatic_job_from_submit_to_clip(django_capture_on_commit_callbacks, no_enqueue) -> None:
    job = JobFactory()

    assert services.job_submit(job_id=job.pk) == "poll"
    job.refresh_from_db()
    assert job.status == Status.SUBMITTED
    assert len(job.provider_request_id) == 32

    assert services.job_poll(job_id=job.pk) == "download"
    assert GenerationJob.objects.get(pk=job.pk).status == Status.DOWNLOADING
    # Asked again while downloading, poll hands over to download without a provider call.
    assert services.job_poll(job_id=job.pk) == "download"

    with django_capture_on_commit_callbacks(execute=True):
        done = services.job_download(job_id=job.pk)

    assert done.status == Status.SUCCEEDED
    assert done.output.name.startswith(f"jobs/{job.pk}/")
    assert default_storage.size(done.output.name) > 10_000
    with default_storage.open(done.output.name, "rb") as fh:
        assert fh.read(12)[4:8] == b"ftyp"
    assert done.cost_usd == Decimal("0")
    clip = Clip.objects.get(job=job)
    assert clip.file.name == done.output.name
    assert no_enqueue == [(INGEST, (clip.pk,))]
    assert [a for a, _f, _t in _audit(job)] == [
        "job.submitted",
        "job.downloading",
        "job.succeeded",
    ]
    # Everything after the end is a no-op.
    assert services.job_submit(job_id=job.pk) is None
    assert services.job_poll(job_id=job.pk) is None
    assert services.job_download(job_id=job.pk) is None


def test_animatic_rejection_fails_the_job() -> None:
    job = JobFactory(request={"prompt": "p", "duration_s": 3, "language": "xx"})

    assert services.job_submit(job_id=job.pk) is None

    job.refresh_from_db()
    assert job.status == Status.FAILED
    assert job.error_code == "unsupported_language"
    assert "language 'xx' is not supported" in job.error


def test_job_submit_rejected_fails_with_the_message(fake_provider) -> None:
    fake_provider.submit_error = RequestRejected("content policy: no bottles", code="policy")
    job = JobFactory(provider="fake")

    assert services.job_submit(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error, job.error_code) == (
        Status.FAILED,
        "content policy: no bottles",
        "policy",
    )
    assert job.provider_request_id == ""


def test_job_submit_error_without_code_is_rejected(fake_provider) -> None:
    fake_provider.submit_error = RequestRejected("no")
    job = JobFactory(provider="fake")

    services.job_submit(job_id=job.pk)

    assert GenerationJob.objects.get(pk=job.pk).error_code == "rejected"


def test_job_submit_transient_error_releases_the_claim(fake_provider) -> None:
    fake_provider.submit_error = TransientError("503 from the provider")
    job = JobFactory(provider="fake")

    with pytest.raises(TransientError):
        services.job_submit(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.claimed_at, job.provider_request_id) == (Status.QUEUED, None, "")
    # The retry can claim it again and succeed.
    fake_provider.submit_error = None
    assert services.job_submit(job_id=job.pk) == "poll"
    assert len(fake_provider.submit_calls) == 2


def test_a_job_with_a_request_id_is_never_submitted_again(fake_provider) -> None:
    job = JobFactory(provider="fake")

    assert services.job_submit(job_id=job.pk) == "poll"
    assert services.job_submit(job_id=job.pk) == "poll"

    assert len(fake_provider.submit_calls) == 1
    assert GenerationJob.objects.get(pk=job.pk).provider_request_id == "fake-1"


def test_a_claimed_job_is_left_to_its_worker(fake_provider) -> None:
    job = JobFactory(provider="fake")
    assert services.job_claim(job_id=job.pk)

    assert services.job_submit(job_id=job.pk) is None
    assert fake_provider.submit_calls == []


def test_job_poll_running_records_progress(fake_provider) -> None:
    job = JobFactory(provider="fake", status=Status.SUBMITTED, provider_request_id="fake-1")

    assert services.job_poll(job_id=job.pk) == "poll"

    job.refresh_from_db()
    assert (job.status, job.progress) == (Status.RUNNING, 0.5)


def test_job_poll_queued_without_progress_keeps_submitted(fake_provider) -> None:
    fake_provider.status_report = StatusReport(state=RemoteState.QUEUED)
    job = JobFactory(provider="fake", status=Status.SUBMITTED, provider_request_id="fake-1")

    GenerationJob.objects.filter(pk=job.pk).update(updated_at=timezone.now() - timedelta(hours=1))

    assert services.job_poll(job_id=job.pk) == "poll"
    job = GenerationJob.objects.get(pk=job.pk)
    assert job.status == Status.SUBMITTED
    # The poll is a heartbeat, so the reconciler does not start a second poll chain.
    assert job.updated_at > timezone.now() - timedelta(minutes=1)
    assert services.jobs_reconcile()["poll"] == 0


def test_job_poll_failed_report_fails_the_job(fake_provider) -> None:
    fake_provider.status_report = StatusReport(
        state=RemoteState.FAILED, error="NSFW content detected", error_code="content_policy"
    )
    job = JobFactory(provider="fake", status=Status.RUNNING, provider_request_id="fake-1")

    assert services.job_poll(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error, job.error_code) == (
        Status.FAILED,
        "NSFW content detected",
        "content_policy",
    )


def test_job_poll_failed_report_without_a_reason(fake_provider) -> None:
    fake_provider.status_report = StatusReport(state=RemoteState.FAILED)
    job = JobFactory(provider="fake", status=Status.RUNNING, provider_request_id="fake-1")

    services.job_poll(job_id=job.pk)

    job.refresh_from_db()
    assert job.error == "the provider reported a failure without a reason"
    assert job.error_code == "provider_failed"


def test_job_poll_canceled_remotely(fake_provider, no_enqueue) -> None:
    fake_provider.status_report = StatusReport(state=RemoteState.CANCELED)
    job = JobFactory(provider="fake", status=Status.RUNNING, provider_request_id="fake-1")

    assert services.job_poll(job_id=job.pk) is None
    assert GenerationJob.objects.get(pk=job.pk).status == Status.CANCELED


def test_job_poll_unknown_request_fails_the_job() -> None:
    job = JobFactory(status=Status.SUBMITTED, provider_request_id="0" * 32)

    assert services.job_poll(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "not_found")


# --- _fetch over real HTTP -------------------------------------------------------------------

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        routes = {"/video.mp4": 200, "/expired.mp4": 404, "/gone.mp4": 410, "/boom.mp4": 500}
        status = routes.get(self.path, 404)
        body = VIDEO if status == 200 else b"nope"
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def http_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetch_200(http_base, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    services._fetch(f"{http_base}/video.mp4", target, max_bytes=len(VIDEO))
    assert target.read_bytes() == VIDEO


@pytest.mark.parametrize("path", ["/expired.mp4", "/gone.mp4"])
def test_fetch_expired(http_base, tmp_path: Path, path: str) -> None:
    with pytest.raises(ProviderError) as excinfo:
        services._fetch(f"{http_base}{path}", tmp_path / "out.mp4", max_bytes=10**6)
    assert not isinstance(excinfo.value, TransientError)
    assert excinfo.value.code == "result_expired"


def test_fetch_500_is_transient(http_base, tmp_path: Path) -> None:
    with pytest.raises(TransientError) as excinfo:
        services._fetch(f"{http_base}/boom.mp4", tmp_path / "out.mp4", max_bytes=10**6)
    assert "500" in str(excinfo.value)


def test_fetch_too_large(http_base, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as excinfo:
        services._fetch(f"{http_base}/video.mp4", tmp_path / "out.mp4", max_bytes=1000)
    assert excinfo.value.code == "too_large"


def test_fetch_connection_refused_is_transient(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(TransientError):
        services._fetch(f"http://127.0.0.1:{port}/video.mp4", tmp_path / "out", max_bytes=10)


def test_fetch_file_urls(tmp_path: Path) -> None:
    source = tmp_path / "source.mp4"
    source.write_bytes(VIDEO)
    services._fetch(source.as_uri(), tmp_path / "copy.mp4", max_bytes=len(VIDEO))
    assert (tmp_path / "copy.mp4").read_bytes() == VIDEO

    with pytest.raises(ProviderError) as excinfo:
        services._fetch(source.as_uri(), tmp_path / "copy2.mp4", max_bytes=10)
    assert excinfo.value.code == "too_large"
    with pytest.raises(MalformedResponse):
        services._fetch((tmp_path / "missing.mp4").as_uri(), tmp_path / "x", max_bytes=10)
    with pytest.raises(MalformedResponse):
        services._fetch("ftp://example.test/v.mp4", tmp_path / "x", max_bytes=10)


def _downloading() -> GenerationJob:
    return JobFactory(
        provider="fake",
        model="fake-1",
        status=Status.DOWNLOADING,
        provider_request_id="fake-1",
        request={"prompt": "p", "duration_s": 3, "model": "fake-1"},
    )


def test_job_download_over_http(fake_provider, http_base, no_enqueue) -> None:
    fake_provider.result_url = f"{http_base}/video.mp4"
    job = _downloading()

    done = services.job_download(job_id=job.pk)

    assert done.status == Status.SUCCEEDED
    with default_storage.open(done.output.name, "rb") as fh:
        assert fh.read() == VIDEO
    # $0.50 a second for the job's 3 s request.
    assert done.cost_usd == Decimal("1.5")


def test_job_download_expired_url_fails_the_job(fake_provider, http_base) -> None:
    fake_provider.result_url = f"{http_base}/expired.mp4"
    job = _downloading()

    assert services.job_download(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "result_expired")
    assert "404" in job.error


def test_job_download_server_error_propagates_for_retry(fake_provider, http_base) -> None:
    fake_provider.result_url = f"{http_base}/boom.mp4"
    job = _downloading()

    with pytest.raises(TransientError):
        services.job_download(job_id=job.pk)

    assert GenerationJob.objects.get(pk=job.pk).status == Status.DOWNLOADING


def test_job_download_too_large_fails_the_job(fake_provider, http_base, settings) -> None:
    settings.GREENLIGHT_MAX_DOWNLOAD_BYTES = 1024
    fake_provider.result_url = f"{http_base}/video.mp4"
    job = _downloading()

    assert services.job_download(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error_code) == (Status.FAILED, "too_large")
    assert job.error == "the result is larger than 1024 bytes"
    assert not default_storage.exists(f"jobs/{job.pk}")


def test_job_download_empty_file_fails_the_job(fake_provider, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    fake_provider.result_url = empty.as_uri()
    job = _downloading()

    assert services.job_download(job_id=job.pk) is None

    job.refresh_from_db()
    assert (job.status, job.error) == (Status.FAILED, "the provider returned an empty file")


# --- reconciliation and spend -----------------------------------------------------------------


def test_jobs_reconcile_re_enqueues_the_right_tasks(no_enqueue) -> None:
    now = timezone.now()
    old = now - timedelta(hours=1)
    jobs = {
        "queued_old": JobFactory(),
        "queued_fresh": JobFactory(),
        "queued_claimed_recently": JobFactory(claimed_at=now - timedelta(seconds=60)),
        "queued_claim_stale": JobFactory(claimed_at=now - timedelta(hours=1)),
        "submitted_old": JobFactory(status=Status.SUBMITTED, provider_request_id="a"),
        "running_old": JobFactory(status=Status.RUNNING, provider_request_id="b"),
        "running_fresh": JobFactory(status=Status.RUNNING, provider_request_id="c"),
        "downloading_old": JobFactory(status=Status.DOWNLOADING, provider_request_id="d"),
        "succeeded_old": JobFactory(succeeded=True),
        "failed_old": JobFactory(status=Status.FAILED),
        "canceled_old": JobFactory(status=Status.CANCELED),
    }
    fresh = {"queued_fresh", "running_fresh"}
    GenerationJob.objects.exclude(pk__in=[jobs[k].pk for k in fresh]).update(updated_at=old)

    counts = services.jobs_reconcile(now=now)

    assert counts == {"submit": 2, "poll": 2, "download": 1}
    assert sorted(no_enqueue) == sorted(
        [
            (SUBMIT, (jobs["queued_old"].pk,)),
            (SUBMIT, (jobs["queued_claim_stale"].pk,)),
            (POLL, (jobs["submitted_old"].pk,)),
            (POLL, (jobs["running_old"].pk,)),
            (DOWNLOAD, (jobs["downloading_old"].pk,)),
        ]
    )
    assert GenerationJob.objects.get(pk=jobs["queued_claim_stale"].pk).claimed_at is None
    assert GenerationJob.objects.get(pk=jobs["queued_claimed_recently"].pk).claimed_at


def test_campaign_spend_counts_spent_and_committed_money() -> None:
    campaign = CampaignFactory()
    other = CampaignFactory()

    def job(status, estimate, cost=None, campaign=campaign, **kwargs):
        return JobFactory(
            variant__brief__campaign=campaign,
            status=status,
            cost_estimate_usd=Decimal(estimate),
            cost_usd=cost,
            **kwargs,
        )

    assert services.campaign_spend(campaign=campaign) == Decimal("0")
    job(Status.SUCCEEDED, "9", Decimal("1.25"), provider_request_id="a")
    job(Status.QUEUED, "2")
    job(Status.RUNNING, "0.5", provider_request_id="b")
    job(Status.DOWNLOADING, "0.25", provider_request_id="c")
    job(Status.FAILED, "10")
    job(Status.CANCELED, "10")
    job(Status.QUEUED, "100", campaign=other)

    assert services.campaign_spend(campaign=campaign) == Decimal("4.00")
