"""The one error map, the shared client and the handle check every hosted adapter relies on."""

from __future__ import annotations

import httpx
import pytest

from generation.providers.base import (
    GenerationRequest,
    RateLimited,
    RequestRejected,
    TransientError,
)
from generation.providers.capabilities import spec_for
from generation.providers.fal import FalProvider
from generation.providers.http import error_from_response, provider_code, shared_client


def _response(status: int, body=None, headers: dict | None = None) -> httpx.Response:
    request = httpx.Request("POST", "https://provider.test/v1/things")
    if isinstance(body, bytes):
        return httpx.Response(status, content=body, headers=headers, request=request)
    return httpx.Response(status, json=body, headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "code"),
    [
        # Content policy, whatever the status, from each provider's own code.
        (
            422,
            {
                "detail": [
                    {"loc": ["body", "prompt"], "msg": "no", "type": "content_policy_violation"}
                ]
            },
            {},
            RequestRejected,
            "content_policy",
        ),  # noqa: E501
        (
            400,
            {"code": "DataInspectionFailed", "message": "inappropriate"},
            {},
            RequestRejected,
            "content_policy",
        ),  # noqa: E501
        (
            400,
            {"error": "flagged", "failureCode": "SAFETY.INPUT.IMAGE"},
            {},
            RequestRejected,
            "content_policy",
        ),  # noqa: E501
        # Quota codes are final, even on 429.
        (
            429,
            {"code": "Throttling.AllocationQuota", "message": "Free allocated quota exceeded."},
            {},
            RequestRejected,
            "quota",
        ),  # noqa: E501
        (402, {"detail": "Payment required"}, {}, RequestRejected, "quota"),
        # x-should-retry overrides the status both ways.
        (500, {"error": "x"}, {"x-should-retry": "false"}, RequestRejected, "not_retryable"),
        (400, {"error": "x"}, {"x-should-retry": "true"}, TransientError, "server_error"),
        (
            504,
            {"detail": "Request timed out", "error_type": "request_timeout"},
            {},
            TransientError,
            "server_error",
        ),  # noqa: E501
        (403, {"code": "AccessDenied", "message": "denied"}, {}, RequestRejected, "unauthorized"),
        (404, b"<html>not here</html>", {}, RequestRejected, "invalid_request"),
    ],
)
def test_error_map(status, body, headers, kind, code) -> None:
    error = error_from_response(_response(status, body, headers))
    assert type(error) is kind and error.code == code
    assert str(status) in str(error)


def test_retry_after_ms_and_seconds_are_capped(settings) -> None:
    settings.GREENLIGHT_RETRY_AFTER_CAP = 60
    assert error_from_response(_response(429, {}, {"retry-after-ms": "2500"})).retry_after == 2.5
    assert error_from_response(_response(429, {}, {"retry-after": "9999"})).retry_after == 60
    limited = error_from_response(_response(429, {}, {"retry-after-ms": "junk"}))
    assert isinstance(limited, RateLimited) and limited.retry_after is None


def test_provider_code_falls_back_to_the_fal_header() -> None:
    response = _response(503, b"upstream", {"x-fal-error-type": "runner_disconnected"})
    assert provider_code(response) == "runner_disconnected"
    assert "[runner_disconnected]" in str(error_from_response(response))


def test_one_client_per_provider_per_process() -> None:
    assert shared_client("fal") is shared_client("fal")
    assert shared_client("fal") is not shared_client("runway")
    assert FalProvider().client is FalProvider().client


def test_handles_are_followed_only_on_the_configured_host(settings) -> None:
    settings.GREENLIGHT_PROVIDER_URLS = {
        **settings.GREENLIGHT_PROVIDER_URLS,
        "fal": "https://queue.fal.run",
    }
    provider = FalProvider()
    own = "https://queue.fal.run/alibaba/happy-horse/requests/1/status"
    assert provider.own_url(own, fallback="x") == own
    for other in (
        "http://queue.fal.run/alibaba/happy-horse/requests/1/status",
        "https://queue.fal.run.evil.example/x",
        "https://queue.fal.run:8443/x",
        "",
    ):
        assert provider.own_url(other, fallback="fallback") == "fallback"


def test_reference_models_take_an_image_and_text_models_refuse_one() -> None:
    image = "https://example.com/a.png"
    r2v = spec_for("fal", "alibaba/happy-horse/reference-to-video")
    assert r2v.problems(GenerationRequest(prompt="p", duration_s=5, image_url=image)) == []
    assert r2v.problems(GenerationRequest(prompt="p", duration_s=5)) == [
        "HappyHorse 1.0 reference-to-video (fal) needs a reference image"
    ]
    t2v = spec_for("fal", "alibaba/happy-horse/text-to-video")
    assert t2v.problems(GenerationRequest(prompt="p", duration_s=5, image_url=image)) == [
        "HappyHorse 1.0 text-to-video (fal) does not take a reference image"
    ]


def test_a_gateway_timeout_on_a_submit_is_ambiguous_and_on_a_read_transient(settings) -> None:
    from generation.providers.base import AmbiguousSubmit
    from generation.providers.http import HTTPProvider

    class Gateway(HTTPProvider):
        name = "gateway"
        label = "Gateway"

        def is_configured(self) -> bool:
            return True

    settings.GREENLIGHT_PROVIDER_URLS = {
        **settings.GREENLIGHT_PROVIDER_URLS,
        "gateway": "https://gw.test",
    }
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(504)))
    provider = Gateway(client=client)

    with pytest.raises(AmbiguousSubmit):
        provider.call("POST", "jobs", idempotent=False)
    with pytest.raises(TransientError):
        provider.call("GET", "jobs/1")
