"""fal-client (the official Python client) against the fal fake."""

from __future__ import annotations

import fal_client
import fal_client.client
import pytest

from generation.providers.base import GenerationRequest
from generation.providers.fal import FalProvider
from tests.fakes.base import Reply
from tests.fakes.fixtures import FAL_KEY

APP = "alibaba/happy-horse/text-to-video"
ARGS = {"prompt": "A horse runs on a beach at dawn", "duration": 5, "resolution": "720p"}


@pytest.fixture
def client(fal_fake, monkeypatch) -> fal_client.SyncClient:
    # The client builds https://{FAL_QUEUE_RUN_HOST}/ at import; the fake is plain http.
    monkeypatch.setattr(fal_client.client, "QUEUE_URL_FORMAT", f"{fal_fake.origin}/")
    return fal_client.SyncClient(key=FAL_KEY)


def test_submit_status_result(client, fal_fake) -> None:
    handle = client.submit(APP, ARGS, webhook_url="https://greenlight.test/hook")
    assert fal_fake.submissions == 1
    call = fal_fake.calls_to("POST")[0]
    assert call.headers["authorization"] == f"Key {FAL_KEY}"
    assert call.query == {"fal_webhook": ["https://greenlight.test/hook"]}
    assert handle.status_url.endswith(f"/alibaba/happy-horse/requests/{handle.request_id}/status")

    queued = handle.status(with_logs=True)
    assert isinstance(queued, fal_client.Queued) and queued.position == 0
    running = handle.status(with_logs=True)
    assert isinstance(running, fal_client.InProgress) and running.logs[0]["message"]
    done = handle.status(with_logs=True)
    assert isinstance(done, fal_client.Completed) and done.error is None

    output = handle.get()
    assert output["video"]["url"].endswith(f"/media/{handle.request_id}.mp4")
    assert output["video"]["content_type"] == "video/mp4"
    # The client rebuilds handles from owner/app only, as the fake serves them.
    assert client.result(APP, handle.request_id) == output


def test_failed_request_is_completed_with_error_then_422(client, fal_fake) -> None:
    fal_fake.instant = True
    fal_fake.outcome = "content_policy"
    handle = client.submit(APP, ARGS)
    status = handle.status()
    assert isinstance(status, fal_client.Completed) and status.error
    with pytest.raises(fal_client.client.FalClientHTTPError) as excinfo:
        handle.get()
    assert excinfo.value.status_code == 422
    assert "content_policy_violation" in str(excinfo.value.response.text)


def test_cancel_and_already_completed(client, fal_fake) -> None:
    handle = client.submit(APP, ARGS)
    handle.cancel()  # 202 CANCELLATION_REQUESTED
    fal_fake.instant = True
    done = client.submit(APP, ARGS)
    with pytest.raises(fal_client.client.FalClientHTTPError) as excinfo:
        done.cancel()
    assert excinfo.value.status_code == 400


def test_client_retries_a_429_the_fake_sends_once(client, fal_fake) -> None:
    fal_fake.fail_next("submit", Reply(429, {"detail": "busy"}, {"Retry-After": "1"}))
    handle = client.submit(APP, ARGS)
    assert handle.request_id in fal_fake.jobs
    assert len(fal_fake.calls_to("POST")) == 2 and fal_fake.submissions == 1


def test_adapter_submission_is_readable_by_the_official_client(client, fal_fake) -> None:
    submission = FalProvider().submit(
        GenerationRequest(prompt="A horse", duration_s=5, model=APP), idempotency_key="k"
    )
    status = client.status(APP, submission.request_id)
    assert isinstance(status, fal_client.Queued)
