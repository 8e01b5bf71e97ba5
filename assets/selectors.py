"""Reads for clips and the archive; `access_*` helpers are where visibility is checked."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from assets.models import ArchiveRecord, Clip
from generation.selectors import get_or_404, visible_to

CLIP_CAMPAIGN = "variant__brief__campaign"


def clips_visible_to(*, user: Any) -> QuerySet[Clip]:
    """Clips in campaigns the user belongs to; every clip for staff."""
    return visible_to(Clip.objects.all(), user=user, campaign=CLIP_CAMPAIGN)


def access_clip(*, user: Any, clip_uuid: uuid.UUID | str) -> Clip:
    """Fetch a clip the user may see, with its job, variant, brief and campaign, or 404."""
    qs = clips_visible_to(user=user).select_related("job", "variant__brief__campaign")
    return get_or_404(qs, "clip", uuid=clip_uuid)


def access_clip_files(*, user: Any, clip_uuid: uuid.UUID | str, fields: tuple[str, ...]) -> Clip:
    """Fetch the clip's file `fields` (with uuid and version) if the user may see it, or 404.

    The visibility filter of `access_clip` without its job, variant, brief and campaign: a
    media response reads none of their ~140 columns, and building and decoding them cost
    ~2 ms of a request (3 ms CPU of 4 on SQLite).
    """
    qs = clips_visible_to(user=user).only("uuid", "version", *fields)
    return get_or_404(qs, "clip", uuid=clip_uuid)


def clips_with_finding(queryset: QuerySet[Clip], *, code: str) -> QuerySet[Clip]:
    """Narrow a clip queryset to clips with a QC finding of `code` ("black", "loudness", ...).

    For queue filters; works on SQLite and PostgreSQL alike (a JSON key lookup).
    """
    return queryset.filter(qc_flags__has_key=code)


def qc_codes_in(queryset: QuerySet[Clip]) -> list[str]:
    """The QC codes present among a queryset's clips, sorted: the choices a filter offers."""
    codes: set[str] = set()
    for flags in queryset.exclude(qc_flags={}).values_list("qc_flags", flat=True):
        codes.update(flags)
    return sorted(codes)


def archive_records_for(*, user: Any, tag: str = "") -> QuerySet[ArchiveRecord]:
    """Archive records in campaigns the user belongs to, newest first; `tag` narrows them to
    clips carrying that tag (case-insensitive).

    The tag filter reads the review app's tag rows through a query path only (no import, so
    knowledge still points review → assets); the chips shown come from the sidecar itself.
    """
    qs = ArchiveRecord.objects.select_related(
        "clip__variant__brief__campaign", "clip__job", "archived_by"
    )
    if tag:
        qs = qs.filter(clip__clip_tags__tag__name__iexact=tag).distinct()
    return visible_to(qs, user=user, campaign=f"clip__{CLIP_CAMPAIGN}")


def access_archive_record(*, user: Any, record_id: int) -> ArchiveRecord:
    """Fetch an archive record the user may see, or 404."""
    return get_or_404(archive_records_for(user=user), "archive record", pk=record_id)
