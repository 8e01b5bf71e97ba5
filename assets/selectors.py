"""Reads for clips and the archive; `access_*` helpers are where visibility is checked."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from assets.models import ArchiveRecord, Clip


def clips_visible_to(*, user: Any) -> QuerySet[Clip]:
    """Clips in campaigns the user belongs to; every clip for staff."""
    qs = Clip.objects.all()
    if not user.is_staff:
        qs = qs.filter(variant__brief__campaign__memberships__user=user)
    return qs


def access_clip(*, user: Any, clip_uuid: uuid.UUID | str) -> Clip:
    """Fetch a clip the user may see, with its job, variant, brief and campaign, or 404."""
    try:
        return (
            clips_visible_to(user=user)
            .select_related("job", "variant__brief__campaign")
            .get(uuid=clip_uuid)
        )
    except Clip.DoesNotExist:
        raise Http404("no such clip") from None


def archive_records_for(*, user: Any) -> QuerySet[ArchiveRecord]:
    """Archive records in campaigns the user belongs to (all for staff), newest first."""
    qs = ArchiveRecord.objects.select_related(
        "clip__variant__brief__campaign", "clip__job", "archived_by"
    )
    if not user.is_staff:
        qs = qs.filter(clip__variant__brief__campaign__memberships__user=user)
    return qs


def access_archive_record(*, user: Any, record_id: int) -> ArchiveRecord:
    """Fetch an archive record the user may see, or 404."""
    try:
        return archive_records_for(user=user).get(pk=record_id)
    except ArchiveRecord.DoesNotExist:
        raise Http404("no such archive record") from None
