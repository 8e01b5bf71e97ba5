"""Alibaba Cloud Model Studio (DashScope): HappyHorse 1.0 and Wan 2.6 through the async task API.

Protocol (`../shared/PROVIDERS.md` §2): `POST {base}/services/aigc/video-generation/video-synthesis`
with `X-DashScope-Async: enable` answers `{"output": {"task_id", "task_status": "PENDING"}}`;
`GET {base}/tasks/{id}` goes PENDING → RUNNING → SUCCEEDED (`video_url`, `usage.duration`) |
FAILED (`code`, `message`) | CANCELED | UNKNOWN (no such task, or older than 24 h);
`POST {base}/tasks/{id}/cancel` works only while PENDING. The base URL follows the region
setting (Singapore, US, Beijing), and the API key must belong to the same region.

HappyHorse uses the "media" request shape (`input.media[]` of first_frame / reference_image,
`parameters.resolution` "720P", `ratio`, integer `duration`); Wan 2.6 the legacy one
(`parameters.size` "1280*720" for text-to-video, `input.img_url` + `resolution` for
image-to-video, and an `audio` switch). DashScope has no per-request webhook (completion events
go through EventBridge, configured in the console), so jobs complete by polling, every 15 s by
default as the docs ask. There is no idempotency key and the task list cannot be searched by
one, so a lost submit answer is AMBIGUOUS.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

NAME = "dashscope"
SUBMIT_PATH = "services/aigc/video-generation/video-synthesis"
# DashScope prices are in CNY; the registry keeps USD. Rate assumed on the date below.
CNY_PER_USD = Decimal("7.10")
_RATE_DATE = date(2026, 11, 24)
_RESULT_TTL = timedelta(hours=24)
_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
# Wan 2.6 text-to-video takes a pixel size, not a ratio.
_WAN_SIZES = {
    "720p": {
        "16:9": "1280*720",
        "9:16": "720*1280",
        "1:1": "960*960",
        "4:3": "1088*832",
        "3:4": "832*1088",
    },
    "1080p": {
        "16:9": "1920*1080",
        "9:16": "1080*1920",
        "1:1": "1440*1440",
        "4:3": "1632*1248",
        "3:4": "1248*1632",
    },
}


def _cny(value: str, *, source: str, resolution: str) -> Price:
    usd = (Decimal(value) / CNY_PER_USD).quantize(Decimal("0.0001"))
    return Price(
        usd,
        source=f"{source}: ¥{value}/s at {CNY_PER_USD} CNY/USD",
        as_of=_RATE_DATE,
        resolution=resolution,
    )


_HH_SOURCE = "Bailian (CN, Beijing) price table, repo copy (mirror); no USD price published"
_HH_PRICES = (
    _cny("0.9", source=_HH_SOURCE, resolution="720p"),
    _cny("1.6", source=_HH_SOURCE, resolution="1080p"),
)
_WAN_SOURCE = "Model Studio Wan 2.6 price (mirror of the official docs, CN)"
_WAN_PRICES = (
    _cny("0.6", source=_WAN_SOURCE, resolution="720p"),
    _cny("1.0", source=_WAN_SOURCE, resolution="1080p"),
)

for _spec in (
    ModelSpec(
        provider=NAME,
        model="happyhorse-1.0-t2v",
        label="HappyHorse 1.0 text-to-video (Model Studio)",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_RATIOS,
        audio=Audio.ALWAYS,
        prices=_HH_PRICES,
        notes="Synchronized audio is always generated; no watermark is requested.",
        extra={"protocol": "media", "max_prompt": "5000"},
    ),
    ModelSpec(
        provider=NAME,
        model="happyhorse-1.0-i2v",
        label="HappyHorse 1.0 image-to-video (Model Studio)",
        modes=frozenset({Mode.IMAGE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_RATIOS,
        audio=Audio.ALWAYS,
        prices=_HH_PRICES,
        min_image_side=300,
        notes="The aspect ratio follows the first-frame image.",
        extra={"protocol": "media", "media_type": "first_frame", "max_prompt": "5000"},
    ),
    ModelSpec(
        provider=NAME,
        model="happyhorse-1.0-r2v",
        label="HappyHorse 1.0 reference-to-video (Model Studio)",
        modes=frozenset({Mode.REFERENCE}),
        durations=tuple(range(3, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_RATIOS,
        audio=Audio.ALWAYS,
        prices=_HH_PRICES,
        max_reference_images=9,
        min_image_side=400,
        extra={"protocol": "media", "media_type": "reference_image", "max_prompt": "5000"},
    ),
    ModelSpec(
        provider=NAME,
        model="wan2.6-t2v",
        label="Wan 2.6 text-to-video (Model Studio)",
        modes=frozenset({Mode.TEXT}),
        durations=tuple(range(2, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_RATIOS,
        audio=Audio.OPTIONAL,
        prices=_WAN_PRICES,
        notes="Sent as a pixel size (1280*720); audio can be switched off.",
        extra={"protocol": "legacy"},
    ),
    ModelSpec(
        provider=NAME,
        model="wan2.6-i2v",
        label="Wan 2.6 image-to-video (Model Studio)",
        modes=frozenset({Mode.IMAGE}),
        durations=tuple(range(2, 16)),
        resolutions=("720p", "1080p"),
        aspect_ratios=_RATIOS,
        audio=Audio.OPTIONAL,
        prices=_WAN_PRICES,
        extra={"protocol": "legacy"},
    ),
):
    register(_spec)

_STATES = {
    "PENDING": RemoteState.QUEUED,
    "RUNNING": RemoteState.RUNNING,
    "SUSPENDED": RemoteState.QUEUED,
    "SUCCEEDED": RemoteState.COMPLETED,
    "FAILED": RemoteState.FAILED,
    "CANCELED": RemoteState.CANCELED,
}


def build_body(spec: ModelSpec, request: GenerationRequest) -> dict[str, Any]:
    """The task-creation body for `request` in the model's request shape."""
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
    inputs: dict[str, Any] = {"prompt": prompt}
    parameters: dict[str, Any] = {"duration": request.duration_s, "watermark": False}
    resolution = request.resolution.upper()  # "720P"
    if spec.extra.get("protocol") == "media":
        if Mode.TEXT not in spec.modes:
            inputs["media"] = [{"type": spec.extra["media_type"], "url": request.image_url}]
        if Mode.IMAGE not in spec.modes:
            parameters["ratio"] = request.aspect_ratio
        parameters["resolution"] = resolution
    else:
        if Mode.IMAGE in spec.modes:
            inputs["img_url"] = request.image_url
            parameters["resolution"] = resolution
        else:
            parameters["size"] = _WAN_SIZES[request.resolution][request.aspect_ratio]
        parameters["audio"] = bool(request.audio)
        parameters["prompt_extend"] = False
    if request.seed is not None:
        parameters["seed"] = int(request.seed)
    return {"model": spec.model, "input": inputs, "parameters": parameters}


def _seconds(value: Any) -> float | None:
    """DashScope usage numbers arrive as numbers or strings; None when absent or junk."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _expiry(url: str) -> datetime:
    """When a signed OSS result URL stops working (its Expires), else 24 h from now."""
    expires = parse_qs(urlsplit(url).query).get("Expires", [""])[0]
    if expires.isdigit():
        return datetime.fromtimestamp(int(expires), tz=UTC)
    return datetime.now(UTC) + _RESULT_TTL


class DashScopeProvider(HTTPProvider):
    """Model Studio async tasks: submit, poll, result, cancel (PENDING only)."""

    name = NAME
    label = "Alibaba Cloud Model Studio"
    credential_setting = "DASHSCOPE_API_KEY"
    poll_interval_s = 15.0

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Create one task; DashScope takes neither an idempotency key nor a webhook URL.

        Raises RequestRejected (a limit of the model, InvalidParameter, InvalidApiKey,
        AccessDenied, DataInspectionFailed as `content_policy`, AllocationQuota as `quota`),
        RateLimited (Throttling), TransientError (InternalError, cannot connect),
        AmbiguousSubmit (sent, answer lost) and MalformedResponse (no task id).
        """
        spec = spec_for(self.name, request.model or self.models[0])
        body = build_body(spec, request)
        response = self.call(
            "POST",
            SUBMIT_PATH,
            json=body,
            headers={"X-DashScope-Async": "enable"},
            idempotent=False,
        )
        data = self.json_of(response)
        output = data.get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            raise MalformedResponse(f"DashScope's answer has no task_id: {str(data)[:200]}")
        handles = {
            "model": spec.model,
            "resolution": request.resolution,
            "audio": "1" if request.audio else "0",
            "duration_s": str(request.duration_s),
        }
        return Submission(request_id=task_id, handles=handles, raw=data)

    def _task(self, submission: Submission) -> tuple[dict[str, Any], dict[str, Any]]:
        data = self.json_of(self.call("GET", f"tasks/{submission.request_id}"))
        output = data.get("output")
        if not isinstance(output, dict) or not isinstance(output.get("task_status"), str):
            raise MalformedResponse(f"DashScope's task answer has no status: {str(data)[:200]}")
        return data, output

    def status(self, submission: Submission) -> StatusReport:
        """Where the task stands; UNKNOWN (gone or older than 24 h) is FAILED `expired`.

        A FAILED task carries DashScope's code: DataInspectionFailed becomes
        `content_policy`. Raises what `HTTPProvider.call` raises and MalformedResponse for a
        status DashScope does not define.
        """
        data, output = self._task(submission)
        raw_state = output["task_status"]
        if raw_state == "UNKNOWN":
            return StatusReport(
                state=RemoteState.FAILED,
                error="Model Studio no longer knows this task (it expired after 24 h or "
                "never existed)",
                error_code="expired",
                raw=data,
            )
        state = _STATES.get(raw_state)
        if state is None:
            raise MalformedResponse(f"DashScope answered an unknown task status {raw_state!r}")
        if state == RemoteState.FAILED:
            code = str(output.get("code") or "provider_failed")
            message = str(output.get("message") or "the task failed without a reason")
            return StatusReport(
                state=state,
                error=f"{message} [{code}]",
                error_code=failure_code(code),
                raw=data,
            )
        return StatusReport(
            state=state,
            progress=1.0 if state == RemoteState.COMPLETED else None,
            poll_after_s=self.poll_after_s,
            raw=data,
        )

    def result(self, submission: Submission) -> ResultReport:
        """The video URL (signed, valid 24 h) and the cost of the billed seconds.

        Raises ProviderError `not_ready` before SUCCEEDED and MalformedResponse without a
        video URL.
        """
        data, output = self._task(submission)
        if output["task_status"] != "SUCCEEDED":
            raise ProviderError(
                f"the task is {output['task_status']}, not SUCCEEDED", code="not_ready"
            )
        url = output.get("video_url")
        if not isinstance(url, str) or not url:
            raise MalformedResponse(f"DashScope's finished task has no video_url: {output}")
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
        seconds = _seconds(usage.get("duration")) or _seconds(submission.handles.get("duration_s"))
        resolution = submission.handles.get("resolution", "720p")
        short_side = _seconds(usage.get("SR"))
        if short_side:
            resolution = "1080p" if short_side >= 1080 else "720p"
        cost = None
        model = submission.handles.get("model") or str(output.get("model") or "")
        if seconds and model:
            per_second = spec_for(self.name, model).price_per_second(
                resolution=resolution, audio=submission.handles.get("audio", "1") == "1"
            )
            cost = (per_second * Decimal(str(seconds))).quantize(Decimal("0.0001"))
        return ResultReport(
            url=url,
            expires_at=_expiry(url),
            cost_usd=cost,
            usage={"duration_s": seconds, "resolution": resolution, **usage},
            raw=data,
        )

    def cancel(self, submission: Submission) -> CancelOutcome:
        """Cancel a PENDING task. Once it runs DashScope cannot stop it: RequestRejected
        `cancel_unsupported` (it will finish and bill). ALREADY_COMPLETED after success,
        NOT_FOUND when it failed, was canceled or is unknown.
        """
        response = self.call("POST", f"tasks/{submission.request_id}/cancel", ok=(400, 404))
        if response.is_success:
            return CancelOutcome.CANCELED
        _, output = self._task(submission)
        state = output["task_status"]
        if state == "SUCCEEDED":
            return CancelOutcome.ALREADY_COMPLETED
        if state in ("RUNNING", "PENDING"):
            raise RequestRejected(
                "Model Studio cancels only tasks that have not started; this one is running "
                "and will finish",
                code="cancel_unsupported",
            )
        return CancelOutcome.NOT_FOUND
