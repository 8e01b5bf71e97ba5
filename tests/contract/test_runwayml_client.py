"""The official `runwayml` client against the Runway fake."""

from __future__ import annotations

import pytest
import runwayml

from generation.providers.base import GenerationRequest
from generation.providers.runway import RunwayProvider
from tests.fakes.fixtures import RUNWAY_SECRET
from tests.fakes.runway import THROTTLED


@pytest.fixture
def client(runway_fake) -> runwayml.RunwayML:
    return runwayml.RunwayML(api_key=RUNWAY_SECRET, base_url=runway_fake.origin, max_retries=0)


def test_text_to_video_then_retrieve(client, runway_fake) -> None:
    runway_fake.throttled_polls = 1
    created = client.text_to_video.create(
        model="happyhorse_1_0", prompt_text="A horse", duration=5, ratio="1280:720"
    )
    assert runway_fake.submissions == 1
    assert runway_fake.calls_to("POST")[0].headers["x-runway-version"] == "2024-11-06"
    statuses = [client.tasks.retrieve(created.id).status for _ in range(4)]
    assert statuses == ["THROTTLED", "PENDING", "RUNNING", "SUCCEEDED"]
    done = client.tasks.retrieve(created.id)
    assert done.output[0].endswith(f"/media/{created.id}.mp4")


def test_image_to_video_happyhorse(client, runway_fake) -> None:
    created = client.image_to_video.create(
        model="happyhorse_1_0",
        prompt_image="https://example.com/first.png",
        prompt_text="The horse turns its head",
        duration=5,
        resolution="720p",
    )
    assert runway_fake.jobs[created.id].input["promptImage"] == "https://example.com/first.png"


def test_failure_and_delete(client, runway_fake) -> None:
    runway_fake.instant = True
    runway_fake.outcome = "content_policy"
    created = client.text_to_video.create(model="happyhorse_1_0", prompt_text="x", ratio="960:960")
    failed = client.tasks.retrieve(created.id)
    assert failed.status == "FAILED" and failed.failure_code == "SAFETY.INPUT.TEXT"
    client.tasks.delete(created.id)
    with pytest.raises(runwayml.NotFoundError):
        client.tasks.retrieve(created.id)


def test_rate_limit_as_the_client_sees_it(client, runway_fake) -> None:
    runway_fake.fail_next("submit", THROTTLED)
    with pytest.raises(runwayml.RateLimitError):
        client.text_to_video.create(model="happyhorse_1_0", prompt_text="x", ratio="1280:720")
    retrying = runwayml.RunwayML(api_key=RUNWAY_SECRET, base_url=runway_fake.origin, max_retries=1)
    runway_fake.fail_next("submit", THROTTLED)
    created = retrying.text_to_video.create(
        model="happyhorse_1_0", prompt_text="x", ratio="1280:720"
    )
    assert created.id in runway_fake.jobs  # retried after retry-after-ms


def test_adapter_task_is_readable_by_the_client(client, runway_fake) -> None:
    submission = RunwayProvider().submit(
        GenerationRequest(prompt="A horse", duration_s=5, model="happyhorse_1_0"),
        idempotency_key="k",
    )
    assert client.tasks.retrieve(submission.request_id).status == "PENDING"
