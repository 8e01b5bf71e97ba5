"""The webhook endpoint: verified deliveries advance the job; every bad input gets a 4xx."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from django.urls import reverse

from generation.models import GenerationJob, WebhookDelivery
from tests.factories import JobFactory

pytestmark = pytest.mark.django_db
HH_T2V = "alibaba/happy-horse/text-to-video"


def _job(request_id: str, provider: str = "fal", model: str = HH_T2V) -> GenerationJob:
    return JobFactory(
        provider=provider,
        model=model,
        status=GenerationJob.Status.SUBMITTED,
        provider_request_id=request_id,
        submission={"request_id": request_id, "handles": {"model": model}},
    )


def _post(provider: str, body: bytes, headers: dict[str, str]):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        reverse("generation:provider_webhook", args=[provider]),
        data=body,
        content_type="application/json",
        **extra,
    )


def _fal_delivery(fal_fake, request_id: str, *, status: str = "OK") -> tuple[bytes, dict]:
    payload = {"video": {"url": f"{fal_fake.origin}/media/x.mp4"}, "seed": 1}
    body = {"request_id": request_id, "gateway_request_id": request_id, "status": status}
    if status == "OK":
        body["payload"] = payload
    else:
        body.update(
            error="Invalid status code: 422",
            payload={"detail": [{"msg": "flagged", "type": "content_policy_violation"}]},
        )
    raw = json.dumps(body).encode()
    return raw, fal_fake.signed_headers(request_id, raw)


def test_fal_delivery_moves_the_job_to_downloading_once(fal_fake, no_enqueue) -> None:
    job = _job("req-ok")
    body, headers = _fal_delivery(fal_fake, "req-ok")
    response = _post("fal", body, headers)
    assert response.status_code == 200, response.content
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DOWNLOADING
    assert WebhookDelivery.objects.filter(provider="fal", request_id="req-ok").count() == 1
    replay = _post("fal", body, headers)
    assert replay.status_code == 409 and b"already received" in replay.content
    # A fresh delivery of the same news (fal retried with a new timestamp) is harmless.
    body, later = _fal_delivery(fal_fake, "req-ok")
    later = fal_fake.signed_headers("req-ok", body, timestamp=int(time.time()) + 1)
    assert _post("fal", body, later).status_code == 200
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.DOWNLOADING


def test_fal_error_delivery_fails_the_job_with_the_reason(fal_fake, no_enqueue) -> None:
    job = _job("req-bad")
    body, headers = _fal_delivery(fal_fake, "req-bad", status="ERROR")
    assert _post("fal", body, headers).status_code == 200
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.FAILED
    assert job.error_code == "content_policy" and "flagged" in job.error


def test_bad_deliveries_get_a_4xx_with_a_reason(fal_fake, no_enqueue, settings) -> None:
    job = _job("req-1")
    body, headers = _fal_delivery(fal_fake, "req-1")
    cases = [
        ("fal", body, {}, 403, b"signature headers"),
        ("fal", body + b" ", headers, 403, b"does not verify"),
        (
            "fal",
            body,
            fal_fake.signed_headers("req-1", body, timestamp=int(time.time()) - 3600),
            403,
            b"300 s",
        ),
        ("fal", b"{}", fal_fake.signed_headers("req-1", b"{}"), 400, b"does not name"),
        ("nosuch", body, headers, 404, b"no provider"),
        ("dashscope", body, headers, 404, b"does not send webhooks"),
    ]
    for provider, raw, hdrs, status, reason in cases:
        response = _post(provider, raw, hdrs)
        assert (response.status_code, reason in response.content) == (status, True), (
            provider,
            response.content,
        )
    unknown_body, unknown_headers = _fal_delivery(fal_fake, "req-nobody-has")
    response = _post("fal", unknown_body, unknown_headers)
    assert response.status_code == 404 and b"no job carries" in response.content
    assert Client().get(reverse("generation:provider_webhook", args=["fal"])).status_code == 405
    settings.GREENLIGHT_WEBHOOK_MAX_BYTES = 100
    assert _post("fal", body, headers).status_code == 413
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUBMITTED
    assert not WebhookDelivery.objects.exists()


def test_unreachable_keys_answer_503_so_fal_delivers_again(fal_fake, settings, no_enqueue) -> None:
    _job("req-2")
    body, headers = _fal_delivery(fal_fake, "req-2")
    settings.GREENLIGHT_PROVIDER_URLS = {
        **settings.GREENLIGHT_PROVIDER_URLS,
        "fal_jwks": "http://127.0.0.1:9/jwks.json",
    }
    response = _post("fal", body, headers)
    assert response.status_code == 503 and b"cannot verify" in response.content
