"""Writes for clips and the archive.

A clip moves processing → ready | failed only through `clip_mark_ready` / `clip_mark_failed`
(atomic, row locked, checked against `Clip.TRANSITIONS`, audited). `clip_ingest` does the media
work outside any transaction and then calls one of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import tempfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from assets import media
from assets.models import ArchiveRecord, Clip
from assets.signals import clip_ready
from generation.audit import audit_record
from generation.models import GenerationJob

log = logging.getLogger(__name__)

# How far a clip may stray from what was asked before QC flags it.
DURATION_TOLERANCE_S = 0.5
SHORT_SIDE = {"720p": 720, "1080p": 1080}


class ArchiveError(Exception):
    """The archive copy could not be written or did not verify."""


@transaction.atomic
def clip_create_for_job(*, job: GenerationJob) -> Clip:
    """Create the processing clip for a succeeded job and queue its ingest (idempotent)."""
    clip, created = Clip.objects.get_or_create(
        job=job,
        defaults={"variant_id": job.variant_id, "version": job.attempt, "file": job.output.name},
    )
    if created:
        audit_record(action="clip.create", obj=clip, to_state=clip.status, job=job.pk)
        from assets.tasks import ingest_clip

        transaction.on_commit(partial(ingest_clip.delay, clip.pk))
    return clip


@contextlib.contextmanager
def _local_copy(name: str, *, storage=None) -> Iterator[Path]:
    """Yield a local path for a stored file: the file itself on disk, else a temporary copy."""
    storage = storage or default_storage
    try:
        yield Path(storage.path(name))
        return
    except NotImplementedError:
        pass
    with tempfile.TemporaryDirectory(prefix="greenlight-") as tmp:
        local = Path(tmp) / Path(name).name
        with storage.open(name, "rb") as src, local.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        yield local


def qc_findings(*, info: media.MediaInfo, request: dict[str, Any]) -> list[dict[str, str]]:
    """Compare what arrived with what was asked; each finding is a warning for reviewers."""
    findings = []

    def warn(code: str, message: str) -> None:
        findings.append({"code": code, "severity": "warning", "message": message})

    wanted = request.get("duration_s")
    if wanted and abs(info.duration_s - float(wanted)) > DURATION_TOLERANCE_S:
        warn("duration", f"runs {info.duration_s:.2f}s; {wanted}s was asked")
    aspect = request.get("aspect_ratio")
    if aspect and info.aspect_ratio != aspect:
        warn(
            "aspect_ratio",
            f"is {info.aspect_ratio} ({info.width}×{info.height}); {aspect} was asked",
        )
    short = SHORT_SIDE.get(request.get("resolution", ""))
    if short and min(info.width, info.height) != short:
        warn(
            "resolution",
            f"is {info.width}×{info.height}; {request['resolution']} was asked",
        )
    if request.get("audio", True) and not info.has_audio:
        warn("audio_missing", "has no audio track; audio was asked")
    return findings


def clip_ingest(*, clip_id: int) -> Clip | None:
    """Probe a processing clip, fix its layout for streaming, make a poster, hash it.

    A file that is not a decodable video fails the clip; everything else becomes a QC finding
    and the clip goes ready. Safe to run twice: a clip no longer processing is left alone.
    """
    clip = Clip.objects.select_related("job").get(pk=clip_id)
    if clip.status != Clip.Status.PROCESSING:
        return None
    base = f"clips/{clip.uuid}"
    try:
        with _local_copy(clip.file.name) as source, tempfile.TemporaryDirectory() as tmp:
            info = media.probe(source)
            video_name = clip.file.name
            playable = source
            # Only ISO BMFF (MP4/MOV) has a moov atom to move; WebM and others stream as is.
            iso_bmff = any(f in info.format_name for f in ("mp4", "mov"))
            if iso_bmff and not media.moov_before_mdat(source):
                playable = Path(tmp) / "faststart.mp4"
                media.remux_faststart(source=source, target=playable)
                with playable.open("rb") as fh:
                    video_name = default_storage.save(f"{base}/video.mp4", File(fh))
            poster = Path(tmp) / "poster.jpg"
            media.extract_poster(source=playable, target=poster)
            with poster.open("rb") as fh:
                poster_name = default_storage.save(f"{base}/poster.jpg", File(fh))
            digest = media.sha256_file(playable)
            size = playable.stat().st_size
    except media.MediaError as exc:
        return clip_mark_failed(clip_id=clip_id, error=str(exc))
    return clip_mark_ready(
        clip_id=clip_id,
        info=info,
        video_name=video_name,
        poster_name=poster_name,
        sha256=digest,
        size_bytes=size,
        qc=qc_findings(info=info, request=clip.job.request),
    )


@transaction.atomic
def clip_mark_ready(
    *,
    clip_id: int,
    info: media.MediaInfo,
    video_name: str,
    poster_name: str,
    sha256: str,
    size_bytes: int,
    qc: list[dict[str, str]],
) -> Clip:
    """Store what ingest learned and open the clip for review (`clip_ready`)."""
    clip = Clip.objects.select_for_update().get(pk=clip_id)
    previous = clip.transition(Clip.Status.READY)
    clip.file.name = video_name
    clip.poster.name = poster_name
    clip.duration_s = info.duration_s
    clip.width, clip.height, clip.fps = info.width, info.height, info.fps
    clip.video_codec, clip.audio_codec = info.video_codec, info.audio_codec
    clip.has_audio = info.has_audio
    clip.size_bytes = size_bytes
    clip.sha256 = sha256
    clip.metadata = info.as_dict()
    clip.qc = qc
    clip.save()
    audit_record(
        action="clip.ready", obj=clip, from_state=previous, to_state=clip.status, sha256=sha256
    )
    clip_ready.send(sender=Clip, clip=clip)
    return clip


@transaction.atomic
def clip_mark_failed(*, clip_id: int, error: str) -> Clip:
    """Fail a clip that cannot be played, with the reason."""
    clip = Clip.objects.select_for_update().get(pk=clip_id)
    previous = clip.transition(Clip.Status.FAILED)
    clip.error = error[:4000]
    clip.save(update_fields=["status", "error", "updated_at"])
    audit_record(
        action="clip.failed", obj=clip, from_state=previous, to_state=clip.status, error=error
    )
    return clip


def _archive_names(clip: Clip) -> tuple[str, str]:
    brief = clip.variant.brief
    stem = (
        f"{brief.campaign.slug}/brief-{brief.pk}/variant-{clip.variant.position}/"
        f"v{clip.version}-{clip.uuid}"
    )
    return f"{stem}.mp4", f"{stem}.json"


def _stored_sha256(storage, name: str) -> str:
    with _local_copy(name, storage=storage) as path:
        return media.sha256_file(path)


def clip_archive(*, clip_id: int, actor: Any = None, provenance: dict[str, Any]) -> ArchiveRecord:
    """Copy a ready clip into archive storage with a JSON sidecar; verify the copy's sha256.

    Idempotent: an existing record is returned as is. A copy left by an interrupted earlier
    run is reused only if its checksum matches; the archive never overwrites a file.
    Raises ArchiveError when the copy does not verify.
    """
    clip = Clip.objects.select_related("variant__brief__campaign").get(pk=clip_id)
    existing = ArchiveRecord.objects.filter(clip=clip).first()
    if existing:
        return existing
    if clip.status != Clip.Status.READY:
        raise ArchiveError(f"clip {clip.uuid} is {clip.status}, not ready")
    archive = storages["archive"]
    video_name, sidecar_name = _archive_names(clip)
    if not archive.exists(video_name):
        with clip.file.open("rb") as fh:
            saved = archive.save(video_name, File(fh))
        if saved != video_name:
            raise ArchiveError(f"archive storage renamed {video_name} to {saved}")
    copied = _stored_sha256(archive, video_name)
    if copied != clip.sha256:
        raise ArchiveError(f"archive copy {video_name} has sha256 {copied}, expected {clip.sha256}")
    sidecar = {
        **provenance,
        "clip": {
            "uuid": str(clip.uuid),
            "version": clip.version,
            "sha256": clip.sha256,
            "size_bytes": clip.size_bytes,
            "duration_s": clip.duration_s,
            "width": clip.width,
            "height": clip.height,
            "video_codec": clip.video_codec,
            "audio_codec": clip.audio_codec,
            "qc": clip.qc,
        },
        "archive": {"video": video_name, "sha256": copied},
    }
    body = json.dumps(sidecar, indent=2, sort_keys=True, cls=DjangoJSONEncoder).encode()
    if archive.exists(sidecar_name):
        with archive.open(sidecar_name, "rb") as fh:
            if fh.read() != body:
                # An earlier interrupted run wrote a sidecar with other content (a decision
                # arrived since); keep it and write this one beside it, never over it.
                sidecar_name = archive.save(sidecar_name, ContentFile(body))
    else:
        archive.save(sidecar_name, ContentFile(body))
    with transaction.atomic():
        record, created = ArchiveRecord.objects.get_or_create(
            clip=clip,
            defaults={
                "video_path": video_name,
                "sidecar_path": sidecar_name,
                "sha256": copied,
                "size_bytes": clip.size_bytes or 0,
                # Exactly what the sidecar says, datetimes as ISO strings.
                "provenance": json.loads(body),
                "archived_by": actor if getattr(actor, "is_authenticated", False) else None,
            },
        )
        if created:
            audit_record(action="clip.archive", obj=clip, actor=actor, path=video_name)
    return record
