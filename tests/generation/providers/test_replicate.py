"""The Replicate adapter against its loopback fake."""

from __future__ import annotations

import json
import time
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
    WebhookRejected,
)
from generation.providers.replicate import KEY_PARAM, ReplicateProvider
from tests.fakes.base import Reply
from tests.fakes.fixtures import REPLICATE_TOKEN
from tests.fakes.replicate import THROTTLED

T2V = "wan-video/wan-2.5-t2v-fast"
HOOK = "https://greenlight.test/hooks/replicate/"


def _request(**overrides) -> GenerationRequest:
    values = {"prompt": "A horse on a pier", "duration_s": 5, "model": T2V}
    return GenerationRequest(**{**values, **overrides})


def _submit(provider, key: str = "greenlight-k1", hook: str | None = HOOK, **overrides):
    return provider.submit(_request(**overrides), idempotency_key=key, webhook_url=hook)


def test_submit_by_model_and_by_pinned_version(replicate_fake, settings) -> None:
    provider = ReplicateProvider()
    _submit(provider)
    call = replicate_fake.calls_to("POST")[0]
    assert call.path == f"/v1/models/{T2V}/predictions"
    assert call.headers["authorization"] == f"Bearer {REPLICATE_TOKEN}"
    assert "prefer" not in call.headers  # no Prefer: wait; the driver polls
    body = json.loads(call.body)
    assert body["input"] == {
        "prompt": "A horse on a pier",
        "duration": 5,
        "resolution": "720p",
        "aspect_ratio": "16:9",
    }
    assert body["webhook"] == f"{HOOK}?{KEY_PARAM}=greenlight-k1"
    assert body["webhook_events_filter"] == ["start", "completed"]
    settings.REPLICATE_MODEL_VERSIONS = {T2V: "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b662"}
    _submit(provider)
    call = replicate_fake.calls_to("POST")[1]
    assert call.path == "/v1/predictions"
    assert json.loads(call.body)["version"] == "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b662"


def test_poll_result_download(replicate_fake, tmp_path: Path) -> None:
    provider = ReplicateProvider()
    submission = _submit(provider, duration_s=10, resolution="1080p")
    states = [provider.status(submission).state for _ in range(3)]
    assert states == [RemoteState.QUEUED, RemoteState.RUNNING, RemoteState.COMPLETED]
    result = provider.result(submission)
    assert result.cost_usd == Decimal("1.5000")  # 10 s at the 1080p price
    assert result.expires_at is not None
    assert provider.download(result, tmp_path / "v.mp4", max_bytes=10**8, deadline_s=30) == len(
        replicate_fake.video
    )
    replicate_fake.expire_media(submission.request_id)
    with pytest.raises(ResultExpired):
        provider.download(result, tmp_path / "w.mp4", max_bytes=10**8, deadline_s=30)


@pytest.mark.parametrize(
    ("outcome", "code", "words"),
    [("content_policy", "content_policy", "NSFW"), ("error", "provider_failed", "CUDA")],
)
def test_failed_prediction(replicate_fake, outcome, code, words) -> None:
    replicate_fake.instant = True
    replicate_fake.outcome = outcome
    provider = ReplicateProvider()
    report = provider.status(_submit(provider))
    assert (report.state, report.error_code) == (RemoteState.FAILED, code)
    assert words in report.error


def test_errors(replicate_fake) -> None:
    provider = ReplicateProvider()
    replicate_fake.fail_next("submit", THROTTLED)
    with pytest.raises(RateLimited) as excinfo:
        _submit(provider)
    assert excinfo.value.retry_after == 30.0 and "resets in ~30s" in str(excinfo.value)
    replicate_fake.fail_next("submit", Reply(503, {"detail": "unavailable", "status": 503}))
    with pytest.raises(TransientError):
        _submit(provider)
    replicate_fake.fail_next(
        "submit",
        Reply(
            422, {"title": "Input validation failed", "detail": "- input.duration: must be 5 or 10"}
        ),
    )
    with pytest.raises(RequestRejected, match="must be 5 or 10") as excinfo:
        _submit(provider)
    assert REPLICATE_TOKEN not in str(excinfo.value)
    replicate_fake.fail_next("submit", Reply(201, {"status": "starting"}))
    with pytest.raises(MalformedResponse):
        _submit(provider)
    submission = _submit(provider)
    replicate_fake.fail_next("status", Reply(200, {"id": "x", "status": "thinking"}))
    with pytest.raises(MalformedResponse):
        provider.status(submission)
    with pytest.raises(RequestRejected, match="5, 10 seconds"):
        _submit(provider, duration_s=7)


def test_cancel(replicate_fake) -> None:
    provider = ReplicateProvider()
    assert provider.cancel(_submit(provider)) == CancelOutcome.CANCELED
    replicate_fake.instant = True
    assert provider.cancel(_submit(provider)) == CancelOutcome.ALREADY_COMPLETED
    assert provider.cancel(Submission(request_id="nope")) == CancelOutcome.NOT_FOUND


def test_lookup_finds_a_lost_prediction_by_its_webhook_key(replicate_fake) -> None:
    replicate_fake.submit_delay_s = 1.5
    slow = ReplicateProvider(client=httpx.Client(timeout=httpx.Timeout(0.5, connect=2.0)))
    with pytest.raises(AmbiguousSubmit):
        _submit(slow, key="greenlight-lost")
    replicate_fake.submit_delay_s = 0
    provider = ReplicateProvider()
    for n in range(4):  # newer predictions push the lost one to a later page
        _submit(provider, key=f"greenlight-other-{n}")
    found = provider.lookup(idempotency_key="greenlight-lost")
    assert found is not None
    assert replicate_fake.jobs[found.request_id].webhook.endswith("greenlight_key=greenlight-lost")
    assert provider.lookup(idempotency_key="greenlight-never-sent") is None
    assert replicate_fake.submissions == 5
    replicate_fake.list_shows_webhooks = False
    with pytest.raises(AmbiguousSubmit):
        provider.lookup(idempotency_key="greenlight-lost")


def _signed(replicate_fake, provider, **sign_kwargs):
    submission = _submit(provider)
    job = replicate_fake.jobs[submission.request_id]
    replicate_fake.finish(job)
    body = replicate_fake.webhook_body(job)
    return submission, body, replicate_fake.sign(job, body, **sign_kwargs)


def test_webhook_verification(replicate_fake, settings) -> None:
    provider = ReplicateProvider()
    submission, body, headers = _signed(replicate_fake, provider, webhook_id="msg_1")
    event = provider.parse_webhook(headers, body)
    assert event.request_id == submission.request_id and event.delivery_id == "msg_1"
    assert event.status.state == RemoteState.COMPLETED

    def refused(h, b, code):
        with pytest.raises(WebhookRejected) as excinfo:
            provider.parse_webhook(h, b)
        assert excinfo.value.code == code

    refused({}, body, "unsigned")
    refused(headers, body + b" ", "bad_signature")
    _, old_body, old = _signed(replicate_fake, provider, timestamp=int(time.time()) - 400)
    refused(old, old_body, "stale")
    junk = b"[1, 2]"
    job = next(iter(replicate_fake.jobs.values()))
    refused(replicate_fake.sign(job, junk), junk, "bad_body")
    settings.REPLICATE_WEBHOOK_SECRET = ""
    refused(headers, body, "not_configured")
