"""The base for hosted providers: one httpx client, base URLs from settings, one error map.

`error_from_response` is the only place an HTTP answer becomes a `ProviderError`; adapters
call `HTTPProvider.call`, which also turns transport failures into the taxonomy (a POST that
timed out after it was sent is AMBIGUOUS: the provider may have taken it).
"""

from __future__ import annotations

import email.utils
import json
import os
import threading
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx
from django.conf import settings

from generation.providers.base import (
    AmbiguousSubmit,
    MalformedResponse,
    Provider,
    ProviderError,
    RateLimited,
    RequestRejected,
    TransientError,
)

# Every provider call must end well inside the shortest task soft time limit that makes one
# (poll: GREENLIGHT_TASK_LIMITS["poll"]), so a slow provider is a retry, not a killed task.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)


_clients: dict[tuple[int, str], httpx.Client] = {}
_clients_lock = threading.Lock()


def shared_client(name: str) -> httpx.Client:
    """The process's httpx client for provider `name` (a forked child builds its own)."""
    key = (os.getpid(), name)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
            _clients[key] = client
        return client


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse Retry-After (delta seconds or an HTTP date), capped by settings; None if absent."""
    if not value:
        return None
    value = value.strip()
    cap = float(settings.GREENLIGHT_RETRY_AFTER_CAP)
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), cap)


# Provider error codes that mean "this content will not be generated": the job fails at once
# and the reason is shown, never retried. Codes are compared lower-cased.
CONTENT_POLICY_CODES = frozenset(
    {
        "content_policy_violation",  # fal (422 detail[].type)
        "datainspectionfailed",  # DashScope
        "data_inspection_failed",
        "safety",  # Runway failureCode prefix SAFETY.*
    }
)
# Provider codes that mean the account has run out of money or quota.
QUOTA_CODES = frozenset(
    {"throttling.allocationquota", "arrearage", "insufficient_credits", "quota_exceeded"}
)


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    body = _body(response)
    if body is None:
        return response.text[:300].strip()
    if isinstance(body, dict):
        for key in ("detail", "message", "error", "msg", "title", "failure"):
            if body.get(key):
                value = body[key]
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    # fal / pydantic validation errors: name the field and the message.
                    return "; ".join(
                        f"{'.'.join(str(p) for p in item.get('loc', ()))}: {item.get('msg', '')}"
                        for item in value
                        if isinstance(item, dict)
                    )[:500]
                return value if isinstance(value, str) else json.dumps(value)[:500]
    return json.dumps(body)[:300]


def provider_code(response: httpx.Response) -> str:
    """The provider's own error code in an error answer, or "" when it gives none.

    fal: `detail[0].type` (422) or `error_type` / `X-Fal-Error-Type`; DashScope: `code`;
    Runway: `failureCode`/`code`; Replicate (problem JSON): `type` is a URL, not a code.
    """
    body = _body(response)
    if isinstance(body, dict):
        detail = body.get("detail")
        first = detail[0] if isinstance(detail, list) and detail else None
        if isinstance(first, dict) and isinstance(first.get("type"), str):
            return first["type"]
        for key in ("error_type", "code", "failureCode"):
            if isinstance(body.get(key), str) and body[key]:
                return body[key]
    return response.headers.get("x-fal-error-type", "")


def is_content_policy(code: str) -> bool:
    lowered = code.lower()
    return lowered in CONTENT_POLICY_CODES or lowered.startswith("safety")


def failure_code(code: str, *, default: str = "provider_failed") -> str:
    """Greenlight's code for a provider's failure code: every content-policy refusal becomes
    "content_policy" (so the brief page says why the same way for every provider)."""
    if not code:
        return default
    return "content_policy" if is_content_policy(code) else code


def _retry_after(response: httpx.Response) -> float | None:
    # Runway (Stainless SDKs) may send milliseconds; everyone else RFC 9110 Retry-After.
    millis = response.headers.get("retry-after-ms", "").strip()
    if millis:
        try:
            return min(max(float(millis) / 1000, 0.0), float(settings.GREENLIGHT_RETRY_AFTER_CAP))
        except ValueError:
            pass
    return retry_after_seconds(response.headers.get("retry-after"))


def error_from_response(response: httpx.Response, *, code: str = "") -> ProviderError:
    """Map a non-2xx answer to the taxonomy: the one place status codes are read.

    Content-policy codes (fal `content_policy_violation`, DashScope `DataInspectionFailed`,
    Runway `SAFETY.*`) are RequestRejected `content_policy` whatever the status; quota codes
    are RequestRejected `quota`; a provider's `x-should-retry` header overrides the status
    (Runway). The provider's own code, when it gives one, is kept in the message.
    """
    status = response.status_code
    theirs = provider_code(response)
    reason = f"{response.request.method} {response.request.url.path} answered {status}: "
    reason += _detail(response) or response.reason_phrase
    if theirs and theirs not in reason:
        reason += f" [{theirs}]"
    should_retry = response.headers.get("x-should-retry", "").strip().lower()
    if theirs and is_content_policy(theirs):
        return RequestRejected(reason, code="content_policy", status_code=status)
    if theirs.lower() in QUOTA_CODES:
        return RequestRejected(reason, code="quota", status_code=status)
    if status == 429:
        return RateLimited(
            reason,
            code=code or "rate_limited",
            retry_after=_retry_after(response),
            status_code=status,
        )
    if should_retry == "false":
        return RequestRejected(reason, code=code or theirs or "not_retryable", status_code=status)
    if status in (408, 409, 425) or status >= 500 or should_retry == "true":
        return TransientError(
            reason,
            code=code or "server_error",
            retry_after=_retry_after(response),
            status_code=status,
        )
    if status in (401, 403):
        return RequestRejected(reason, code=code or "unauthorized", status_code=status)
    if status == 402:
        return RequestRejected(reason, code=code or "quota", status_code=status)
    return RequestRejected(reason, code=code or "invalid_request", status_code=status)


class HTTPProvider(Provider):
    """A provider reached over HTTP; subclasses name their settings and build requests."""

    # Key into settings.GREENLIGHT_PROVIDER_URLS for this provider's base URL.
    base_url_setting: ClassVar[str] = ""
    # Environment-backed setting holding the credential, e.g. "FAL_KEY".
    credential_setting: ClassVar[str] = ""

    def __init__(self, *, client: httpx.Client | None = None) -> None:
        self._client = client

    @property
    def base_url(self) -> str:
        return settings.GREENLIGHT_PROVIDER_URLS[self.base_url_setting or self.name].rstrip("/")

    @property
    def credential(self) -> str:
        return getattr(settings, self.credential_setting, "") or ""

    def is_configured(self) -> bool:
        return bool(self.credential)

    @property
    def poll_after_s(self) -> float:
        """Seconds between polls for this provider (settings.GREENLIGHT_PROVIDER_POLL_S)."""
        polls = getattr(settings, "GREENLIGHT_PROVIDER_POLL_S", {})
        return float(polls.get(self.name, self.poll_interval_s))

    def own_url(self, url: str, *, fallback: str) -> str:
        """`url` when it points at this provider's base host, else `fallback`.

        Handles a provider hands back (status, result and cancel URLs) are followed with our
        credential attached, so one naming another host is never followed.
        """
        base = httpx.URL(self.base_url)
        try:
            candidate = httpx.URL(url)
        except (httpx.InvalidURL, TypeError):
            return fallback
        same = (candidate.scheme, candidate.host, candidate.port) == (
            base.scheme,
            base.host,
            base.port,
        )
        return url if url and same else fallback

    @property
    def client(self) -> httpx.Client:
        """This provider's client: one per provider per process, shared by its instances.

        Building an httpx client costs tens of milliseconds (its TLS context), more than a
        whole call to a nearby provider, and a shared one keeps connections alive between
        jobs. Created lazily, so a Celery worker's children each build their own after fork.
        """
        if self._client is None:
            self._client = shared_client(self.name)
        return self._client

    def auth_headers(self) -> dict[str, str]:
        return {}

    def call(
        self,
        method: str,
        url: str,
        *,
        idempotent: bool = True,
        ok: tuple[int, ...] = (),
        code: str = "",
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; return the response when it is 2xx (or in `ok`), else raise.

        Raises TransientError for connection failures and timeouts before anything was
        sent, AmbiguousSubmit for a non-idempotent request that may have arrived, and what
        `error_from_response` maps for an error status.
        """
        if not self.is_configured():
            raise RequestRejected(f"{self.label} is not configured", code="not_configured")
        if not url.startswith(("http://", "https://")):
            url = f"{self.base_url}/{url.lstrip('/')}"
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}
        try:
            response = self.client.request(method, url, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"{self.label}: cannot connect: {exc}", code="connect") from exc
        except httpx.HTTPError as exc:
            if idempotent:
                raise TransientError(f"{self.label}: {exc!r}", code="transport") from exc
            raise AmbiguousSubmit(
                f"{self.label}: the request was sent but no answer came back ({exc!r})",
                code="ambiguous",
            ) from exc
        if not idempotent and response.status_code == 504:
            # A gateway that gave up waiting: the request may still have been taken upstream.
            raise AmbiguousSubmit(
                f"{self.label}: the gateway timed out after the request was sent (504)",
                code="ambiguous",
                status_code=504,
            )
        if response.is_success or response.status_code in ok:
            return response
        raise error_from_response(response, code=code)

    @staticmethod
    def json_of(response: httpx.Response) -> dict[str, Any]:
        """The response body as a JSON object, or MalformedResponse."""
        try:
            body = response.json()
        except ValueError as exc:
            raise MalformedResponse(
                f"{response.request.url.path} answered non-JSON: {response.text[:200]!r}"
            ) from exc
        if not isinstance(body, dict):
            raise MalformedResponse(f"{response.request.url.path} answered {type(body).__name__}")
        return body
