"""The Model Studio (DashScope) adapter against its loopback fake."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.test import override_settings

from generation.providers.base import (
    AmbiguousSubmit,
    CancelOutcome,
    GenerationRequest,
    MalformedResponse,
    ProviderError,
    RateLimited,
    RemoteState,
    RequestRejected,
    ResultExpired,
    Submission,
    TransientError,
)
from generation.providers.capabilities import spec_for
from generation.providers.dashscope import DashScopeProvider, build_body
from tests.fakes.base import Reply
from tests.fakes.dashscope import THROTTLED
from tests.fakes.fixtures import DASHSCOPE_KEY

T2V = "happyhorse-1.0-t2v"


def _request(**overrides) -> GenerationRequest:
    values = {"prompt": "A horse in the snow", "duration_s": 5, "model": T2V}
    return GenerationRequest(**{**values, **overrides})


def _submit(provider: DashScopeProvider, **overrides) -> Submission:
    return provider.submit(_request(**overrides), idempotency_key="job-7-attempt-1")


def test_request_shapes() -> None:
    assert build_body(spec_for("dashscope", T2V), _request(seed=3)) == {
        "model": T2V,
        "input": {"prompt": "A horse in the snow"},
        "parameters": {
            "duration": 5,
            "watermark": False,
            "ratio": "16:9",
            "resolution": "720P",
            "seed": 3,
        },
    }
    image = "https://example.com/first.png"
    i2v = build_body(
        spec_for("dashscope", "happyhorse-1.0-i2v"),
        _request(model="happyhorse-1.0-i2v", image_url=image, resolution="1080p"),
    )
    assert i2v["input"]["media"] == [{"type": "first_frame", "url": image}]
    assert "ratio" not in i2v["parameters"] and i2v["parameters"]["resolution"] == "1080P"
    r2v = build_body(
        spec_for("dashscope", "happyhorse-1.0-r2v"),
        _request(model="happyhorse-1.0-r2v", image_url=image),
    )
    assert r2v["input"]["media"] == [{"type": "reference_image", "url": image}]
    wan = build_body(
        spec_for("dashscope", "wan2.6-t2v"),
        _request(model="wan2.6-t2v", aspect_ratio="9:16", audio=False),
    )
    assert wan["parameters"]["size"] == "720*1280" and wan["parameters"]["audio"] is False
    wan_i2v = build_body(
        spec_for("dashscope", "wan2.6-i2v"), _request(model="wan2.6-i2v", image_url=image)
    )
    assert wan_i2v["input"]["img_url"] == image


def test_region_setting_picks_the_base_url(settings) -> None:
    import importlib

    import environ

    from config import settings as config_settings

    for region, host in [
        ("singapore", "dashscope-intl.aliyuncs.com"),
        ("us", "dashscope-us.aliyuncs.com"),
        ("beijing", "dashscope.aliyuncs.com"),
    ]:
        assert host in config_settings.GREENLIGHT_DASHSCOPE_REGIONS[region]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DASHSCOPE_REGION", "beijing")
        mp.delenv("DASHSCOPE_BASE_URL", raising=False)
        reloaded = importlib.reload(config_settings)
        assert reloaded.GREENLIGHT_PROVIDER_URLS["dashscope"] == (
            "https://dashscope.aliyuncs.com/api/v1"
        )
        mp.setenv("DASHSCOPE_REGION", "mars")
        with pytest.raises(environ.ImproperlyConfigured, match="singapore, us, beijing"):
            importlib.reload(config_settings)
    importlib.reload(config_settings)


def test_submit_poll_result_download(dashscope_fake, tmp_path: Path) -> None:
    provider = DashScopeProvider()
    submission = _submit(provider, resolution="1080p", duration_s=10)
    call = dashscope_fake.calls_to("POST")[0]
    assert call.path == "/api/v1/services/aigc/video-generation/video-synthesis"
    assert call.headers["x-dashscope-async"] == "enable"
    assert call.headers["authorization"] == f"Bearer {DASHSCOPE_KEY}"
    assert json.loads(call.body)["parameters"]["duration"] == 10

    queued = provider.status(submission)
    assert queued.state == RemoteState.QUEUED and queued.poll_after_s == 15.0
    assert provider.status(submission).state == RemoteState.RUNNING
    assert provider.status(submission).state == RemoteState.COMPLETED

    result = provider.result(submission)
    assert result.usage["duration_s"] == 10 and result.usage["resolution"] == "1080p"
    assert result.cost_usd == Decimal("2.2540")  # 10 s × ¥1.6 at 7.10 CNY/USD
    assert result.expires_at is not None
    size = provider.download(result, tmp_path / "c.mp4", max_bytes=10**8, deadline_s=30)
    assert size == len(dashscope_fake.video)
    assert dashscope_fake.submissions == 1


@pytest.mark.parametrize(
    ("outcome", "code", "words"),
    [
        ("content_policy", "content_policy", "inappropriate content"),
        ("error", "InvalidParameter", "size is not match"),
    ],
)
def test_failed_task_names_the_code(dashscope_fake, outcome, code, words) -> None:
    dashscope_fake.instant = True
    dashscope_fake.outcome = outcome
    provider = DashScopeProvider()
    report = provider.status(_submit(provider))
    assert report.state == RemoteState.FAILED and report.error_code == code
    assert words in report.error


def test_unknown_task_is_failed_expired(dashscope_fake) -> None:
    report = DashScopeProvider().status(Submission(request_id="gone-long-ago"))
    assert (report.state, report.error_code) == (RemoteState.FAILED, "expired")


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        (THROTTLED, RateLimited, "rate_limited"),
        (
            Reply(
                429,
                {"code": "Throttling.AllocationQuota", "message": "Free allocated quota exceeded."},
            ),
            RequestRejected,
            "quota",
        ),
        (Reply(500, {"code": "InternalError", "message": "oops"}), TransientError, "server_error"),
        (
            Reply(400, {"code": "InvalidParameter", "message": "bad ratio"}),
            RequestRejected,
            "invalid_request",
        ),
        (
            Reply(401, {"code": "InvalidApiKey", "message": "Invalid API-key provided."}),
            RequestRejected,
            "unauthorized",
        ),
        (
            Reply(
                400,
                {
                    "code": "DataInspectionFailed",
                    "message": "Input data may contain inappropriate content.",
                },
            ),
            RequestRejected,
            "content_policy",
        ),
    ],
)
def test_error_codes_are_mapped(dashscope_fake, reply, error, code) -> None:
    dashscope_fake.fail_next("submit", reply)
    with pytest.raises(error) as excinfo:
        _submit(DashScopeProvider())
    assert type(excinfo.value) is error and excinfo.value.code == code
    assert reply.body["code"] in str(excinfo.value)
    assert DASHSCOPE_KEY not in str(excinfo.value)
    assert dashscope_fake.submissions == 0


def test_throttling_without_retry_after_leaves_the_wait_to_backoff(dashscope_fake) -> None:
    dashscope_fake.fail_next("status", THROTTLED)
    provider = DashScopeProvider()
    submission = _submit(provider)
    with pytest.raises(RateLimited) as excinfo:
        provider.status(submission)
    assert excinfo.value.retry_after is None


@pytest.mark.parametrize(
    ("route", "reply"),
    [
        ("submit", Reply(200, {"request_id": "x"})),
        ("submit", Reply(200, b"not json")),
        ("status", Reply(200, {"output": {"task_id": "x"}})),
        ("status", Reply(200, {"output": {"task_id": "x", "task_status": "DANCING"}})),
    ],
)
def test_malformed_answers(dashscope_fake, route, reply) -> None:
    provider = DashScopeProvider()
    submission = None if route == "submit" else _submit(provider)
    dashscope_fake.fail_next(route, reply)
    with pytest.raises(MalformedResponse):
        _submit(provider) if route == "submit" else provider.status(submission)


def test_result_without_video_url_and_before_success(dashscope_fake) -> None:
    provider = DashScopeProvider()
    submission = _submit(provider)
    with pytest.raises(ProviderError) as excinfo:
        provider.result(submission)
    assert excinfo.value.code == "not_ready"
    dashscope_fake.fail_next(
        "status", Reply(200, {"output": {"task_id": "x", "task_status": "SUCCEEDED"}})
    )
    with pytest.raises(MalformedResponse):
        provider.result(submission)


def test_expired_result_url(dashscope_fake, tmp_path: Path) -> None:
    dashscope_fake.instant = True
    provider = DashScopeProvider()
    submission = _submit(provider)
    result = provider.result(submission)
    dashscope_fake.expire_media(submission.request_id)
    with pytest.raises(ResultExpired):
        provider.download(result, tmp_path / "c.mp4", max_bytes=10**8, deadline_s=10)


def test_cancel_only_while_pending(dashscope_fake) -> None:
    provider = DashScopeProvider()
    pending = _submit(provider)
    assert provider.cancel(pending) == CancelOutcome.CANCELED
    assert provider.status(pending).state == RemoteState.CANCELED
    running = _submit(provider)
    provider.status(running)  # PENDING seen; now RUNNING
    with pytest.raises(RequestRejected) as excinfo:
        provider.cancel(running)
    assert excinfo.value.code == "cancel_unsupported"
    dashscope_fake.instant = True
    done = _submit(provider)
    assert provider.cancel(done) == CancelOutcome.ALREADY_COMPLETED
    assert provider.cancel(Submission(request_id="nope")) == CancelOutcome.NOT_FOUND


def test_lost_submit_answer_is_ambiguous(dashscope_fake) -> None:
    dashscope_fake.submit_delay_s = 1.5
    provider = DashScopeProvider(client=httpx.Client(timeout=httpx.Timeout(0.5, connect=2.0)))
    with pytest.raises(AmbiguousSubmit):
        _submit(provider)
    with pytest.raises(AmbiguousSubmit):
        provider.lookup(idempotency_key="job-7-attempt-1")
    assert dashscope_fake.submissions == 1


@override_settings(DASHSCOPE_API_KEY="")
def test_not_configured(dashscope_fake) -> None:
    provider = DashScopeProvider()
    assert not provider.is_configured()
    with pytest.raises(RequestRejected, match="not configured"):
        _submit(provider)
