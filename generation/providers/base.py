"""The one protocol every provider module speaks (contract v2).

A provider maps Greenlight's `GenerationRequest` to its own request fields and back. The job
driver (`generation.jobs`) calls:

- `submit(request, idempotency_key=…, webhook_url=…)` once per job, returning a `Submission`
  (the request id plus whatever handles the protocol gives back, such as fal's status, response
  and cancel URLs). The submission is stored on the job and handed to every later call.
- `lookup(submission_key)` after a submit whose answer was lost, to find the request the
  provider may already hold instead of sending a second one.
- `status(submission)` until the report is final; the report says when to ask again.
- `result(submission)` once completed: the output URL, any headers the download needs, when
  the URL expires, and the billed cost or usage.
- `download(result, target, …)` to fetch the bytes; the provider layer owns the rules
  (`file://` only for local providers, SSRF-checked https for hosted ones).
- `cancel(submission)`, answering a `CancelOutcome`.
- `parse_webhook(headers, body)`, verifying a callback and returning a typed `WebhookEvent`.

Every failure is a `ProviderError` of one `ErrorKind`; `generation.providers.http` maps HTTP
responses to them in one place, and the driver decides by kind, never by class name.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"  # network trouble, 5xx, a garbled answer: ask again later
    RATE_LIMITED = "rate_limited"  # 429: ask again after Retry-After
    REJECTED = "rejected"  # validation, auth, content policy, quota: never succeeds as is
    AMBIGUOUS = "ambiguous"  # the request may or may not have reached the provider
    EXPIRED = "expired"  # a result URL (or the request itself) is gone


class ProviderError(Exception):
    """A provider call failed; `kind` says what the driver should do about it."""

    kind: ClassVar[ErrorKind] = ErrorKind.REJECTED

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        retry_after: float | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.retry_after = retry_after
        self.status_code = status_code

    @property
    def retryable(self) -> bool:
        return self.kind in (ErrorKind.TRANSIENT, ErrorKind.RATE_LIMITED)


class TransientError(ProviderError):
    """Network trouble, 5xx, a provider queue that is full: try again later."""

    kind = ErrorKind.TRANSIENT


class MalformedResponse(TransientError):
    """The provider answered with something that does not fit its own protocol.

    Treated as transient (a proxy or a deploy can garble one answer) within the same bounded
    retry budget as any other transient error.
    """


class RateLimited(TransientError):
    """429: try again after `retry_after` seconds when the provider said so."""

    kind = ErrorKind.RATE_LIMITED


class RequestRejected(ProviderError):
    """The provider refused this request for good (validation, content policy, auth, quota)."""

    kind = ErrorKind.REJECTED


class AmbiguousSubmit(ProviderError):
    """A submit timed out after the request was sent: it may exist at the provider."""

    kind = ErrorKind.AMBIGUOUS


class ResultExpired(ProviderError):
    """A result URL no longer serves the file (403/404/410 after completion)."""

    kind = ErrorKind.EXPIRED


class WebhookRejected(ProviderError):
    """A webhook's signature, timestamp or body did not verify."""

    kind = ErrorKind.REJECTED


class RemoteState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


FINAL_STATES = frozenset({RemoteState.COMPLETED, RemoteState.FAILED, RemoteState.CANCELED})

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
class Submission:
    """What a submit gave back; stored on the job and passed to every later call."""

    request_id: str
    handles: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"request_id": self.request_id, "handles": dict(self.handles), "raw": self.raw}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Submission:
        return cls(
            request_id=str(data.get("request_id", "")),
            handles=dict(data.get("handles") or {}),
            raw=dict(data.get("raw") or {}),
        )


@dataclass(frozen=True)
class StatusReport:
    """Where a request stands. `poll_after_s` is the provider's hint for the next question."""

    state: RemoteState
    progress: float | None = None
    queue_position: int | None = None
    poll_after_s: float | None = None
    error: str = ""
    error_code: str = ""
    logs: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class ResultReport:
    """Where the finished video is and what it cost.

    `url` is https for hosted providers and file:// for local ones; `headers` are sent with
    the download (some protocols want auth there); `cost_usd` is the billed amount when the
    provider reports one, else None and the driver prices `usage` from the registry.
    """

    url: str
    content_type: str = "video/mp4"
    headers: dict[str, str] = field(default_factory=dict)
    expires_at: datetime | None = None
    cost_usd: Decimal | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class CancelOutcome(enum.StrEnum):
    CANCELED = "canceled"  # stopped; nothing will be billed further
    REQUESTED = "requested"  # the provider will try to stop it
    ALREADY_COMPLETED = "already_completed"  # too late: the result exists, download it
    NOT_FOUND = "not_found"  # the provider has no such request (any more)


@dataclass(frozen=True)
class WebhookEvent:
    """A verified callback: which request, where it stands, and the result when it carries one.

    `delivery_id` identifies this delivery for replay detection (the provider's own delivery
    id, or a digest of the signed parts when it has none).
    """

    request_id: str
    delivery_id: str
    status: StatusReport
    result: ResultReport | None = None
    raw: dict[str, Any] = field(default_factory=dict)


class Provider:
    """Base class; subclasses set `name` and implement the calls their protocol has."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # True only for providers that run on this machine and answer with file:// URLs.
    local: ClassVar[bool] = False
    # Seconds between status polls when the provider gives no hint of its own.
    poll_interval_s: ClassVar[float] = 5.0
    # True when a repeated submit with the same idempotency key returns the first request
    # instead of creating a second (the driver then simply sends again after a lost answer).
    idempotent_submit: ClassVar[bool] = False

    @property
    def models(self) -> tuple[str, ...]:
        from generation.providers.capabilities import models_for

        return tuple(spec.model for spec in models_for(self.name))

    def is_configured(self) -> bool:
        """Whether credentials and URLs are set; an unconfigured provider is shown, not used."""
        return True

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        """Return the expected charge in USD for this request, from the capability registry."""
        from generation.providers.capabilities import spec_for

        spec = spec_for(self.name, request.model or self.models[0])
        return spec.cost(
            duration_s=request.duration_s, resolution=request.resolution, audio=request.audio
        )

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Send the request once; the key lets a provider that honours one drop a repeat."""
        raise NotImplementedError

    def lookup(self, *, idempotency_key: str) -> Submission | None:
        """Find a request sent earlier with this key; None when the provider has none.

        Raises AmbiguousSubmit when the protocol has no way to look (the driver then fails
        the job for a person to check rather than risk paying twice).
        """
        raise AmbiguousSubmit(
            f"{self.name} cannot look up a request by key", code="lookup_unsupported"
        )

    def status(self, submission: Submission) -> StatusReport:
        """Ask where the request stands."""
        raise NotImplementedError

    def result(self, submission: Submission) -> ResultReport:
        """Return where to fetch the finished video; only after a COMPLETED status."""
        raise NotImplementedError

    def cancel(self, submission: Submission) -> CancelOutcome:
        """Ask the provider to stop the request."""
        raise NotImplementedError

    def parse_webhook(self, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verify a callback's signature and timestamp; return the event it carries."""
        raise WebhookRejected(f"{self.name} does not send webhooks", code="unsupported")

    def download(
        self, result: ResultReport, target: Path, *, max_bytes: int, deadline_s: float
    ) -> int:
        """Fetch the result's bytes into `target`; return the byte count.

        Hosted providers fetch https URLs only, every address SSRF-checked (see
        `generation.providers.download`); a 403/404/410 is ResultExpired.
        """
        from generation.providers.download import fetch_remote

        return fetch_remote(
            result.url,
            target,
            headers=result.headers,
            max_bytes=max_bytes,
            deadline_s=deadline_s,
        )
