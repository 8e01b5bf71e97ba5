"""The one protocol every provider module speaks.

A provider maps Greenlight's `GenerationRequest` to its own request fields and back. The worker
drives a job through `submit` (once, never again once a request id is stored), then `status`
until the provider reports a final state, then `result` for where to fetch the video. Hosted
providers also answer `verify_webhook` so a completion callback can resume a job early.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar


class ProviderError(Exception):
    """A provider call failed; `retryable` says whether asking again may succeed."""

    retryable: bool = False

    def __init__(self, message: str, *, code: str = "", retryable: bool | None = None) -> None:
        super().__init__(message)
        self.code = code
        if retryable is not None:
            self.retryable = retryable


class TransientError(ProviderError):
    """Network trouble, 5xx, a provider queue that is full: try again later."""

    retryable = True


class RateLimited(TransientError):
    """429: try again after `retry_after` seconds when the provider said so."""

    def __init__(self, message: str, *, retry_after: float | None = None, code: str = "") -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class RequestRejected(ProviderError):
    """The provider refused this request for good (validation, content policy, auth)."""

    retryable = False


class MalformedResponse(ProviderError):
    """The provider answered with something that does not fit its own protocol."""

    retryable = True


class WebhookRejected(ProviderError):
    """A webhook's signature, timestamp or body did not verify."""


class RemoteState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


ASPECT_RATIOS = ("16:9", "9:16", "1:1")
RESOLUTIONS = ("720p", "1080p")


@dataclass(frozen=True)
class GenerationRequest:
    """What Greenlight asks of any provider, before mapping to its own fields."""

    prompt: str
    duration_s: int
    aspect_ratio: str = "16:9"
    resolution: str = "720p"
    language: str = "en"
    script: str = ""
    shots: tuple[str, ...] = ()
    title: str = ""
    audio: bool = True
    seed: int | None = None
    image_url: str = ""
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["shots"] = list(self.shots)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        known = {f: data[f] for f in cls.__dataclass_fields__ if f in data}
        known["shots"] = tuple(known.get("shots") or ())
        return cls(**known)


@dataclass(frozen=True)
class StatusReport:
    state: RemoteState
    progress: float | None = None
    error: str = ""
    error_code: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ResultReport:
    """Where the finished video is. `url` is http(s) for hosted providers, file:// for local."""

    url: str
    content_type: str = "video/mp4"
    seed: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class Provider:
    """Base class; subclasses set `name` and implement the five calls."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    models: ClassVar[tuple[str, ...]] = ()
    # USD per second of output video, by model; used for estimates before submission.
    price_per_second: ClassVar[dict[str, float]] = {}

    def estimate_cost(self, request: GenerationRequest) -> float:
        """Return the expected charge in USD for this request."""
        return round(self.price_per_second.get(request.model, 0.0) * request.duration_s, 4)

    def submit(self, request: GenerationRequest) -> str:
        """Send the request; return the provider's request id."""
        raise NotImplementedError

    def status(self, request_id: str) -> StatusReport:
        """Ask where the request stands."""
        raise NotImplementedError

    def result(self, request_id: str) -> ResultReport:
        """Return where to fetch the finished video; only after a COMPLETED status."""
        raise NotImplementedError

    def cancel(self, request_id: str) -> None:
        """Ask the provider to stop; a request already finished is left as it is."""
        raise NotImplementedError

    def verify_webhook(self, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        """Check a completion callback's signature; return its parsed payload."""
        raise WebhookRejected(f"{self.name} does not send webhooks", code="unsupported")
