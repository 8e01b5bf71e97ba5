"""Runway's tasks API (PROVIDERS.md §4.1), including its HappyHorse model.

- submit: `POST {base}/text_to_video` or `{base}/image_to_video` (camelCase fields:
  `promptText`, `promptImage`, `ratio` as a pixel ratio such as "1280:720", integer
  `duration`), answered `{"id"}`. Every call carries `X-Runway-Version: 2024-11-06`.
- status: `GET {base}/tasks/{id}`: PENDING | THROTTLED (accepted, waiting for a concurrency
  slot) | RUNNING (`progress` 0–1) | SUCCEEDED (`output: [url]`, valid 24–48 h) | FAILED
  (`failure`, `failureCode`; `SAFETY.*` is a content-policy refusal) | CANCELLED.
- cancel: `DELETE {base}/tasks/{id}` stops a pending, throttled or running task, but DELETES a
  finished one, output included; so the task is read first and a finished one is left alone.
- Runway takes no idempotency key and has no task listing: a lost submit answer is
  AMBIGUOUS. No per-request webhook either: jobs complete by polling (~6 s, as the SDK does).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

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
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register, spec_for
from generation.providers.http import HTTPProvider, failure_code

NAME = "runway"
API_VERSION = "2024-11-06"
_OUTPUT_TTL = timedelta(hours=24)
# Runway bills API tasks in credits of one US cent (PROVIDERS.md §6: 5 credits/s ≈ $0.05/s).
USD_PER_CREDIT = Decimal("0.01")
_AS_OF = date(2026, 11, 24)

# Runway's HappyHorse takes its size as a pixel ratio; the short side is the resolution.
_HH_RATIOS = {
    "720p": {
        "16:9": "1280:720",
        "9:16": "720:1280",
        "1:1": "960:960",
        "4:3": "1108:832",
        "3:4": "832:1108",
    },
    "1080p": {
        "16:9": "1920:1080",
        "9:16": "1080:1920",
        "1:1": "1440:1440",
        "4:3": "1662:1248",
        "3:4": "1248:1662",
    },
}
_VEO_RATIOS = {
    "720p": {"16:9": "1280:720", "9:16": "720:1280"},
    "1080p": {"16:9": "1920:1080", "9:16": "1080:1920"},
}
_HH_PROXY = (
    "proxy: HappyHorse 1.0 on fal (llms.txt, official); Runway's credit price for "
    "happyhorse_1_0 was not recorded in PROVIDERS.md"
)
_VEO_PROXY = (
    "proxy: Veo 3.1 on the Gemini API, $0.40/s (aifreeapi.com, mirror, March 2026); "
    "Runway's credit price for veo3.1 was not recorded"
)

for _spec in (
    ModelSpec(
        provider=NAME,
        model="happyhorse_1_0",
        label="HappyHorse 1.0 (Runway)",
        modes=frozenset({Mode.TEXT, Mode.IMAGE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16", "1:1", "4:3", "3:4"),
        audio=Audio.ALWAYS,
        prices=(
            Price(Decimal("0.14"), source=_HH_PROXY, as_of=_AS_OF, resolution="720p"),
            Price(Decimal("0.28"), source=_HH_PROXY, as_of=_AS_OF, resolution="1080p"),
        ),
        notes="With an image the output follows the image's aspect ratio. Prompt ≤2500.",
        extra={"family": "happyhorse", "max_prompt": "2500"},
    ),
    ModelSpec(
        provider=NAME,
        model="veo3.1",
        label="Veo 3.1 (Runway)",
        modes=frozenset({Mode.TEXT}),
        durations=(4, 6, 8),
        resolutions=("720p", "1080p"),
        aspect_ratios=("16:9", "9:16"),
        audio=Audio.OPTIONAL,
        prices=(Price(Decimal("0.40"), source=_VEO_PROXY, as_of=_AS_OF),),
        extra={"family": "veo", "max_prompt": "1000"},
    ),
):
    register(_spec)

_STATES = {
    "PENDING": RemoteState.QUEUED,
    "THROTTLED": RemoteState.QUEUED,
    "RUNNING": RemoteState.RUNNING,
    "SUCCEEDED": RemoteState.COMPLETED,
    "FAILED": RemoteState.FAILED,
    "CANCELLED": RemoteState.CANCELED,
    "CANCELED": RemoteState.CANCELED,
}


def build_task(spec: ModelSpec, request: GenerationRequest) -> tuple[str, dict[str, Any]]:
    """The endpoint (text_to_video or image_to_video) and camelCase body for `request`."""
    spec.check(request)
    prompt = request.prompt.strip()
    if request.script.strip():
        prompt += f'\n\nSpoken lines ({request.language}): "{request.script.strip()}"'
    limit = int(spec.extra.get("max_prompt", "0") or 0)
    if limit and len(prompt) > limit:
        raise RequestRejected(
            f"{spec.label} takes prompts of at most {limit} characters, not {len(prompt)}",
            code="prompt_too_long",
        )
    body: dict[str, Any] = {
        "model": spec.model,
        "promptText": prompt,
        "duration": request.duration_s,
    }
    family = spec.extra.get("family")
    if request.image_url:
        endpoint = "image_to_video"
        body["promptImage"] = [{"uri": request.image_url, "position": "first"}]
        body["resolution"] = request.resolution
    else:
        endpoint = "text_to_video"
        ratios = _HH_RATIOS if family == "happyhorse" else _VEO_RATIOS
        body["ratio"] = ratios[request.resolution][request.aspect_ratio]
    if spec.audio == Audio.OPTIONAL:
        body["audio"] = bool(request.audio)
    if request.seed is not None and family != "happyhorse":
        body["seed"] = int(request.seed)
    return endpoint, body


class RunwayProvider(HTTPProvider):
    """Runway tasks: create, poll (with THROTTLED and progress), result, cancel by DELETE."""

    name = NAME
    label = "Runway"
    credential_setting = "RUNWAYML_API_SECRET"
    poll_interval_s = 6.0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}", "X-Runway-Version": API_VERSION}

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Create one task; Runway takes neither an idempotency key nor a webhook.

        Raises RequestRejected (a limit of the model, 4xx, `x-should-retry: false`),
        RateLimited (429, honouring `retry-after-ms`/`retry-after`), TransientError (5xx),
        AmbiguousSubmit (sent, answer lost) and MalformedResponse (no task id).
        """
        spec = spec_for(self.name, request.model or self.models[0])
        endpoint, body = build_task(spec, request)
        data = self.json_of(self.call("POST", endpoint, json=body, idempotent=False))
        task_id = data.get("id")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse(f"Runway's answer has no task id: {str(data)[:200]}")
        handles = {
            "model": spec.model,
            "duration_s": str(request.duration_s),
            "resolution": request.resolution,
            "audio": "1" if request.audio else "0",
        }
        return Submission(request_id=task_id, handles=handles, raw=data)

    def _task(self, submission: Submission) -> dict[str, Any]:
        data = self.json_of(self.call("GET", f"tasks/{submission.request_id}"))
        if not isinstance(data.get("status"), str):
            raise MalformedResponse(f"Runway's task has no status: {str(data)[:200]}")
        return data

    def status(self, submission: Submission) -> StatusReport:
        """Where the task stands. THROTTLED is QUEUED (it waits for a slot in the account's
        concurrency); SAFETY.* failures are `content_policy`. Raises what `call` raises and
        MalformedResponse for an unknown status or a progress that is not a number."""
        data = self._task(submission)
        raw_state = data["status"]
        state = _STATES.get(raw_state)
        if state is None:
            raise MalformedResponse(f"Runway answered an unknown task status {raw_state!r}")
        if state == RemoteState.FAILED:
            code = str(data.get("failureCode") or "provider_failed")
            reason = str(data.get("failure") or "the task failed without a reason")
            return StatusReport(
                state=state,
                error=f"{reason} [{code}]",
                error_code=failure_code(code),
                raw=data,
            )
        progress = data.get("progress")
        if progress is not None and not isinstance(progress, int | float):
            raise MalformedResponse(f"Runway's progress is not a number: {progress!r}")
        logs = (
            ("throttled: waiting for a free slot in the account",)
            if raw_state == "THROTTLED"
            else ()
        )
        return StatusReport(
            state=state,
            progress=1.0 if state == RemoteState.COMPLETED else progress,
            poll_after_s=self.poll_after_s,
            logs=logs,
            raw=data,
        )

    def result(self, submission: Submission) -> ResultReport:
        """The first output URL (valid 24–48 h; a fresh GET gives fresh URLs) and the cost
        Runway reports in credits (the registry price when it reports none).

        Raises ProviderError `not_ready` before success, MalformedResponse without a URL.
        """
        data = self._task(submission)
        if data["status"] != "SUCCEEDED":
            raise ProviderError(f"the task is {data['status']}, not SUCCEEDED", code="not_ready")
        output = data.get("output")
        url = output[0] if isinstance(output, list) and output else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise MalformedResponse(f"Runway's finished task has no output URL: {output!r}")
        model = submission.handles.get("model") or self.models[0]
        seconds = int(submission.handles.get("duration_s") or 0)
        billed = data.get("cost")
        credits = billed.get("credits") if isinstance(billed, dict) else None
        if isinstance(credits, int | float) and not isinstance(credits, bool):
            cost = (Decimal(str(credits)) * USD_PER_CREDIT).quantize(Decimal("0.0001"))
        elif seconds:
            cost = spec_for(self.name, model).cost(
                duration_s=seconds,
                resolution=submission.handles.get("resolution", "720p"),
                audio=submission.handles.get("audio", "1") == "1",
            )
        else:
            cost = None
        return ResultReport(
            url=url,
            expires_at=datetime.now(UTC) + _OUTPUT_TTL,
            cost_usd=cost,
            usage={"duration_s": seconds or None, "credits": credits},
            raw=data,
        )

    def cancel(self, submission: Submission) -> CancelOutcome:
        """Stop the task with DELETE, after reading it: a finished task is never deleted.

        ALREADY_COMPLETED after success; NOT_FOUND when it failed, was cancelled or is gone;
        CANCELED once the DELETE is answered.
        """
        try:
            data = self._task(submission)
        except RequestRejected as exc:
            if exc.status_code == 404:
                return CancelOutcome.NOT_FOUND
            raise
        if data["status"] == "SUCCEEDED":
            return CancelOutcome.ALREADY_COMPLETED
        if data["status"] in ("FAILED", "CANCELLED", "CANCELED"):
            return CancelOutcome.NOT_FOUND
        response = self.call("DELETE", f"tasks/{submission.request_id}", ok=(404,))
        if response.status_code == 404:
            return CancelOutcome.NOT_FOUND
        return CancelOutcome.CANCELED
