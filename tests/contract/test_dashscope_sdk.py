"""The official `dashscope` SDK (VideoSynthesis) against the Model Studio fake."""

from __future__ import annotations

import dashscope
import pytest
from dashscope import VideoSynthesis

from generation.providers.base import GenerationRequest
from generation.providers.dashscope import DashScopeProvider
from tests.fakes.dashscope import THROTTLED
from tests.fakes.fixtures import DASHSCOPE_KEY

T2V = "happyhorse-1.0-t2v"


@pytest.fixture(autouse=True)
def _sdk_points_at_the_fake(dashscope_fake, monkeypatch) -> None:
    monkeypatch.setattr(dashscope, "base_http_api_url", dashscope_fake.base_url)


def _create(**kwargs):
    values = {"model": T2V, "prompt": "A horse", "duration": 5, "resolution": "720P"}
    return VideoSynthesis.async_call(api_key=DASHSCOPE_KEY, **{**values, **kwargs})


def test_async_call_then_fetch_until_succeeded(dashscope_fake) -> None:
    created = _create(ratio="16:9", watermark=False)
    assert created.status_code == 200 and created.output.task_status == "PENDING"
    call = dashscope_fake.calls_to("POST")[0]
    assert call.headers["x-dashscope-async"] == "enable"
    assert call.headers["authorization"] == f"Bearer {DASHSCOPE_KEY}"
    seen = [VideoSynthesis.fetch(created.output.task_id, api_key=DASHSCOPE_KEY) for _ in range(3)]
    assert [r.output.task_status for r in seen] == ["PENDING", "RUNNING", "SUCCEEDED"]
    done = seen[-1]
    assert done.output.video_url.startswith(dashscope_fake.origin)
    assert done.usage.duration == 5 and dashscope_fake.submissions == 1


def test_image_to_video_with_media(dashscope_fake) -> None:
    media = [{"type": "first_frame", "url": "https://example.com/first.png"}]
    created = _create(model="happyhorse-1.0-i2v", media=media)
    assert created.status_code == 200
    assert dashscope_fake.only_job().input["input"]["media"] == media


def test_failed_task_code_reaches_the_sdk(dashscope_fake) -> None:
    dashscope_fake.instant = True
    dashscope_fake.outcome = "content_policy"
    created = _create()
    fetched = VideoSynthesis.fetch(created.output.task_id, api_key=DASHSCOPE_KEY)
    assert fetched.output.task_status == "FAILED"
    assert fetched.output.code == "DataInspectionFailed"


def test_cancel_pending_and_refusal_once_running(dashscope_fake) -> None:
    created = _create()
    assert VideoSynthesis.cancel(created.output.task_id, api_key=DASHSCOPE_KEY).status_code == 200
    second = _create()
    VideoSynthesis.fetch(second.output.task_id, api_key=DASHSCOPE_KEY)  # now RUNNING
    refused = VideoSynthesis.cancel(second.output.task_id, api_key=DASHSCOPE_KEY)
    assert refused.status_code == 400 and refused.code == "UnsupportedOperation"


def test_throttling_and_bad_key_as_the_sdk_reports_them(dashscope_fake) -> None:
    dashscope_fake.fail_next("submit", THROTTLED)
    throttled = _create()
    assert throttled.status_code == 429 and throttled.code == "Throttling.RateQuota"
    unknown = _create(model="happyhorse-9")
    assert unknown.status_code == 404 and unknown.code == "ModelNotFound"


def test_adapter_task_is_readable_by_the_sdk(dashscope_fake) -> None:
    submission = DashScopeProvider().submit(
        GenerationRequest(prompt="A horse", duration_s=5, model=T2V), idempotency_key="k"
    )
    fetched = VideoSynthesis.fetch(submission.request_id, api_key=DASHSCOPE_KEY)
    assert fetched.output.task_status == "PENDING"
