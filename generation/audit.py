"""Write the audit trail; every state change in every app goes through `audit_record`."""

from __future__ import annotations

from typing import Any

from django.db import models

from generation.models import AuditEvent


def audit_record(
    *,
    action: str,
    obj: models.Model,
    actor: Any = None,
    from_state: str = "",
    to_state: str = "",
    **data: Any,
) -> AuditEvent:
    """Append one audit row for `obj`; call it inside the transaction that made the change."""
    return AuditEvent.objects.create(
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        from_state=from_state,
        to_state=to_state,
        data=data,
    )
