"""Celery tasks for media: ingest and its reconciliation.

Each ingest message carries the lease token of its clip (generation/leases.py): a duplicate
does nothing, a failure backs off and tries again, and past the attempt budget the clip fails
with the reason instead of being re-driven forever.
"""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings

from assets import services
from assets.models import Clip
from generation.audit import audit_record
from generation.leases import lease_run, work_reconcile
from generation.models import Lease

LIMITS = settings.GREENLIGHT_TASK_LIMITS
INGEST = Lease.Kind.INGEST


def _fail_clip(clip_id: int, reason: str) -> None:
    if Clip.objects.filter(pk=clip_id, status=Clip.Status.PROCESSING).exists():
        services.clip_mark_failed(clip_id=clip_id, error=f"ingest {reason}")


@shared_task(bind=True, soft_time_limit=LIMITS["ingest"][0], time_limit=LIMITS["ingest"][1])
def ingest_clip(self, clip_id: int, token: str = "") -> None:
    """Probe, analyse, fix for streaming, poster and hash one clip, if this message drives it."""
    lease_run(
        kind=INGEST,
        object_id=clip_id,
        token=token,
        owner=self.request.id or uuid.uuid4().hex,
        work=lambda: services.clip_ingest(clip_id=clip_id),
        reschedule=lambda next_token, countdown: ingest_clip.apply_async(
            (clip_id, next_token), countdown=countdown
        ),
        give_up=lambda reason: _fail_clip(clip_id, reason),
    )


@shared_task(soft_time_limit=LIMITS["reconcile"][0], time_limit=LIMITS["reconcile"][1])
def reconcile_clips() -> dict[str, int]:
    """Re-drive ingests whose worker or message was lost; fail clips past their budget."""
    return work_reconcile(
        kind=INGEST,
        pending=Clip.objects.filter(status=Clip.Status.PROCESSING),
        send=lambda clip_id, token: ingest_clip.delay(clip_id, token),
        give_up=_fail_clip,
        deadline_s=settings.GREENLIGHT_INGEST_DEADLINE,
    )


@shared_task(soft_time_limit=LIMITS["ingest"][0], time_limit=LIMITS["ingest"][1])
def reanalyse_clip(clip_id: int, actor_id: int | None = None) -> None:
    """Analyse a ready clip again (ops asked in the admin); a failure keeps the old analysis
    and is recorded in the audit trail for ops to see."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    try:
        services.clip_reanalyse(clip_id=clip_id, actor=actor)
    except services.ReanalyseError as exc:
        clip = Clip.objects.filter(pk=clip_id).first()
        if clip is not None:
            audit_record(action="clip.reanalyse_failed", obj=clip, actor=actor, reason=str(exc))
