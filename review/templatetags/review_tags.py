from __future__ import annotations

import json
from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def ago(value: datetime | None, now: datetime | None = None) -> str:
    """ "just now" under a minute, otherwise "3 hours ago" (never "0 minutes ago")."""
    if value is None:
        return ""
    now = now or timezone.now()
    if now - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, now, depth=1)} ago"


@register.filter
def as_json(value: object) -> str:
    """JSON text for an HTML attribute (autoescaping then escapes the quotes)."""
    return json.dumps(value, separators=(",", ":"))
