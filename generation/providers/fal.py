"""fal.ai through its queue protocol: HappyHorse 1.0 and its peers (Seedance 2.0, Veo 3.1, Kling).

One protocol for every model (`../shared/PROVIDERS.md` §1):

- submit: `POST {queue}/{model id}[?fal_webhook=…]` with the model's input JSON, answered with
  `request_id` and the `status_url`, `response_url` and `cancel_url` to use later (built from
  owner/app only, never the endpoint path). fal takes no idempotency key and has no lookup by
  one, so a lost submit answer is AMBIGUOUS (the driver fails the job for a person to check
  rather than pay twice).
- status: `GET status_url?logs=1`, 202 while IN_QUEUE/IN_PROGRESS, 200 once COMPLETED; a failed
  request is COMPLETED with `error`/`error_type`, and its result GET answers the reason (422
  `detail[]` for validation and content policy).
- result: `GET response_url`, the model's output: `{"video": {"url", …}, "seed"}`.
- cancel: `PUT cancel_url`, answered `status` OK / CANCELLATION_REQUESTED / ALREADY_COMPLETED /
  NOT_FOUND (keyed on the field, not the HTTP code).
- webhooks: fal POSTs `{request_id, status: OK|ERROR, payload, error}` signed with Ed25519;
  the public keys come from the JWKS URL setting (cached a day, refetched once when no key
  verifies), the timestamp must be within GREENLIGHT_WEBHOOK_TOLERANCE seconds.

Handles the provider returns are followed only when they point at the configured queue host.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings

from generation.providers.base import (
    CancelOutcome,
    GenerationRequest,
    MalformedResponse,
    ProviderError,
    RemoteState,
    RequestRejected,
    ResultReport,
    StatusReport,
    Submission,
    TransientError,
    WebhookEvent,
    WebhookRejected,
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register, spec_for
from generation.providers.http import HTTPProvider, error_from_response, failure_code

NAME = "fal"
_LLMS = "fal.ai/models/{}/llms.txt"
_READ = date(2026, 11, 24)
_ALL_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")


def _usd(value: str) -> Decimal:
    return Decimal(value)


def _happyhorse_prices() -> tuple[Price, ...]:
    source = _LLMS.format("alibaba/happy-horse/text-to-video") + " (official), read 2026"
    return (
        Price(_usd("0.14"), source=source, as_of=date(2026, 6, 20), resolution="720p"),
        Price(_usd("0.28"), source=source, as_of=date(2026, 6, 20), resolution="1080p"),
    )


def _veo_prices() -> tuple[Price, ...]:
    source = _LLMS.format("fal-ai/veo3.1") + " (official)"
    return (
        Price(_usd("0.40"), source=source, as_of=_READ, audio=True),
        Price(_usd("0.20"), source=source, as_of=_READ, audio=False),
    )


def _seedance_prices() -> tuple[Price, ...]:
    return (
        Price(
            _usd("0.3024"),
            source="third-party registry and muapi comparison of fal's Seedance 2.0 (mirror)",
            as_of=_READ,
            resolution="720p",
        ),
        Price(
            _usd("0.1731"),
            source="fal llms.txt, Seedance 2.0 US-hosted 480p (official)",
            as_of=_READ,
            resolution="480p",
        ),
    )


def _kling_prices() -> tuple[Price, ...]:
    return (
        Price(
            _usd("0.392"),
            source="fal.ai/kling-3 as listed in a public repo: $0.168–0.392/s; upper bound "
            "used so an estimate never undershoots (mirror)",
            as_of=_READ,
        ),
    )


# (model id, label, modes, durations, resolutions, ratios, audio, prices, field shapes)
_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec(
        provider=NAME,
        model="alibaba/happy-horse/text-to-video",
        label="HappyHorse 1.0 text-to-video (fal)",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_ALL_RATIOS,
        audio=Audio.ALWAYS,
        prices=_happyhorse_prices(),
        notes="Native synchronized audio, always on and not charged extra. Prompt ≤2500 chars.",
        extra={"family": "happyhorse", "duration": "int", "max_prompt": "2500"},
    ),
    ModelSpec(
        provider=NAME,
        model="alibaba/happy-horse/image-to-video",
        label="HappyHorse 1.0 image-to-video (fal)",
        modes=frozenset({Mode.IMAGE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_ALL_RATIOS,
        audio=Audio.ALWAYS,
        prices=_happyhorse_prices(),
        min_image_side=300,
        notes="The aspect ratio follows the first-frame image (JPEG/PNG/BMP/WEBP, ≥300 px).",
        extra={"family": "happyhorse", "duration": "int", "max_prompt": "2500"},
    ),
    ModelSpec(
        provider=NAME,
        model="alibaba/happy-horse/reference-to-video",
        label="HappyHorse 1.0 reference-to-video (fal)",
        modes=frozenset({Mode.REFERENCE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_ALL_RATIOS,
        audio=Audio.ALWAYS,
        prices=_happyhorse_prices(),
        max_reference_images=9,
        min_image_side=400,
        notes="Refer to the subject as character1 in the prompt.",
        extra={"family": "happyhorse", "duration": "int", "max_prompt": "2500"},
    ),
    ModelSpec(
        provider=NAME,
        model="bytedance/seedance-2.0/text-to-video",
        label="Seedance 2.0 text-to-video (fal)",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(4, 16)),
        resolutions=("480p", "720p"),
        aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9"),
        audio=Audio.OPTIONAL,
        prices=_seedance_prices(),
        notes="generate_audio costs the same either way.",
        extra={"family": "seedance", "duration": "str"},
    ),
    ModelSpec(
        provider=NAME,
        model="bytedance/seedance-2.0/image-to-video",
        label="Seedance 2.0 image-to-video (fal)",
        modes=frozenset({Mode.IMAGE}),
        durations=tuple(range(4, 16)),
        resolutions=("480p", "720p"),
        aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4", "21:9"),
        audio=Audio.OPTIONAL,
        prices=_seedance_prices(),
        extra={"family": "seedance", "duration": "str", "image_field": "image_url"},
    ),
    ModelSpec(
        provider=NAME,
        model="fal-ai/veo3.1",
        label="Veo 3.1 text-to-video (fal)",
        modes=frozenset({Mode.TEXT}),
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=Audio.OPTIONAL,
        prices=_veo_prices(),
        notes='Duration goes over the wire as "8s" strings.',
        extra={"family": "veo", "duration": "seconds_s"},
    ),
    ModelSpec(
        provider=NAME,
        model="fal-ai/veo3.1/image-to-video",
        label="Veo 3.1 image-to-video (fal)",
        modes=frozenset({Mode.IMAGE}),
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=Audio.OPTIONAL,
        prices=_veo_prices(),
        extra={"family": "veo", "duration": "seconds_s", "image_field": "image_url"},
    ),
    ModelSpec(
        provider=NAME,
        model="fal-ai/kling-video/v3/pro/text-to-video",
        label="Kling 3.0 Pro text-to-video (fal)",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(3, 16)),
        resolutions=("1080p",),
        aspect_ratios=("16:9", "9:16", "1:1"),
        audio=Audio.OPTIONAL,
        prices=_kling_prices(),
        extra={"family": "kling", "duration": "str"},
    ),
    ModelSpec(
        provider=NAME,
        model="fal-ai/kling-video/v3/pro/image-to-video",
        label="Kling 3.0 Pro image-to-video (fal)",
        modes=frozenset({Mode.IMAGE}),
        durations=tuple(range(3, 16)),
        resolutions=("1080p",),
        aspect_ratios=("16:9", "9:16", "1:1"),
        audio=Audio.OPTIONAL,
        prices=_kling_prices(),
        notes="Kling takes the first frame as start_image_url.",
        extra={"family": "kling", "duration": "str", "image_field": "start_image_url"},
    ),
)
for _spec in _MODELS:
    register(_spec)

_STATES = {
    "IN_QUEUE": RemoteState.QUEUED,
    "IN_PROGRESS": RemoteState.RUNNING,
    "COMPLETED": RemoteState.COMPLETED,
    # Not documented by fal, tolerated (a third-party schema lists them).
    "FAILED": RemoteState.FAILED,
    "CANCELED": RemoteState.CANCELED,
    "CANCELLED": RemoteState.CANCELED,
}
_CANCEL = {
    "OK": CancelOutcome.CANCELED,
    "CANCELLATION_REQUESTED": CancelOutcome.REQUESTED,
    "ALREADY_COMPLETED": CancelOutcome.ALREADY_COMPLETED,
    "NOT_FOUND": CancelOutcome.NOT_FOUND,
}


def build_input(spec: ModelSpec, request: GenerationRequest) -> dict[str, Any]:
    """The model's input JSON for `request` (field names and value types per model family)."""
    spec.check(request)
    family = spec.extra.get("family", "")
    prompt = request.prompt.strip()
    if request.script.strip():
        prompt += f'\n\nSpoken lines ({request.language}): "{request.script.strip()}"'
    limit = int(spec.extra.get("max_prompt", "0") or 0)
    if limit and len(prompt) > limit:
        raise RequestRejected(
            f"{spec.label} takes prompts of at most {limit} characters, not {len(prompt)}",
            code="prompt_too_long",
        )
    shape = spec.extra.get("duration", "int")
    duration: int | str = request.duration_s
    if shape == "str":
        duration = str(request.duration_s)
    elif shape == "seconds_s":
        duration = f"{request.duration_s}s"
    body: dict[str, Any] = {"prompt": prompt, "duration": duration}
    if Mode.REFERENCE in spec.modes:
        body["image_urls"] = [request.image_url]
    elif Mode.IMAGE in spec.modes:
        body[spec.extra.get("image_field", "image_url")] = request.image_url
    if Mode.IMAGE not in spec.modes:
        # Image-to-video follows the image's shape; every other mode takes a ratio.
        body["aspect_ratio"] = request.aspect_ratio
    if family != "kling":
        body["resolution"] = request.resolution
    if family == "happyhorse":
        body["enable_safety_checker"] = True
    elif spec.audio == Audio.OPTIONAL:
        body["generate_audio"] = bool(request.audio)
    if request.seed is not None:
        body["seed"] = int(request.seed)
    return body


def _app_prefix(model: str) -> str:
    """owner/app of a model id (status, result and cancel URLs drop the endpoint path)."""
    parts = [p for p in model.split("/") if p]
    if parts and parts[0] in ("workflows", "comfy"):
        return "/".join(parts[:3])
    return "/".join(parts[:2])


# --- webhook keys ---------------------------------------------------------------------------

_JWKS_TTL_S = 24 * 3600
_JWKS_REFETCH_AFTER_S = 60
_jwks_lock = threading.Lock()
_jwks_cache: dict[str, tuple[float, tuple[Ed25519PublicKey, ...]]] = {}


def _b64url(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _fetch_jwks(url: str) -> tuple[Ed25519PublicKey, ...]:
    try:
        response = httpx.get(url, timeout=httpx.Timeout(10.0, connect=5.0))
    except httpx.HTTPError as exc:
        raise TransientError(f"cannot fetch fal's webhook keys: {exc!r}", code="jwks") from exc
    if response.status_code != 200:
        raise TransientError(f"fal's webhook keys answered {response.status_code}", code="jwks")
    try:
        keys = response.json()["keys"]
        found = tuple(
            Ed25519PublicKey.from_public_bytes(_b64url(key["x"]))
            for key in keys
            if key.get("kty") == "OKP" and key.get("crv") == "Ed25519"
        )
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise MalformedResponse(f"fal's JWKS is malformed: {exc!r}", code="jwks") from exc
    if not found:
        raise MalformedResponse("fal's JWKS holds no Ed25519 key", code="jwks")
    return found


def webhook_keys(*, refresh_if_older_than: float | None = None) -> tuple[Ed25519PublicKey, ...]:
    """fal's webhook public keys from the JWKS URL setting, cached for a day."""
    url = settings.GREENLIGHT_PROVIDER_URLS["fal_jwks"]
    now = time.monotonic()
    with _jwks_lock:
        cached = _jwks_cache.get(url)
        fresh = cached is not None and now - cached[0] < _JWKS_TTL_S
        if fresh and refresh_if_older_than is not None:
            fresh = now - cached[0] < refresh_if_older_than
        if fresh:
            return cached[1]
    keys = _fetch_jwks(url)
    with _jwks_lock:
        _jwks_cache[url] = (time.monotonic(), keys)
    return keys


def clear_webhook_keys() -> None:
    with _jwks_lock:
        _jwks_cache.clear()


def webhook_message(*, request_id: str, user_id: str, timestamp: str, body: bytes) -> bytes:
    """The bytes fal signs: request id, user id, timestamp and the body's sha256, by lines."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{request_id}\n{user_id}\n{timestamp}\n{digest}".encode()


def _verified(keys: tuple[Ed25519PublicKey, ...], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
        except InvalidSignature:
            continue
        return True
    return False


class FalProvider(HTTPProvider):
    """fal.ai queue: submit, status with queue position and logs, result, cancel, webhooks."""

    name = NAME
    label = "fal.ai"
    credential_setting = "FAL_KEY"
    poll_interval_s = 5.0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Key {self.credential}"}

    # -- submit ---------------------------------------------------------------------------------

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Queue the request once; fal honours no idempotency key, so none is sent.

        Raises RequestRejected (unknown model, a limit of the model, 4xx), RateLimited (429),
        TransientError (5xx, cannot connect), AmbiguousSubmit (sent, answer lost) and
        MalformedResponse (an answer without a request id).
        """
        spec = spec_for(self.name, request.model or self.models[0])
        body = build_input(spec, request)
        url = f"{self.base_url}/{spec.model}"
        if webhook_url:
            url += "?" + urlencode({"fal_webhook": webhook_url})
        response = self.call("POST", url, json=body, idempotent=False)
        data = self.json_of(response)
        request_id = data.get("request_id")
        if not isinstance(request_id, str) or not request_id:
            raise MalformedResponse(f"fal's submit answer has no request_id: {str(data)[:200]}")
        base = f"{self.base_url}/{_app_prefix(spec.model)}/requests/{request_id}"
        handles = {
            "model": spec.model,
            "status_url": self.own_url(str(data.get("status_url", "")), fallback=f"{base}/status"),
            "response_url": self.own_url(str(data.get("response_url", "")), fallback=base),
            "cancel_url": self.own_url(str(data.get("cancel_url", "")), fallback=f"{base}/cancel"),
            "duration_s": str(request.duration_s),
            "resolution": request.resolution,
            "audio": "1" if request.audio else "0",
        }
        return Submission(request_id=request_id, handles=handles, raw=data)

    # -- status ---------------------------------------------------------------------------------

    def _handle(self, submission: Submission, key: str) -> str:
        model = submission.handles.get("model") or self.models[0]
        base = f"{self.base_url}/{_app_prefix(model)}/requests/{submission.request_id}"
        fallback = {"status_url": f"{base}/status", "response_url": base}.get(key, f"{base}/cancel")
        return self.own_url(submission.handles.get(key, ""), fallback=fallback)

    def status(self, submission: Submission) -> StatusReport:
        """Where the request stands (202 queued/running, 200 completed).

        A COMPLETED answer carrying `error` is FAILED; the reason and code come from the
        result GET (422 `detail[]`), a content-policy refusal as `content_policy`. Raises
        what `HTTPProvider.call` raises and MalformedResponse for an unknown status.
        """
        response = self.call("GET", self._handle(submission, "status_url"), params={"logs": 1})
        data = self.json_of(response)
        state = _STATES.get(str(data.get("status", "")))
        if state is None:
            raise MalformedResponse(f"fal answered an unknown status: {str(data)[:200]}")
        logs = tuple(
            str(item.get("message", ""))
            for item in (data.get("logs") or ())
            if isinstance(item, dict)
        )
        position = data.get("queue_position")
        if state == RemoteState.QUEUED and not isinstance(position, int):
            raise MalformedResponse(f"fal's IN_QUEUE answer has no queue_position: {data}")
        if state == RemoteState.COMPLETED and _was_cancelled(data):
            return StatusReport(
                state=RemoteState.CANCELED, error=str(data.get("error")), logs=logs, raw=data
            )
        if state == RemoteState.COMPLETED and data.get("error"):
            error, code = self._failure(submission, data)
            return StatusReport(
                state=RemoteState.FAILED, error=error, error_code=code, logs=logs, raw=data
            )
        return StatusReport(
            state=state,
            queue_position=position if state == RemoteState.QUEUED else None,
            progress=1.0 if state == RemoteState.COMPLETED else None,
            poll_after_s=self.poll_after_s,
            logs=logs,
            error=str(data.get("error") or ""),
            raw=data,
        )

    def _failure(self, submission: Submission, data: dict[str, Any]) -> tuple[str, str]:
        """The reason a completed-with-error request failed, asked of its result URL."""
        error = str(data.get("error"))
        code = str(data.get("error_type") or "")
        try:
            self.call("GET", self._handle(submission, "response_url"))
        except ProviderError as exc:
            error = str(exc)
            if exc.code in ("content_policy", "quota"):
                return error, exc.code
        return error, failure_code(code)

    # -- result ---------------------------------------------------------------------------------

    def result(self, submission: Submission) -> ResultReport:
        """The output video and its cost from the registry price for what was delivered.

        Raises RequestRejected (422: validation or `content_policy`), TransientError (5xx) and
        MalformedResponse for an output without a video URL.
        """
        data = self.json_of(self.call("GET", self._handle(submission, "response_url")))
        return self.result_from_output(submission, data)

    def result_from_output(self, submission: Submission, data: dict[str, Any]) -> ResultReport:
        video = data.get("video")
        if isinstance(video, list) and video:
            video = video[0]
        if not isinstance(video, dict) or not isinstance(video.get("url"), str):
            raise MalformedResponse(f"fal's output has no video URL: {str(data)[:200]}")
        seconds = _number(video.get("duration")) or _number(submission.handles.get("duration_s"))
        usage = {"duration_s": seconds, "file_size": video.get("file_size")}
        cost = None
        model = submission.handles.get("model")
        if model and seconds:
            per_second = spec_for(self.name, model).price_per_second(
                resolution=submission.handles.get("resolution", "720p"),
                audio=submission.handles.get("audio", "1") == "1",
            )
            cost = (per_second * Decimal(str(round(seconds)))).quantize(Decimal("0.0001"))
        seed = data.get("seed")
        return ResultReport(
            url=video["url"],
            content_type=str(video.get("content_type") or "video/mp4"),
            cost_usd=cost,
            usage=usage,
            seed=seed if isinstance(seed, int) else None,
            raw=data,
        )

    # -- cancel ---------------------------------------------------------------------------------

    def cancel(self, submission: Submission) -> CancelOutcome:
        """PUT the cancel URL; the answer's `status` field decides, whatever the HTTP code.

        Raises TransientError/RateLimited as `call` does and MalformedResponse when the
        answer names no known status (a bare 404 is NOT_FOUND).
        """
        response = self.call("PUT", self._handle(submission, "cancel_url"), ok=(400, 404, 409, 410))
        try:
            outcome = _CANCEL.get(str(response.json().get("status")))
        except (ValueError, AttributeError):
            outcome = None
        if outcome is None:
            if response.status_code in (404, 410):
                return CancelOutcome.NOT_FOUND
            if not response.is_success:
                raise error_from_response(response)
            raise MalformedResponse(f"fal's cancel answer is not understood: {response.text[:200]}")
        return outcome

    # -- webhooks -------------------------------------------------------------------------------

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verify an Ed25519-signed delivery and return its event.

        Raises WebhookRejected (missing headers, stale timestamp, bad signature, another
        user's delivery, a body that is not a fal webhook) and TransientError when the JWKS
        cannot be fetched (answer 503 so fal delivers again).
        """
        h = {k.lower(): v for k, v in headers.items()}
        request_id = h.get("x-fal-webhook-request-id", "")
        user_id = h.get("x-fal-webhook-user-id", "")
        timestamp = h.get("x-fal-webhook-timestamp", "")
        signature_hex = h.get("x-fal-webhook-signature", "")
        if not (request_id and user_id and timestamp and signature_hex):
            raise WebhookRejected("fal webhook without its signature headers", code="unsigned")
        try:
            sent = int(timestamp)
            signature = bytes.fromhex(signature_hex)
        except ValueError:
            raise WebhookRejected(
                "fal webhook timestamp or signature is malformed", code="bad_signature"
            ) from None
        tolerance = settings.GREENLIGHT_WEBHOOK_TOLERANCE
        if abs(time.time() - sent) > tolerance:
            raise WebhookRejected(
                f"fal webhook timestamp is more than {tolerance} s away", code="stale"
            )
        expected_user = getattr(settings, "FAL_WEBHOOK_USER_ID", "")
        if expected_user and user_id != expected_user:
            raise WebhookRejected("fal webhook for another fal user", code="wrong_user")
        message = webhook_message(
            request_id=request_id, user_id=user_id, timestamp=timestamp, body=body
        )
        if not _verified(webhook_keys(), signature, message) and not _verified(
            webhook_keys(refresh_if_older_than=_JWKS_REFETCH_AFTER_S), signature, message
        ):
            raise WebhookRejected("fal webhook signature does not verify", code="bad_signature")
        return self.event_from_body(
            request_id=request_id,
            delivery_id=hashlib.sha256(message + b"\n" + signature).hexdigest(),
            body=body,
        )

    def event_from_body(self, *, request_id: str, delivery_id: str, body: bytes) -> WebhookEvent:
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRejected("fal webhook body is not JSON", code="bad_body") from None
        if not isinstance(data, dict) or data.get("request_id") != request_id:
            raise WebhookRejected(
                "fal webhook body does not name the signed request", code="bad_body"
            )
        status = data.get("status")
        payload = data.get("payload")
        submission = Submission(request_id=request_id)
        if status == "OK":
            result = None
            if isinstance(payload, dict):
                try:
                    result = self.result_from_output(submission, payload)
                except MalformedResponse:
                    result = None  # the driver fetches the result instead
            report = StatusReport(state=RemoteState.COMPLETED, progress=1.0, raw=data)
            return WebhookEvent(
                request_id=request_id,
                delivery_id=delivery_id,
                status=report,
                result=result,
                raw=data,
            )
        if status == "ERROR":
            error = str(data.get("error") or "fal reported an error")
            code = "provider_failed"
            detail = payload.get("detail") if isinstance(payload, dict) else None
            if isinstance(detail, list) and detail and isinstance(detail[0], dict):
                kind = str(detail[0].get("type", ""))
                error += ": " + "; ".join(
                    str(d.get("msg", "")) for d in detail if isinstance(d, dict)
                )
                code = failure_code(kind, default=code)
            elif isinstance(detail, str):
                error += f": {detail}"
            report = StatusReport(state=RemoteState.FAILED, error=error, error_code=code, raw=data)
            return WebhookEvent(
                request_id=request_id, delivery_id=delivery_id, status=report, raw=data
            )
        raise WebhookRejected(f"fal webhook has an unknown status {status!r}", code="bad_body")


def _was_cancelled(data: dict[str, Any]) -> bool:
    """A COMPLETED answer for a request stopped by cancel ([guess]: fal documents no shape)."""
    kind = str(data.get("error_type") or "").lower()
    return bool(data.get("error")) and kind in ("request_cancelled", "request_canceled")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
