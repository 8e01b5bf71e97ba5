"""Replicate predictions (PROVIDERS.md §3): by pinned model version, or the model's own endpoint.

- submit: `POST {base}/predictions` with `{"version", "input", "webhook",
  "webhook_events_filter"}` when REPLICATE_MODEL_VERSIONS pins a version for the model, else
  `POST {base}/models/{owner}/{name}/predictions`. No `Prefer: wait`: a video takes minutes,
  and the job driver polls or waits for the webhook instead of holding a worker.
- Replicate takes no idempotency key. The webhook URL Greenlight registers carries the job's
  key (`?greenlight_key=`), so after a lost submit answer `lookup` pages through
  `GET {base}/predictions` for the prediction whose `webhook` carries it; when the listing
  does not show webhooks at all it cannot tell, and says so (AmbiguousSubmit).
- status / result: `GET {base}/predictions/{id}`: starting → processing → succeeded | failed |
  canceled (| aborted: a deadline passed before it started). Output is a URL (or a list of
  them) on replicate.delivery, deleted about an hour after completion: download at once.
- cancel: `POST {base}/predictions/{id}/cancel`, answered with the prediction.
- webhooks: Standard Webhooks signatures (`webhook-id`, `webhook-timestamp`,
  `webhook-signature: v1,<base64 HMAC-SHA256>`) with the `whsec_` secret; the body is the
  prediction.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from django.conf import settings

from generation.providers.base import (
    AmbiguousSubmit,
    CancelOutcome,
    GenerationRequest,
    MalformedResponse,
    ProviderError,
    RemoteState,
    ResultReport,
    StatusReport,
    Submission,
    WebhookEvent,
    WebhookRejected,
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register, spec_for
from generation.providers.http import HTTPProvider

NAME = "replicate"
KEY_PARAM = "greenlight_key"
LOOKUP_PAGES = 5
_OUTPUT_TTL = timedelta(hours=1)
_CONTENT_POLICY = re.compile(r"nsfw|content polic|flagged|sensitive content|safety", re.I)

_PROXY = (
    "proxy: fal's Wan 2.5 price (inference.sh listing of fal apps, mirror); Replicate's own "
    "per-second price was not recorded in PROVIDERS.md"
)
_WAN_PRICES = (
    Price(Decimal("0.10"), source=_PROXY, as_of=date(2026, 11, 24), resolution="720p"),
    Price(Decimal("0.15"), source=_PROXY, as_of=date(2026, 11, 24), resolution="1080p"),
    Price(Decimal("0.05"), source=_PROXY, as_of=date(2026, 11, 24), resolution="480p"),
)
for _spec in (
    ModelSpec(
        provider=NAME,
        model="wan-video/wan-2.5-t2v-fast",
        label="Wan 2.5 text-to-video fast (Replicate)",
        modes=frozenset({Mode.TEXT}),
        durations=(5, 10),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=Audio.ALWAYS,
        prices=_WAN_PRICES,
        notes="Output is a URI string on replicate.delivery, kept about an hour.",
        extra={"image_field": ""},
    ),
    ModelSpec(
        provider=NAME,
        model="wan-video/wan-2.5-i2v-fast",
        label="Wan 2.5 image-to-video fast (Replicate)",
        modes=frozenset({Mode.IMAGE}),
        durations=(5, 10),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=Audio.ALWAYS,
        prices=_WAN_PRICES,
        extra={"image_field": "image"},
    ),
):
    register(_spec)

_STATES = {
    "starting": RemoteState.QUEUED,
    "processing": RemoteState.RUNNING,
    "succeeded": RemoteState.COMPLETED,
    "failed": RemoteState.FAILED,
    "canceled": RemoteState.CANCELED,
    "aborted": RemoteState.FAILED,
}


def build_input(spec: ModelSpec, request: GenerationRequest) -> dict[str, Any]:
    """The prediction's `input` for `request` (the model's own schema)."""
    spec.check(request)
    prompt = request.prompt.strip()
    if request.script.strip():
        prompt += f'\n\nSpoken lines ({request.language}): "{request.script.strip()}"'
    body: dict[str, Any] = {
        "prompt": prompt,
        "duration": request.duration_s,
        "resolution": request.resolution,
    }
    image_field = spec.extra.get("image_field")
    if image_field:
        body[image_field] = request.image_url
    else:
        body["aspect_ratio"] = request.aspect_ratio
    if request.seed is not None:
        body["seed"] = int(request.seed)
    return body


def keyed_webhook(webhook_url: str, idempotency_key: str) -> str:
    """The webhook URL with the job's key added, so a lost prediction can be found again."""
    parts = urlsplit(webhook_url)
    query = parse_qs(parts.query)
    query[KEY_PARAM] = [idempotency_key]
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def sign(*, secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The `v1,<base64>` signature Replicate sends for these parts (Standard Webhooks)."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class ReplicateProvider(HTTPProvider):
    """Replicate predictions: create, get, cancel, list (for lookup) and signed webhooks."""

    name = NAME
    label = "Replicate"
    credential_setting = "REPLICATE_API_TOKEN"
    poll_interval_s = 5.0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Create one prediction; the webhook URL carries the key for `lookup`.

        Raises RequestRejected (a limit of the model, 4xx: validation, auth, quota),
        RateLimited (429), TransientError (5xx), AmbiguousSubmit (sent, answer lost) and
        MalformedResponse (an answer without an id).
        """
        spec = spec_for(self.name, request.model or self.models[0])
        body: dict[str, Any] = {"input": build_input(spec, request)}
        if webhook_url:
            body["webhook"] = keyed_webhook(webhook_url, idempotency_key)
            body["webhook_events_filter"] = ["start", "completed"]
        version = getattr(settings, "REPLICATE_MODEL_VERSIONS", {}).get(spec.model)
        if version:
            body["version"] = version
            path = "predictions"
        else:
            path = f"models/{spec.model}/predictions"
        data = self.json_of(self.call("POST", path, json=body, idempotent=False))
        submission = self._submission(data, spec.model, request)
        if submission is None:
            raise MalformedResponse(f"Replicate's answer has no prediction id: {str(data)[:200]}")
        return submission

    def _submission(
        self, data: dict[str, Any], model: str, request: GenerationRequest | None = None
    ) -> Submission | None:
        prediction_id = data.get("id")
        if not isinstance(prediction_id, str) or not prediction_id:
            return None
        handles = {"model": model}
        if request is not None:
            handles.update(
                duration_s=str(request.duration_s),
                resolution=request.resolution,
                audio="1" if request.audio else "0",
            )
        return Submission(request_id=prediction_id, handles=handles, raw=data)

    def lookup(self, *, idempotency_key: str) -> Submission | None:
        """The prediction whose webhook URL carries this key, from the newest pages.

        None when the listing shows webhooks and none carries the key; AmbiguousSubmit when
        it shows none at all (Greenlight cannot tell, so it does not send again).
        """
        url = "predictions"
        saw_webhooks = False
        for _page in range(LOOKUP_PAGES):
            data = self.json_of(self.call("GET", url))
            results = data.get("results")
            if not isinstance(results, list):
                raise MalformedResponse(f"Replicate's listing has no results: {str(data)[:200]}")
            for item in results:
                if not isinstance(item, dict) or "webhook" not in item:
                    continue
                saw_webhooks = True
                hook = item.get("webhook") or ""
                if parse_qs(urlsplit(hook).query).get(KEY_PARAM) == [idempotency_key]:
                    return self._submission(item, str(item.get("model") or ""))
            next_url = data.get("next")
            if not next_url:
                break
            url = self.own_url(str(next_url), fallback="")
            if not url:
                break
        if not saw_webhooks:
            raise AmbiguousSubmit(
                "Replicate's prediction listing does not show webhooks, so an interrupted "
                "submit cannot be matched",
                code="lookup_unsupported",
            )
        return None

    def _prediction(self, submission: Submission) -> dict[str, Any]:
        return self.json_of(self.call("GET", f"predictions/{submission.request_id}"))

    def report(self, data: dict[str, Any]) -> StatusReport:
        """A StatusReport from a prediction object (a GET answer or a webhook body)."""
        raw_state = data.get("status")
        state = _STATES.get(str(raw_state))
        if state is None:
            raise MalformedResponse(f"Replicate answered an unknown status {raw_state!r}")
        logs = tuple(str(data.get("logs") or "").splitlines()[-20:])
        if state == RemoteState.FAILED:
            error = str(data.get("error") or "the prediction failed without a reason")
            code = "provider_failed"
            if raw_state == "aborted":
                code = "aborted"
            elif _CONTENT_POLICY.search(error):
                code = "content_policy"
            return StatusReport(state=state, error=error, error_code=code, logs=logs, raw=data)
        return StatusReport(
            state=state,
            progress=1.0 if state == RemoteState.COMPLETED else None,
            poll_after_s=self.poll_after_s,
            logs=logs,
            raw=data,
        )

    def status(self, submission: Submission) -> StatusReport:
        """Where the prediction stands; `aborted` is FAILED `aborted`, an error mentioning
        NSFW or safety is `content_policy`. Raises what `call` raises and
        MalformedResponse for an unknown status."""
        return self.report(self._prediction(submission))

    def result(self, submission: Submission) -> ResultReport:
        """The output URL (kept about an hour) and the registry price of what was asked.

        Raises ProviderError `not_ready` before success and MalformedResponse when the
        output is not a URL.
        """
        return self.result_from(submission, self._prediction(submission))

    def result_from(self, submission: Submission, data: dict[str, Any]) -> ResultReport:
        if data.get("status") != "succeeded":
            raise ProviderError(
                f"the prediction is {data.get('status')}, not succeeded", code="not_ready"
            )
        output = data.get("output")
        if isinstance(output, list) and output:
            output = output[-1]
        if isinstance(output, dict):
            output = output.get("url") or output.get("video")
        if not isinstance(output, str) or not output.startswith(("https://", "http://")):
            raise MalformedResponse(f"Replicate's output is not a URL: {str(output)[:200]}")
        seconds = _number(submission.handles.get("duration_s"))
        model = submission.handles.get("model") or str(data.get("model") or "")
        cost = None
        if seconds and model:
            cost = spec_for(self.name, model).cost(
                duration_s=int(seconds),
                resolution=submission.handles.get("resolution", "720p"),
                audio=submission.handles.get("audio", "1") == "1",
            )
        metrics = data.get("metrics") if isinstance(data.get("metrics"), dict) else {}
        return ResultReport(
            url=output,
            expires_at=_completed(data) + _OUTPUT_TTL if _completed(data) else None,
            cost_usd=cost,
            usage={"duration_s": seconds, "predict_time": metrics.get("predict_time")},
            raw=data,
        )

    def cancel(self, submission: Submission) -> CancelOutcome:
        """Ask Replicate to cancel; the prediction it answers with says what happened.

        CANCELED when it is canceled, ALREADY_COMPLETED when it succeeded, NOT_FOUND when it
        failed or does not exist, REQUESTED while it is still winding down.
        """
        response = self.call("POST", f"predictions/{submission.request_id}/cancel", ok=(404,))
        if response.status_code == 404:
            return CancelOutcome.NOT_FOUND
        status = self.json_of(response).get("status")
        return {
            "canceled": CancelOutcome.CANCELED,
            "succeeded": CancelOutcome.ALREADY_COMPLETED,
            "failed": CancelOutcome.NOT_FOUND,
            "aborted": CancelOutcome.NOT_FOUND,
        }.get(str(status), CancelOutcome.REQUESTED)

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verify a Standard Webhooks signature with the `whsec_` secret; return the event.

        Raises WebhookRejected: `not_configured` without a secret, `unsigned` without the
        headers, `stale` outside GREENLIGHT_WEBHOOK_TOLERANCE, `bad_signature`, `bad_body`.
        """
        secret = getattr(settings, "REPLICATE_WEBHOOK_SECRET", "")
        if not secret.startswith("whsec_"):
            raise WebhookRejected(
                "Replicate webhooks are refused: REPLICATE_WEBHOOK_SECRET is not set",
                code="not_configured",
            )
        h = {k.lower(): v for k, v in headers.items()}
        webhook_id = h.get("webhook-id", "")
        timestamp = h.get("webhook-timestamp", "")
        signatures = h.get("webhook-signature", "")
        if not (webhook_id and timestamp and signatures):
            raise WebhookRejected(
                "Replicate webhook without its signature headers", code="unsigned"
            )
        try:
            sent = int(timestamp)
        except ValueError:
            raise WebhookRejected(
                "Replicate webhook timestamp is malformed", code="stale"
            ) from None
        tolerance = settings.GREENLIGHT_WEBHOOK_TOLERANCE
        if abs(time.time() - sent) > tolerance:
            raise WebhookRejected(
                f"Replicate webhook timestamp is more than {tolerance} s away", code="stale"
            )
        try:
            expected = sign(secret=secret, webhook_id=webhook_id, timestamp=timestamp, body=body)
        except (binascii.Error, ValueError, IndexError):
            raise WebhookRejected(
                "REPLICATE_WEBHOOK_SECRET is not a valid whsec_ secret", code="not_configured"
            ) from None
        if not any(
            hmac.compare_digest(expected.encode(), candidate.strip().encode())
            for candidate in signatures.split(" ")
            if candidate.startswith("v1,")
        ):
            raise WebhookRejected(
                "Replicate webhook signature does not verify", code="bad_signature"
            )
        try:
            data = json.loads(body)
        except ValueError:
            raise WebhookRejected("Replicate webhook body is not JSON", code="bad_body") from None
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            raise WebhookRejected("Replicate webhook body is not a prediction", code="bad_body")
        try:
            report = self.report(data)
        except MalformedResponse as exc:
            raise WebhookRejected(str(exc), code="bad_body") from None
        return WebhookEvent(request_id=data["id"], delivery_id=webhook_id, status=report, raw=data)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _completed(data: dict[str, Any]) -> datetime | None:
    value = data.get("completed_at")
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
