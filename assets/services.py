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
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage, storages
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

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


@transaction.atomic(savepoint=False)
def clip_create_for_job(*, job: GenerationJob) -> Clip:
    """Create the processing clip for a succeeded job and queue its ingest (idempotent).

    The INSERT runs in a savepoint, so a job that already has its clip (a second call, or a
    concurrent creator, whose row the INSERT waits for) costs the caller nothing but a read of
    that clip: the transaction stays usable. The driver calls this from `job_mark_succeeded`
    with the job row locked. Four statements there (savepoint, INSERT, release, audit row)
    where `get_or_create` inside this function's own savepoint took seven; an INSERT that
    skips on conflict plus a read back took three, but cost more CPU than the savepoint pair.
    """
    try:
        with transaction.atomic():
            clip = Clip.objects.create(
                job=job, variant_id=job.variant_id, version=job.attempt, file=job.output.name
            )
    except IntegrityError:
        return Clip.objects.get(job=job)
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


@dataclass(frozen=True)
class DeliverySpec:
    """The loudness window a campaign delivers to (EBU R128 integrated, true peak)."""

    loudness_target_lufs: float
    loudness_tolerance_lu: float
    true_peak_max_dbtp: float


def delivery_spec(*, campaign: Any = None) -> DeliverySpec:
    """Return the campaign's loudness window: its own fields when it has them, else settings."""
    defaults = {
        "loudness_target_lufs": settings.GREENLIGHT_LOUDNESS_TARGET_LUFS,
        "loudness_tolerance_lu": settings.GREENLIGHT_LOUDNESS_TOLERANCE_LU,
        "true_peak_max_dbtp": settings.GREENLIGHT_TRUE_PEAK_MAX_DBTP,
    }
    # Campaign has no such fields yet; one that grows them overrides the setting per field.
    values = {
        key: float(getattr(campaign, key)) if getattr(campaign, key, None) is not None else value
        for key, value in defaults.items()
    }
    return DeliverySpec(**values)


def _span(segments: list) -> str:
    return ", ".join(f"{start:.2f}–{end:.2f} s" for start, end in segments)


def qc_findings(
    *,
    info: media.MediaInfo,
    request: dict[str, Any],
    analysis: media.Analysis | None = None,
    spec: DeliverySpec | None = None,
) -> list[dict[str, Any]]:
    """Compare what arrived with what was asked and the delivery spec.

    Every finding is a warning for reviewers (hard failures never get here: they raise
    MediaError and fail the clip). Detector findings carry their `segments` as [start, end]
    pairs in seconds.
    """
    findings: list[dict[str, Any]] = []

    def warn(code: str, message: str, **extra: Any) -> None:
        findings.append({"code": code, "severity": "warning", "message": message, **extra})

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
    if analysis is None:
        return findings

    if analysis.black:
        warn("black", f"shows a black picture at {_span(analysis.black)}", segments=analysis.black)
    if analysis.freeze:
        warn("freeze", f"freezes at {_span(analysis.freeze)}", segments=analysis.freeze)
    if info.has_audio:
        spec = spec or delivery_spec()
        if analysis.silence:
            warn("silence", f"is silent at {_span(analysis.silence)}", segments=analysis.silence)
        low = spec.loudness_target_lufs - spec.loudness_tolerance_lu
        high = spec.loudness_target_lufs + spec.loudness_tolerance_lu
        window = f"{spec.loudness_target_lufs:g} ±{spec.loudness_tolerance_lu:g} LUFS"
        lufs = analysis.loudness_lufs
        if lufs is not None and lufs > high:
            warn("loudness", f"is too loud: {lufs:.1f} LUFS integrated; {window} is the window")
        elif lufs is not None and lufs < low:
            warn("loudness", f"is too quiet: {lufs:.1f} LUFS integrated; {window} is the window")
        peak = analysis.true_peak_dbtp
        if peak is not None and peak > spec.true_peak_max_dbtp:
            warn(
                "true_peak",
                f"peaks at {peak:.1f} dBTP; at most {spec.true_peak_max_dbtp:g} dBTP is allowed",
            )
    return findings


def _delete_stored(names: list[str], *, storage: Storage | None = None) -> None:
    """Remove stored files, logging (not raising) what cannot be removed."""
    storage = storage or default_storage
    for name in names:
        try:
            storage.delete(name)
        except Exception:  # cleanup must not hide the original outcome
            log.exception("could not delete %s", name)


def _store(name: str, path: Path, *, saved: list[str]) -> str:
    with path.open("rb") as fh:
        stored = default_storage.save(name, File(fh))
    saved.append(stored)
    return stored


def _store_analysis(
    *,
    clip: Clip,
    source: Path,
    info: media.MediaInfo,
    analysis: media.Analysis,
    work_dir: Path,
    saved: list[str],
) -> dict[str, Any]:
    """Store the analysis' files; every stored name goes to `saved`.

    Returns the Clip field values the analysis yields. Raises MediaError.
    """
    base = f"clips/{clip.uuid}"
    poster = analysis.poster
    if poster is None:
        # Too short for the candidate sampler to land on a frame: fall back to one seek.
        poster = work_dir / "poster-fallback.jpg"
        media.extract_poster(source=source, target=poster)
    fields: dict[str, Any] = {
        "poster": _store(f"{base}/poster.jpg", poster, saved=saved),
        "sprite": "",
        "thumbnails": "",
        "waveform": "",
        "loudness_lufs": analysis.loudness_lufs,
        "loudness_range_lu": analysis.loudness_range_lu,
        "true_peak_dbtp": analysis.true_peak_dbtp,
        "analysis": analysis.as_dict(),
    }
    if analysis.sprite and analysis.sprite_geometry:
        fields["sprite"] = _store(f"{base}/sprite.jpg", analysis.sprite, saved=saved)
        # The cue points at the sprite view beside the track's own URL, not at a storage name,
        # so the track survives a rename and S3 alike.
        vtt = media.thumbnails_vtt(
            analysis.sprite_geometry, sprite_url="sprite.jpg", duration_s=info.duration_s
        )
        name = default_storage.save(f"{base}/thumbnails.vtt", ContentFile(vtt.encode()))
        saved.append(name)
        fields["thumbnails"] = name
    if analysis.waveform:
        fields["waveform"] = _store(f"{base}/waveform.png", analysis.waveform, saved=saved)
    return fields


def _needs_faststart(path: Path) -> bool:
    """Tell whether a file is ISO BMFF (MP4/MOV) with its moov box after the media data.

    Only such files have a moov to move; WebM and others stream as they are, and junk is left
    for the probe to name.
    """
    try:
        return not media.moov_before_mdat(path)
    except media.MediaError:
        return False


def clip_ingest(*, clip_id: int) -> Clip | None:
    """Probe a processing clip, fix its layout for streaming, analyse it once, hash it.

    A file that is not a decodable video (or stops short: truncated) fails the clip, and every
    file this run stored is deleted again; everything else becomes a QC finding and the clip
    goes ready. Safe to run twice: a clip no longer processing is left alone.
    """
    clip = Clip.objects.select_related("job", "variant__brief__campaign").get(pk=clip_id)
    if clip.status != Clip.Status.PROCESSING:
        return None
    saved: list[str] = []
    try:
        with _local_copy(clip.file.name) as source, tempfile.TemporaryDirectory() as tmp:
            video_name = clip.file.name
            playable = source
            work_dir = Path(tmp) / "analysis"
            if _needs_faststart(source):
                # The analysis' own ffmpeg run writes the moov-first copy as it decodes.
                playable = Path(tmp) / "faststart.mp4"
            # One decode; ffprobe runs only for what the moov box and its log do not say.
            info, analysis = media.probe_and_analyse(
                source=source,
                work_dir=work_dir,
                faststart_target=playable if playable != source else None,
            )
            derived = _store_analysis(
                clip=clip,
                source=playable,
                info=info,
                analysis=analysis,
                work_dir=work_dir,
                saved=saved,
            )
            if playable != source:
                video_name = _store(f"clips/{clip.uuid}/video.mp4", playable, saved=saved)
            digest = media.sha256_file(playable)
            size = playable.stat().st_size
        qc = qc_findings(
            info=info,
            request=clip.job.request,
            analysis=analysis,
            spec=delivery_spec(campaign=clip.variant.brief.campaign),
        )
    except media.MediaError as exc:
        _delete_stored(saved)
        return clip_mark_failed(clip_id=clip_id, error=str(exc))
    except BaseException:
        _delete_stored(saved)
        raise
    try:
        return clip_mark_ready(
            clip_id=clip_id,
            info=info,
            video_name=video_name,
            poster_name=derived.pop("poster"),
            sha256=digest,
            size_bytes=size,
            qc=qc,
            derived=derived,
        )
    except BaseException:
        # Another run finished the clip first (or the write failed): this run's files are
        # nobody's.
        _delete_stored(saved)
        raise


@transaction.atomic
def clip_mark_ready(
    *,
    clip_id: int,
    info: media.MediaInfo,
    video_name: str,
    poster_name: str,
    sha256: str,
    size_bytes: int,
    qc: list[dict[str, Any]],
    derived: dict[str, Any] | None = None,
) -> Clip:
    """Store what ingest learned and open the clip for review (`clip_ready`).

    `derived` holds the analysis fields (sprite, thumbnails, waveform, loudness, analysis).
    Locks the clip row; raises InvalidTransition unless it is processing.
    """
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
    clip.set_qc(qc)
    if derived is not None:
        _apply_derived(clip, derived)
    clip.save()
    audit_record(
        action="clip.ready", obj=clip, from_state=previous, to_state=clip.status, sha256=sha256
    )
    clip_ready.send(sender=Clip, clip=clip)
    return clip


def _apply_derived(clip: Clip, derived: dict[str, Any]) -> None:
    for field_name in ("poster", "sprite", "thumbnails", "waveform"):
        if field_name in derived:
            getattr(clip, field_name).name = derived[field_name]
    for field_name in ("loudness_lufs", "loudness_range_lu", "true_peak_dbtp", "analysis"):
        if field_name in derived:
            setattr(clip, field_name, derived[field_name])
    clip.analysed_at = timezone.now()


class ReanalyseError(Exception):
    """The clip cannot be analysed again; its previous analysis is kept."""


def clip_reanalyse(*, clip_id: int, actor: Any = None) -> Clip:
    """Analyse a ready clip again and swap in the new derived files and QC.

    The new files are stored under fresh names first; the clip row (locked) then points at
    them, and the old files are deleted only after that commit. A failure deletes what this
    run stored and keeps the old analysis. Raises ReanalyseError for a clip that is not ready
    or whose file no longer analyses.
    """
    clip = Clip.objects.select_related("job", "variant__brief__campaign").get(pk=clip_id)
    if clip.status != Clip.Status.READY:
        raise ReanalyseError(f"clip {clip.uuid} is {clip.status}, not ready")
    saved: list[str] = []
    try:
        with _local_copy(clip.file.name) as source, tempfile.TemporaryDirectory() as tmp:
            info, analysis = media.probe_and_analyse(source=source, work_dir=Path(tmp))
            derived = _store_analysis(
                clip=clip,
                source=source,
                info=info,
                analysis=analysis,
                work_dir=Path(tmp),
                saved=saved,
            )
        qc = qc_findings(
            info=info,
            request=clip.job.request,
            analysis=analysis,
            spec=delivery_spec(campaign=clip.variant.brief.campaign),
        )
        with transaction.atomic():
            locked = Clip.objects.select_for_update().get(pk=clip_id)
            if locked.status != Clip.Status.READY:
                raise ReanalyseError(f"clip {clip.uuid} is {locked.status}, not ready")
            old = set(locked.derived_names())
            _apply_derived(locked, derived)
            locked.set_qc(qc)
            locked.save()
            audit_record(
                action="clip.reanalyse",
                obj=locked,
                actor=actor,
                findings=[f["code"] for f in qc],
            )
            stale = sorted(old - set(locked.derived_names()))
            transaction.on_commit(partial(_delete_stored, stale))
    except media.MediaError as exc:
        _delete_stored(saved)
        raise ReanalyseError(f"clip {clip.uuid}: {exc}") from exc
    except BaseException:
        _delete_stored(saved)
        raise
    return locked


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
