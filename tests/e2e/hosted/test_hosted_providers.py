"""Each hosted adapter through a real Celery worker against its loopback fake.

The fakes run in this test process; the worker subprocess reaches them by port, and reaches
this process's live server for webhooks (GREENLIGHT_BASE_URL). Polls are made fast (0.5 s) so
the tests take seconds, not the providers' real intervals.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from assets.models import Clip
from generation.jobs import job_cancel, jobs_reconcile
from generation.models import GenerationJob, WebhookDelivery
from generation.services import BriefInput, brief_create
from tests.e2e.conftest import ROOT, Worker, _database_url
from tests.factories import CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
Status = GenerationJob.Status
FINAL = (Status.SUCCEEDED, Status.FAILED, Status.CANCELED)
FAST = {"FAL_POLL_S": "0.5", "DASHSCOPE_POLL_S": "0.5", "REPLICATE_POLL_S": "0.5"}
FAST["RUNWAY_POLL_S"] = "0.5"


@pytest.fixture
def fast_polls(settings, monkeypatch) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    settings.GREENLIGHT_PROVIDER_POLL_S = dict.fromkeys(("fal", "dashscope", "replicate"), 0.5)
    settings.GREENLIGHT_PROVIDER_POLL_S["runway"] = 0.5


def _worker_for(request, monkeypatch, fake, *, base_url: str = "") -> Worker:
    """Point the worker the `celery_worker` fixture starts at `fake` (and our live server)."""
    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    if base_url:
        monkeypatch.setenv("GREENLIGHT_BASE_URL", base_url)
    return request.getfixturevalue("celery_worker")


def _brief(provider: str, model: str, *, hooks: list[str] | None = None, **extra):
    campaign = CampaignFactory()
    creator = MembershipFactory(campaign=campaign, role="creator").user
    data = BriefInput(
        title=f"{provider} brief",
        prompt="A horse runs along the shore {hook}" if hooks else "A horse runs along the shore",
        script="Sunrise over the coffee farm.",
        shots="",
        hooks=hooks or [],
        aspect_ratios=["16:9"],
        durations=[extra.pop("duration", 5)],
        languages=["en"],
        resolution="720p",
        provider=provider,
        model=model,
    )
    return brief_create(campaign=campaign, user=creator, data=data)


def _jobs(brief) -> list[GenerationJob]:
    return list(GenerationJob.objects.filter(variant__brief=brief).order_by("pk"))


def _all_final(brief) -> Callable[[], list[GenerationJob] | None]:
    """Every job final, and every succeeded job's clip ingested (so no ffmpeg run is cut off
    when the worker stops)."""

    def check():
        # Beat's reconciler runs in production; here the wait runs it, so a message lost
        # between tests (a shared broker) is re-driven as it would be there.
        jobs_reconcile()
        jobs = _jobs(brief)
        if not jobs or any(j.status not in FINAL for j in jobs):
            return None
        done = [j for j in jobs if j.status == Status.SUCCEEDED]
        ingested = Clip.objects.filter(job__in=done).exclude(status=Clip.Status.PROCESSING)
        return jobs if ingested.count() == len(done) else None

    return check


def _idle(worker: Worker) -> bool:
    """Every task the worker received has ended (the fixture's kill would cut one off
    and hide a traceback it was about to log)."""
    log = worker.output()
    received = len(re.findall(r"\] received", log))
    ended = len(re.findall(r"\] (succeeded|raised|retry|ignored)", log))
    return received == ended


def _settle(worker: Worker, brief, what: str = "every job to finish") -> list[GenerationJob]:
    jobs = worker.wait_for(what, _all_final(brief))
    worker.wait_for("the worker to go idle", lambda: _idle(worker))
    return jobs


# --- fal ------------------------------------------------------------------------------------


def test_fal_success_by_webhook(request, monkeypatch, fal_fake, live_server, fast_polls):
    fal_fake.polls_per_state = 10**6  # polling alone would never see it finish
    fal_fake.complete_after_s = 2.0
    worker = _worker_for(request, monkeypatch, fal_fake, base_url=live_server.url)
    brief = _brief("fal", "alibaba/happy-horse/text-to-video")
    (job,) = _settle(worker, brief, "the job to finish")
    assert job.status == Status.SUCCEEDED, job.error
    assert fal_fake.submissions == 1
    (delivery,) = fal_fake.deliveries
    assert delivery.status == 200 and "/hooks/fal/" in delivery.url
    assert WebhookDelivery.objects.filter(
        provider="fal", request_id=job.provider_request_id
    ).exists()
    assert str(job.cost_usd) == "0.7000"  # $0.14 × 5 s at 720p
    assert job.cost_estimate_usd == job.cost_usd


def test_fal_polling_with_failure_modes(request, monkeypatch, fal_fake, fast_polls):
    from tests.fakes.base import Reply

    # A 429 on submit is left out here: the driver (generation/jobs.py) keeps
    # submit_started_at after any submit error, so a retry looks like an interrupted submit
    # and fal, having no lookup, fails the job as ambiguous (reported to the lead).
    fal_fake.fail_next("status", Reply(429, {"detail": "busy"}, {"Retry-After": "1"}))
    fal_fake.fail_next("status", Reply(503, {"detail": "upstream"}))
    fal_fake.fail_next("status", Reply(200, b"<html>proxy error</html>"))
    worker = _worker_for(request, monkeypatch, fal_fake)  # no live server: polling only
    brief = _brief(
        "fal", "alibaba/happy-horse/text-to-video", hooks=["at dawn", "[content_policy]"]
    )
    jobs = _settle(worker, brief, "both jobs to finish")
    by_prompt = {("content_policy" in j.request["prompt"]): j for j in jobs}
    ok, refused = by_prompt[False], by_prompt[True]
    assert ok.status == Status.SUCCEEDED, ok.error
    assert refused.status == Status.FAILED
    assert refused.error_code == "content_policy"
    assert "flagged by the content checker" in refused.error
    assert fal_fake.submissions == 2
    assert not fal_fake.faults  # every scripted fault was met and survived


def test_fal_expired_result_fails_with_a_reason(request, monkeypatch, fal_fake, fast_polls):
    fal_fake.instant = True
    fal_fake.media_ttl_s = 0
    worker = _worker_for(request, monkeypatch, fal_fake)
    brief = _brief("fal", "alibaba/happy-horse/text-to-video")
    (job,) = _settle(worker, brief, "the job to finish")
    assert (job.status, job.error_code) == (Status.FAILED, "result_expired")
    assert "expired" in job.error


def test_fal_cancel(request, monkeypatch, fal_fake, fast_polls):
    fal_fake.polls_per_state = 10**6
    worker = _worker_for(request, monkeypatch, fal_fake)
    brief = _brief("fal", "alibaba/happy-horse/text-to-video")
    worker.wait_for("the submit", lambda: _jobs(brief)[0].provider_request_id)
    job_cancel(job_id=_jobs(brief)[0].pk)
    (job,) = _settle(worker, brief, "the job to stop")
    assert job.status == Status.CANCELED
    assert fal_fake.calls_to("PUT", f"/requests/{job.provider_request_id}/cancel")


# --- a worker killed between submit and storing the id ----------------------------------------


def _start_worker(settings, log_path) -> Worker:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.STORAGES["default"]["OPTIONS"]["location"]),
        "ARCHIVE_ROOT": str(settings.STORAGES["archive"]["OPTIONS"]["location"]),
        "GREENLIGHT_PROVIDER_WORK_DIR": str(settings.GREENLIGHT_PROVIDER_WORK_DIR),
        "GREENLIGHT_POLL_INTERVAL": "0.5",
        "GREENLIGHT_LEASE_SECONDS": "3",
        "STORAGE_BACKEND": "local",
        "PYTHONUNBUFFERED": "1",
    }
    with log_path.open("wb") as out:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
                "--concurrency=1", "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    worker = Worker(process, log_path)
    worker.wait_for("the worker to start", lambda: "ready." in worker.output(), timeout=60)
    return worker


def _kill_after_submit(settings, monkeypatch, tmp_path, fake, brief_args) -> GenerationJob:
    """Start a worker, SIGKILL it while the fake holds the submit answer, start another, and
    let the reconciler re-drive the job; return the job once it is final."""
    from config.celery import app as celery_app

    for key, value in {**fake.env(), **FAST}.items():
        monkeypatch.setenv(key, value)
    settings.GREENLIGHT_LEASE_SECONDS = 3
    settings.GREENLIGHT_REDRIVE_GRACE = 1
    celery_app.control.purge()
    fake.submit_delay_s = 30  # the request arrives, the answer does not
    first = _start_worker(settings, tmp_path / "worker1.log")
    second = None
    try:
        brief = _brief(*brief_args)
        first.wait_for("the submit to reach the fake", lambda: fake.submissions == 1)
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait(timeout=10)
        fake.submit_delay_s = 0
        job = _jobs(brief)[0]
        assert job.provider_request_id == "" and job.submit_started_at is not None
        second = _start_worker(settings, tmp_path / "worker2.log")

        def finished():
            jobs_reconcile()
            return _all_final(brief)()

        (job,) = second.wait_for("the re-driven job to finish", finished, timeout=90)
        return job
    finally:
        first.stop()
        if second is not None:
            second.stop()
        celery_app.control.purge()


def test_fal_killed_worker_fails_for_a_person_rather_than_pay_twice(
    settings, monkeypatch, tmp_path, fal_fake
):
    job = _kill_after_submit(
        settings, monkeypatch, tmp_path, fal_fake, ("fal", "alibaba/happy-horse/text-to-video")
    )
    # fal has no lookup by key: sending again could pay twice, so the job stops with why.
    assert (job.status, job.error_code) == (Status.FAILED, "ambiguous_submit")
    assert fal_fake.submissions == 1


@pytest.mark.parametrize(
    ("provider", "model", "fake_fixture"),
    [
        ("dashscope", "happyhorse-1.0-t2v", "dashscope_fake"),
        ("runway", "happyhorse_1_0", "runway_fake"),
    ],
)
def test_killed_worker_without_a_lookup_fails_for_a_person_rather_than_pay_twice(
    request, settings, monkeypatch, tmp_path, provider, model, fake_fixture
):
    """Model Studio and Runway take no client key and list nothing that finds our task: as on
    fal, the job stops as ambiguous with the one submission the provider counted."""
    fake = request.getfixturevalue(fake_fixture)
    job = _kill_after_submit(settings, monkeypatch, tmp_path, fake, (provider, model))
    assert (job.status, job.error_code) == (Status.FAILED, "ambiguous_submit")
    assert fake.submissions == 1


def test_replicate_killed_worker_finds_its_prediction_and_finishes(
    settings, monkeypatch, tmp_path, replicate_fake
):
    job = _kill_after_submit(
        settings, monkeypatch, tmp_path, replicate_fake, ("replicate", "wan-video/wan-2.5-t2v-fast")
    )
    assert job.status == Status.SUCCEEDED, job.error
    assert replicate_fake.submissions == 1
    assert job.provider_request_id == replicate_fake.only_job().id


# --- Model Studio, Replicate, Runway ----------------------------------------------------------


def test_dashscope_polling_success_and_failure(request, monkeypatch, dashscope_fake, fast_polls):
    worker = _worker_for(request, monkeypatch, dashscope_fake)
    brief = _brief("dashscope", "happyhorse-1.0-t2v", hooks=["at dusk", "[content_policy]"])
    jobs = _settle(worker, brief, "both jobs to finish")
    by_prompt = {("content_policy" in j.request["prompt"]): j for j in jobs}
    assert by_prompt[False].status == Status.SUCCEEDED, by_prompt[False].error
    assert (by_prompt[True].status, by_prompt[True].error_code) == (
        Status.FAILED,
        "content_policy",
    )
    assert "DataInspectionFailed" in by_prompt[True].error
    assert dashscope_fake.submissions == 2


def test_replicate_success_by_webhook(
    request, monkeypatch, replicate_fake, live_server, fast_polls
):
    replicate_fake.polls_per_state = 10**6
    replicate_fake.complete_after_s = 2.0
    worker = _worker_for(request, monkeypatch, replicate_fake, base_url=live_server.url)
    brief = _brief("replicate", "wan-video/wan-2.5-t2v-fast")
    (job,) = _settle(worker, brief, "the job to finish")
    assert job.status == Status.SUCCEEDED, job.error
    (delivery,) = replicate_fake.deliveries
    assert delivery.status == 200 and "greenlight_key=" in delivery.url
    assert replicate_fake.submissions == 1


def test_runway_throttled_then_success_and_cancel(request, monkeypatch, runway_fake, fast_polls):
    runway_fake.throttled_polls = 2
    worker = _worker_for(request, monkeypatch, runway_fake)
    brief = _brief("runway", "happyhorse_1_0")
    (job,) = _settle(worker, brief, "the job to finish")
    assert job.status == Status.SUCCEEDED, job.error
    assert str(job.cost_usd) == "0.7000"  # 70 credits reported by the fake

    runway_fake.polls_per_state = 10**6
    second = _brief("runway", "happyhorse_1_0")
    worker.wait_for("the submit", lambda: _jobs(second)[0].provider_request_id)
    job_cancel(job_id=_jobs(second)[0].pk)
    (canceled,) = _settle(worker, second, "the cancel")
    assert canceled.status == Status.CANCELED
    assert runway_fake.calls_to("DELETE", canceled.provider_request_id)
