"""The Runway adapter against its loopback fake."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from generation.providers.base import (
    AmbiguousSubmit,
    CancelOutcome,
    GenerationRequest,
    MalformedResponse,
    RateLimited,
    RemoteState,
    RequestRejected,
    ResultExpired,
    Submission,
    TransientError,
)
from generation.providers.runway import RunwayProvider
from tests.fakes.base import Reply
from tests.fakes.fixtures import RUNWAY_SECRET
from tests.fakes.runway import THROTTLED

HH = "happyhorse_1_0"


def _request(**overrides) -> GenerationRequest:
    values = {"prompt": "A horse in the rain", "duration_s": 5, "model": HH}
    return GenerationRequest(**{**values, **overrides})


def _submit(provider: RunwayProvider, **overrides) -> Submission:
    return provider.submit(_request(**overrides), idempotency_key="greenlight-r1")


def test_happyhorse_text_and_image_bodies(runway_fake) -> None:
    provider = RunwayProvider()
    _submit(provider, aspect_ratio="9:16", resolution="1080p")
    call = runway_fake.calls_to("POST")[0]
    assert call.path == "/v1/text_to_video"
    assert call.headers["x-runway-version"] == "2024-11-06"
    assert call.headers["authorization"] == f"Bearer {RUNWAY_SECRET}"
    assert json.loads(call.body) == {
        "model": HH,
        "promptText": "A horse in the rain",
        "duration": 5,
        "ratio": "1080:1920",
    }
    _submit(provider, image_url="https://example.com/first.png")
    call = runway_fake.calls_to("POST")[1]
    assert call.path == "/v1/image_to_video"
    body = json.loads(call.body)
    assert body["promptImage"] == [{"uri": "https://example.com/first.png", "position": "first"}]
    assert body["resolution"] == "720p" and "ratio" not in body
    _submit(provider, model="veo3.1", duration_s=8, audio=False, seed=9)
    veo = json.loads(runway_fake.calls_to("POST")[2].body)
    assert (veo["ratio"], veo["audio"], veo["seed"]) == ("1280:720", False, 9)
    with pytest.raises(RequestRejected, match="4, 6, 8 seconds"):
        _submit(provider, model="veo3.1", duration_s=5)


def test_throttled_then_running_with_progress_then_done(runway_fake, tmp_path: Path) -> None:
    runway_fake.throttled_polls = 1
    provider = RunwayProvider()
    submission = _submit(provider, duration_s=10)
    throttled = provider.status(submission)
    assert throttled.state == RemoteState.QUEUED and "throttled" in throttled.logs[0]
    assert provider.status(submission).state == RemoteState.QUEUED  # PENDING
    running = provider.status(submission)
    assert (running.state, running.progress) == (RemoteState.RUNNING, 0.42)
    assert running.poll_after_s == 6.0
    assert provider.status(submission).state == RemoteState.COMPLETED
    result = provider.result(submission)
    assert result.cost_usd == Decimal("1.4000")  # 140 credits reported
    assert result.usage["credits"] == 140
    size = provider.download(result, tmp_path / "v.mp4", max_bytes=10**8, deadline_s=30)
    assert size == len(runway_fake.video)
    runway_fake.expire_media(submission.request_id)
    with pytest.raises(ResultExpired):
        provider.download(result, tmp_path / "w.mp4", max_bytes=10**8, deadline_s=30)


@pytest.mark.parametrize(
    ("outcome", "code"),
    [("content_policy", "content_policy"), ("error", "INTERNAL.BAD_OUTPUT.CODE01")],
)
def test_failed_task(runway_fake, outcome, code) -> None:
    runway_fake.instant = True
    runway_fake.outcome = outcome
    provider = RunwayProvider()
    report = provider.status(_submit(provider))
    assert (report.state, report.error_code) == (RemoteState.FAILED, code)


def test_errors(runway_fake) -> None:
    provider = RunwayProvider()
    runway_fake.fail_next("submit", THROTTLED)
    with pytest.raises(RateLimited) as excinfo:
        _submit(provider)
    assert excinfo.value.retry_after == 1.5  # retry-after-ms
    runway_fake.fail_next(
        "submit", Reply(500, {"error": "bad gateway"}, {"x-should-retry": "false"})
    )
    with pytest.raises(RequestRejected):  # the provider says a retry will not help
        _submit(provider)
    runway_fake.fail_next("submit", Reply(502, {"error": "bad gateway"}))
    with pytest.raises(TransientError):
        _submit(provider)
    runway_fake.fail_next("submit", Reply(400, {"error": "promptText is too long"}))
    with pytest.raises(RequestRejected, match="promptText is too long") as excinfo:
        _submit(provider)
    assert RUNWAY_SECRET not in str(excinfo.value)
    runway_fake.fail_next("submit", Reply(200, {"task": "x"}))
    with pytest.raises(MalformedResponse):
        _submit(provider)
    submission = _submit(provider)
    runway_fake.fail_next(
        "status", Reply(200, {"id": "x", "status": "RUNNING", "progress": "half"})
    )
    with pytest.raises(MalformedResponse):
        provider.status(submission)
    runway_fake.fail_next("status", Reply(200, {"id": "x", "status": "NAPPING"}))
    with pytest.raises(MalformedResponse):
        provider.status(submission)


def test_cancel_never_deletes_a_finished_task(runway_fake) -> None:
    provider = RunwayProvider()
    running = _submit(provider)
    assert provider.cancel(running) == CancelOutcome.CANCELED
    assert provider.status(running).state == RemoteState.CANCELED
    assert provider.cancel(running) == CancelOutcome.NOT_FOUND
    runway_fake.instant = True
    done = _submit(provider)
    assert provider.cancel(done) == CancelOutcome.ALREADY_COMPLETED
    assert not runway_fake.calls_to("DELETE", done.request_id)
    assert provider.result(done).url  # still there
    runway_fake.fail_next(
        "status",
        Reply(200, {"id": "x", "status": "SUCCEEDED", "output": ["https://cdn.example/v.mp4"]}),
    )
    assert provider.result(done).cost_usd == Decimal("0.7000")  # no cost reported: registry
    assert provider.cancel(Submission(request_id="nope")) == CancelOutcome.NOT_FOUND


def test_lost_submit_is_ambiguous(runway_fake) -> None:
    runway_fake.submit_delay_s = 1.5
    provider = RunwayProvider(client=httpx.Client(timeout=httpx.Timeout(0.5, connect=2.0)))
    with pytest.raises(AmbiguousSubmit):
        _submit(provider)
    with pytest.raises(AmbiguousSubmit):
        provider.lookup(idempotency_key="greenlight-r1")
    assert runway_fake.submissions == 1
