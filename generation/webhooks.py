"""Provider webhooks: verify the delivery, then hand it to the one service polling also uses.

`POST /hooks/<provider>/` (URL name `generation:provider_webhook`, which the job driver
reverses into every submit's webhook URL). The provider's `parse_webhook` checks the signature
and timestamp and returns a typed event; `generation.jobs.job_apply_event` records the delivery
id (a replay is refused) and applies the report exactly as a poll would. Every bad input gets a
4xx with a plain-text reason, never a 500:

| answer | when |
|---|---|
| 200 applied | verified and applied (a late or duplicate report changes nothing) |
| 400 | the body is not the provider's webhook (malformed JSON, wrong request id, unknown status) |
| 403 | missing or bad signature, stale timestamp, another account's delivery, no secret set |
| 404 | no such provider, a provider without webhooks, or a request no job carries |
| 405 | not a POST |
| 409 | a delivery id seen before (replay) |
| 413 | a body over GREENLIGHT_WEBHOOK_MAX_BYTES |
| 503 | the provider's keys could not be fetched now: it delivers again later |
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from generation.jobs import WebhookOutcome, job_apply_event
from generation.providers import provider_classes
from generation.providers.base import ProviderError, WebhookRejected

log = logging.getLogger(__name__)

_BAD_BODY = frozenset({"bad_body", "unsupported_status"})
_NOT_HERE = frozenset({"unsupported"})
MAX_BYTES_DEFAULT = 1024 * 1024


def _text(status: int, reason: str) -> HttpResponse:
    return HttpResponse(reason + "\n", status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def provider_webhook(request: HttpRequest, provider: str) -> HttpResponse:
    """Verify and apply one provider callback; see the module docstring for the answers."""
    cls = provider_classes().get(provider)
    if cls is None:
        return _text(404, f"no provider {provider!r}")
    limit = getattr(settings, "GREENLIGHT_WEBHOOK_MAX_BYTES", MAX_BYTES_DEFAULT)
    declared = request.META.get("CONTENT_LENGTH") or "0"
    if declared.isdigit() and int(declared) > limit:
        return _text(413, f"webhook bodies are limited to {limit} bytes")
    body = request.body
    if len(body) > limit:
        return _text(413, f"webhook bodies are limited to {limit} bytes")
    headers = dict(request.headers.items())
    try:
        event = cls().parse_webhook(headers, body)
    except WebhookRejected as exc:
        log.info("%s webhook refused (%s): %s", provider, exc.code, exc)
        if exc.code in _NOT_HERE:
            return _text(404, str(exc))
        return _text(400 if exc.code in _BAD_BODY else 403, str(exc))
    except ProviderError as exc:
        log.warning("%s webhook could not be checked now: %s", provider, exc)
        if exc.retryable:
            return _text(503, f"cannot verify the delivery now: {exc}")
        return _text(400, str(exc))
    outcome = job_apply_event(provider=provider, event=event)
    if outcome == WebhookOutcome.REPLAYED:
        return _text(409, f"delivery {event.delivery_id} was already received")
    if outcome == WebhookOutcome.UNKNOWN:
        return _text(404, f"no job carries {provider} request {event.request_id}")
    return _text(200, outcome)
