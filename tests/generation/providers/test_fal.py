"""The fal queue adapter against its loopback fake: every state, error and webhook case."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from generation.providers import get_provider
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
from generation.providers.capabilities import models_for, spec_for
from generation.providers.fal import FalProvider, build_input
from tests.fakes.base import Reply
from tests.fakes.fixtures import FAL_KEY

HH_T2V = "alibaba/happy-horse/text-to-video"
HH_I2V = "alibaba/happy-horse/image-to-video"


def _request(**overrides) -> GenerationRequest:
    values = {"prompt": "A horse runs on a beach at dawn", "duration_s": 5, "model": HH_T2V}
    return GenerationRequest(**{**values, **overrides})


def _submit(provider: FalProvider, **overrides) -> Submission:
    return provider.submit(_request(**overrides), idempotency_key="job-1-attempt-1")


def test_registry_offers_happyhorse_and_its_peers() -> None:
    models = {spec.model for spec in models_for("fal")}
    assert {HH_T2V, HH_I2V, "alibaba/happy-horse/reference-to-video"} <= models
    assert {"bytedance/seedance-2.0/text-to-video", "fal-ai/veo3.1"} <= models
    assert "fal-ai/kling-video/v3/pro/text-to-video" in models
    spec = spec_for("fal", HH_T2V)
    assert spec.durations == tuple(range(3, 16))
    assert spec.cost(duration_s=10, resolution="1080p", audio=True) == Decimal("2.8000")
    assert all(price.source and price.as_of for price in spec.prices)


def test_field_shapes_differ_per_model() -> None:
    hh = build_input(spec_for("fal", HH_T2V), _request(seed=7, aspect_ratio="9:16"))
    assert hh == {
        "prompt": "A horse runs on a beach at dawn",
        "duration": 5,
        "aspect_ratio": "9:16",
        "resolution": "720p",
        "enable_safety_checker": True,
        "seed": 7,
    }
    veo = build_input(
        spec_for("fal", "fal-ai/veo3.1"), _request(model="fal-ai/veo3.1", duration_s=8)
    )
    assert veo["duration"] == "8s" and veo["generate_audio"] is True
    image = "https://example.com/first.png"
    i2v = build_input(spec_for("fal", HH_I2V), _request(model=HH_I2V, image_url=image))
    assert i2v["image_url"] == image and "aspect_ratio" not in i2v
    kling_model = "fal-ai/kling-video/v3/pro/image-to-video"
    kling = build_input(
        spec_for("fal", kling_model),
        _request(model=kling_model, image_url=image, resolution="1080p", audio=False),
    )
    assert kling["start_image_url"] == image and kling["duration"] == "5"
    assert kling["generate_audio"] is False
    r2v_model = "alibaba/happy-horse/reference-to-video"
    r2v = build_input(spec_for("fal", r2v_model), _request(model=r2v_model, image_url=image))
    assert r2v["image_urls"] == [image]


def test_request_beyond_the_model_is_refused_before_sending(fal_fake) -> None:
    provider = FalProvider()
    with pytest.raises(RequestRejected) as excinfo:
        _submit(provider, duration_s=20)
    assert excinfo.value.code == "unsupported_request"
    assert "3–15 seconds, not 20" in str(excinfo.value)
    with pytest.raises(RequestRejected, match="needs a reference image"):
        _submit(provider, model=HH_I2V)
    with pytest.raises(RequestRejected, match="2500 characters"):
        _submit(provider, prompt="x" * 2501)
    with pytest.raises(RequestRejected) as excinfo:
        _submit(provider, model="alibaba/happy-horse/v9")
    assert excinfo.value.code == "unknown_model"
    assert fal_fake.submissions == 0


def test_not_configured_without_a_key(fal_fake, settings) -> None:
    settings.FAL_KEY = ""
    provider = get_provider("fal")
    assert not provider.is_configured()
    with pytest.raises(RequestRejected) as excinfo:
        _submit(provider)
    assert excinfo.value.code == "not_configured"
    assert fal_fake.submissions == 0


def test_submit_poll_result_download(fal_fake, tmp_path: Path) -> None:
    provider = FalProvider()
    submission = _submit(provider, resolution="1080p", duration_s=4)
    call = fal_fake.calls_to("POST")[0]
    assert call.path == f"/{HH_T2V}"
    assert call.headers["authorization"] == f"Key {FAL_KEY}"
    assert json.loads(call.body)["duration"] == 4
    # Status, result and cancel URLs use owner/app only.
    assert submission.handles["status_url"].endswith(
        f"/alibaba/happy-horse/requests/{submission.request_id}/status"
    )

    queued = provider.status(submission)
    assert (queued.state, queued.queue_position) == (RemoteState.QUEUED, 0)
    assert queued.poll_after_s == 5.0
    running = provider.status(submission)
    assert running.state == RemoteState.RUNNING and running.logs == ("generating",)
    done = provider.status(submission)
    assert done.state == RemoteState.COMPLETED and done.is_final
    assert fal_fake.calls_to("GET", "/status")[0].query == {"logs": ["1"]}

    result = provider.result(submission)
    assert result.url.endswith(f"/media/{submission.request_id}.mp4")
    assert result.seed == 42
    assert result.cost_usd == Decimal("1.1200")  # 4 s at $0.28/s (1080p)
    target = tmp_path / "clip.mp4"
    size = provider.download(result, target, max_bytes=10**8, deadline_s=30)
    assert size == len(fal_fake.video) == target.stat().st_size
    assert fal_fake.submissions == 1


def test_webhook_url_goes_in_the_query(fal_fake) -> None:
    provider = FalProvider()
    provider.submit(
        _request(), idempotency_key="k", webhook_url="https://greenlight.test/hooks/fal/?a=1"
    )
    query = fal_fake.calls_to("POST")[-1].query
    assert query == {"fal_webhook": ["https://greenlight.test/hooks/fal/?a=1"]}


@pytest.mark.parametrize(
    ("outcome", "code", "reason"),
    [
        ("content_policy", "content_policy", "flagged by the content checker"),
        ("error", "validation_error", "image is too small"),
    ],
)
def test_failure_is_completed_with_error(fal_fake, outcome, code, reason) -> None:
    fal_fake.instant = True
    fal_fake.outcome = outcome
    provider = FalProvider()
    submission = _submit(provider)
    report = provider.status(submission)
    assert report.state == RemoteState.FAILED
    assert report.error_code == code
    assert reason in report.error
    with pytest.raises(RequestRejected):
        provider.result(submission)


def test_429_with_retry_after_seconds_and_date(fal_fake, settings) -> None:
    provider = FalProvider()
    fal_fake.fail_next("submit", Reply(429, {"detail": "slow down"}, {"Retry-After": "7"}))
    with pytest.raises(RateLimited) as excinfo:
        _submit(provider)
    assert excinfo.value.retry_after == 7.0 and excinfo.value.retryable
    when = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
    fal_fake.fail_next("submit", Reply(429, {"detail": "slow down"}, {"Retry-After": when}))
    with pytest.raises(RateLimited) as excinfo:
        _submit(provider)
    assert excinfo.value.retry_after == settings.GREENLIGHT_RETRY_AFTER_CAP  # capped
    fal_fake.fail_next("submit", Reply(429, {"detail": "slow down"}))
    with pytest.raises(RateLimited) as excinfo:
        _submit(provider)
    assert excinfo.value.retry_after is None
    assert fal_fake.submissions == 0


def test_5xx_is_transient_and_422_content_policy_is_rejected(fal_fake) -> None:
    provider = FalProvider()
    fal_fake.fail_next(
        "submit",
        Reply(503, {"detail": "Runner failed", "error_type": "runner_disconnected"}),
    )
    with pytest.raises(TransientError) as excinfo:
        _submit(provider)
    assert excinfo.value.retryable and "runner_disconnected" in str(excinfo.value)
    fal_fake.fail_next(
        "submit",
        Reply(
            422,
            {
                "detail": [
                    {
                        "loc": ["body", "prompt"],
                        "msg": "flagged",
                        "type": "content_policy_violation",
                    }
                ]
            },
        ),
    )
    with pytest.raises(RequestRejected) as excinfo:
        _submit(provider)
    assert excinfo.value.code == "content_policy" and not excinfo.value.retryable
    assert "body.prompt: flagged" in str(excinfo.value)


def test_401_is_rejected_without_showing_the_key(fal_fake) -> None:
    fal_fake.fail_next("submit", Reply(401, {"detail": "Invalid key"}))
    with pytest.raises(RequestRejected) as excinfo:
        _submit(FalProvider())
    assert excinfo.value.code == "unauthorized"
    assert FAL_KEY not in str(excinfo.value) and "fal-test-key" not in str(excinfo.value)


@pytest.mark.parametrize(
    ("route", "reply"),
    [
        ("submit", Reply(200, b"<html>gateway</html>", {"Content-Type": "text/html"})),
        ("submit", Reply(200, {"status": "IN_QUEUE"})),
        ("submit", Reply(200, ["not", "an", "object"])),
        ("status", Reply(200, {"status": "DREAMING"})),
        ("status", Reply(202, {"status": "IN_QUEUE"})),
        ("result", Reply(200, {"images": []})),
    ],
)
def test_malformed_answers(fal_fake, route, reply) -> None:
    fal_fake.instant = True
    provider = FalProvider()
    submission = None if route == "submit" else _submit(provider)
    fal_fake.fail_next(route, reply)
    with pytest.raises(MalformedResponse) as excinfo:
        if route == "submit":
            _submit(provider)
        elif route == "status":
            provider.status(submission)
        else:
            provider.result(submission)
    assert excinfo.value.retryable


def test_expired_result_url(fal_fake, tmp_path: Path) -> None:
    fal_fake.instant = True
    provider = FalProvider()
    submission = _submit(provider)
    result = provider.result(submission)
    fal_fake.expire_media(submission.request_id)
    with pytest.raises(ResultExpired):
        provider.download(result, tmp_path / "x.mp4", max_bytes=10**8, deadline_s=10)
    assert not (tmp_path / "x.mp4").exists()


def test_cancel_outcomes(fal_fake) -> None:
    provider = FalProvider()
    queued = _submit(provider)
    assert provider.cancel(queued) == CancelOutcome.REQUESTED
    assert provider.status(queued).state == RemoteState.CANCELED
    assert fal_fake.calls_to("PUT")[0].path.endswith(f"/requests/{queued.request_id}/cancel")
    fal_fake.instant = True
    done = _submit(provider)
    assert provider.cancel(done) == CancelOutcome.ALREADY_COMPLETED
    gone = Submission(request_id="no-such-request", handles={"model": HH_T2V})
    assert provider.cancel(gone) == CancelOutcome.NOT_FOUND
    fal_fake.fail_next("cancel", Reply(200, {"status": "PERHAPS"}))
    with pytest.raises(MalformedResponse):
        provider.cancel(done)


def test_lost_submit_answer_is_ambiguous_and_not_resent(fal_fake) -> None:
    fal_fake.submit_delay_s = 1.5
    provider = FalProvider(client=httpx.Client(timeout=httpx.Timeout(0.5, connect=2.0)))
    with pytest.raises(AmbiguousSubmit):
        _submit(provider)
    # fal has no lookup by key: the driver must not guess, so lookup says so.
    with pytest.raises(AmbiguousSubmit) as excinfo:
        provider.lookup(idempotency_key="job-1-attempt-1")
    assert excinfo.value.code == "lookup_unsupported"
    assert fal_fake.submissions == 1


def test_handles_on_another_host_are_not_followed(fal_fake) -> None:
    provider = FalProvider()
    evil = "https://collector.example/steal"
    fal_fake.fail_next(
        "submit",
        Reply(
            200, {"request_id": "r-1", "status_url": evil, "response_url": evil, "cancel_url": evil}
        ),
    )
    submission = _submit(provider)
    assert all(evil not in url for url in submission.handles.values())
    assert submission.handles["status_url"] == (
        f"{fal_fake.origin}/alibaba/happy-horse/requests/r-1/status"
    )


# --- webhooks ---------------------------------------------------------------------------------


def _delivery(fal_fake, provider: FalProvider, outcome: str = "ok"):
    fal_fake.outcome = outcome
    submission = _submit(provider)
    job = fal_fake.jobs[submission.request_id]
    fal_fake.finish(job)
    body = fal_fake.webhook_body(job)
    return submission, body, fal_fake.sign(job, body)


def test_webhook_ok_and_error(fal_fake) -> None:
    provider = FalProvider()
    submission, body, headers = _delivery(fal_fake, provider)
    event = provider.parse_webhook(headers, body)
    assert event.request_id == submission.request_id
    assert event.status.state == RemoteState.COMPLETED
    assert event.result is not None and event.result.url.endswith(".mp4")
    again = provider.parse_webhook(headers, body)
    assert again.delivery_id == event.delivery_id  # the same delivery replayed: same id

    _, body, headers = _delivery(fal_fake, provider, outcome="content_policy")
    failed = provider.parse_webhook(headers, body)
    assert failed.status.state == RemoteState.FAILED
    assert failed.status.error_code == "content_policy"
    assert "flagged by the content checker" in failed.status.error


def test_webhook_refusals(fal_fake, settings) -> None:
    provider = FalProvider()
    submission, body, headers = _delivery(fal_fake, provider)

    def refused(h, b, code):
        with pytest.raises(WebhookRejected) as excinfo:
            provider.parse_webhook(h, b)
        assert excinfo.value.code == code, excinfo.value

    refused({}, body, "unsigned")
    refused(headers, body.replace(b'"OK"', b'"ERROR"'), "bad_signature")  # tampered body
    refused({**headers, "X-Fal-Webhook-Signature": "zz"}, body, "bad_signature")
    stale = fal_fake.signed_headers(submission.request_id, body, timestamp=int(time.time()) - 301)
    refused(stale, body, "stale")
    future = fal_fake.signed_headers(submission.request_id, body, timestamp=int(time.time()) + 301)
    refused(future, body, "stale")
    # Signed, but for a different request than the body names.
    refused(fal_fake.signed_headers("other-id", body), body, "bad_body")
    junk = b"not json"
    refused(fal_fake.signed_headers(submission.request_id, junk), junk, "bad_body")
    settings.FAL_WEBHOOK_USER_ID = "someone-else"
    refused(headers, body, "wrong_user")


def test_webhook_keys_rotate_and_unreachable_jwks_is_transient(fal_fake, settings) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from generation.providers import fal as fal_module

    provider = FalProvider()
    _, body, headers = _delivery(fal_fake, provider)
    provider.parse_webhook(headers, body)  # caches the JWKS
    fal_fake.private_key = Ed25519PrivateKey.generate()  # fal rotates its key
    _, body, headers = _delivery(fal_fake, provider)
    with pytest.raises(WebhookRejected):  # cached keys are fresh: no refetch within a minute
        provider.parse_webhook(headers, body)
    cached_at, keys = next(iter(fal_module._jwks_cache.values()))
    fal_module._jwks_cache[settings.GREENLIGHT_PROVIDER_URLS["fal_jwks"]] = (cached_at - 120, keys)
    assert provider.parse_webhook(headers, body).status.state == RemoteState.COMPLETED

    fal_module.clear_webhook_keys()
    settings.GREENLIGHT_PROVIDER_URLS = {
        **settings.GREENLIGHT_PROVIDER_URLS,
        "fal_jwks": f"{fal_fake.origin}/no-jwks-here",
    }
    with pytest.raises(TransientError):
        provider.parse_webhook(headers, body)
