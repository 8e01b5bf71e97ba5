"""The official `replicate` client against the Replicate fake, its webhook check included."""

from __future__ import annotations

import pytest
import replicate
from replicate.exceptions import ReplicateError
from replicate.webhook import InvalidSignatureError, Webhooks, WebhookSigningSecret

from generation.providers.base import GenerationRequest
from generation.providers.replicate import ReplicateProvider
from tests.fakes.fixtures import REPLICATE_TOKEN
from tests.fakes.replicate import SECRET, THROTTLED

MODEL = "wan-video/wan-2.5-t2v-fast"


@pytest.fixture
def client(replicate_fake) -> replicate.Client:
    return replicate.Client(api_token=REPLICATE_TOKEN, base_url=replicate_fake.origin)


def test_create_reload_until_succeeded(client, replicate_fake) -> None:
    prediction = client.predictions.create(
        model=MODEL,
        input={"prompt": "A horse", "duration": 5},
        webhook="https://greenlight.test/hooks/replicate/",
        webhook_events_filter=["start", "completed"],
    )
    assert prediction.status == "starting" and replicate_fake.submissions == 1
    seen = []
    for _ in range(3):
        prediction.reload()
        seen.append(prediction.status)
    assert seen == ["starting", "processing", "succeeded"]
    assert prediction.output.endswith(f"/media/{prediction.id}.mp4")
    assert client.predictions.get(prediction.id).status == "succeeded"


def test_create_by_version(client, replicate_fake) -> None:
    prediction = client.predictions.create(
        version="5c7d5dc6dd8bf75c1acaa8565735e7986bc5b662", input={"prompt": "A horse"}
    )
    assert replicate_fake.calls_to("POST")[0].path == "/v1/predictions"
    assert prediction.version == "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b662"


def test_cancel_and_list(client, replicate_fake) -> None:
    first = client.predictions.create(model=MODEL, input={"prompt": "one"})
    client.predictions.create(model=MODEL, input={"prompt": "two"})
    client.predictions.create(model=MODEL, input={"prompt": "three"})
    first.cancel()
    assert client.predictions.get(first.id).status == "canceled"
    page = client.predictions.list()
    assert len(page.results) == 2 and page.next
    rest = client.predictions.list(cursor=page.next)
    assert [p.id for p in rest.results] == [first.id]


def test_errors_reach_the_client_as_problem_json(client, replicate_fake) -> None:
    replicate_fake.fail_next("submit", THROTTLED)
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=MODEL, input={"prompt": "x"})
    assert excinfo.value.status == 429  # the client never retries a POST
    with pytest.raises(ReplicateError) as excinfo:
        client.predictions.create(model=MODEL, input={})
    assert excinfo.value.status == 422 and "prompt is required" in excinfo.value.detail


def test_fake_webhooks_pass_the_official_check(client, replicate_fake) -> None:
    submission = ReplicateProvider().submit(
        GenerationRequest(prompt="A horse", duration_s=5, model=MODEL),
        idempotency_key="greenlight-k",
        webhook_url="https://greenlight.test/hooks/replicate/",
    )
    job = replicate_fake.jobs[submission.request_id]
    replicate_fake.finish(job)
    body = replicate_fake.webhook_body(job)
    headers = replicate_fake.sign(job, body)
    secret = WebhookSigningSecret(key=SECRET)
    # validate() returns nothing and raises on a bad signature.
    Webhooks.validate(headers=headers, body=body.decode(), secret=secret, tolerance=300)
    with pytest.raises(InvalidSignatureError):
        Webhooks.validate(headers=headers, body=body.decode() + " ", secret=secret)
