from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages

from assets import media, services
from assets.models import ArchiveRecord, Clip
from generation.models import AuditEvent
from generation.statemachine import InvalidTransition
from review.models import Review
from tests.factories import ClipFactory, UserFactory

from .conftest import tool_names

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

# What the 640x360, 2 s test clip with audio was asked to be, so QC finds nothing.
MATCHING_REQUEST = {"duration_s": 2, "aspect_ratio": "16:9", "audio": True}


def _stored(path: Path, name: str = "jobs/1/video.mp4") -> str:
    with path.open("rb") as fh:
        return default_storage.save(name, File(fh))


def _processing_clip(path: Path, request: dict | None = None) -> Clip:
    return ClipFactory(
        status=Clip.Status.PROCESSING,
        file=_stored(path),
        poster="",
        sha256="",
        size_bytes=None,
        duration_s=None,
        width=None,
        height=None,
        video_codec="",
        audio_codec="",
        has_audio=False,
        job__request=MATCHING_REQUEST if request is None else request,
    )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _audit(clip) -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(object_type="assets.clip", object_id=str(clip.pk))
    return list(rows.order_by("pk").values_list("action", "from_state", "to_state"))


# --- clip_ingest ------------------------------------------------------------------------------


def test_ingest_a_faststart_mp4(media_files) -> None:
    clip = _processing_clip(media_files.faststart)
    original_name = clip.file.name

    result = services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert result == clip
    assert clip.status == Clip.Status.READY
    # Already fast-start: the stored file is kept as it is.
    assert clip.file.name == original_name
    stored = default_storage.open(clip.file.name, "rb").read()
    assert stored == media_files.faststart.read_bytes()
    assert clip.sha256 == _sha256(stored)
    assert clip.size_bytes == len(stored)
    assert clip.poster.name == f"clips/{clip.uuid}/poster.jpg"
    with default_storage.open(clip.poster.name, "rb") as fh:
        assert fh.read(3) == b"\xff\xd8\xff"
    assert (clip.width, clip.height) == (640, 360)
    assert clip.duration_s == pytest.approx(2.0, abs=0.1)
    assert clip.fps == pytest.approx(25.0)
    assert (clip.video_codec, clip.audio_codec, clip.has_audio) == ("h264", "aac", True)
    assert clip.metadata["width"] == 640
    assert clip.metadata["has_audio"] is True
    assert "raw" not in clip.metadata
    # The fixture's test tone is quieter than the -14 LUFS ±2 window; nothing else is off.
    assert [f["code"] for f in clip.qc] == ["loudness"]
    assert _audit(clip)[-1] == ("clip.ready", "processing", "ready")


def test_ingest_opens_the_review(media_files) -> None:
    clip = _processing_clip(media_files.faststart)

    services.clip_ingest(clip_id=clip.pk)

    review = Clip.objects.get(pk=clip.pk).review
    assert review.status == "pending"
    assert review.stage.position == 1


def test_ingest_remuxes_a_moov_at_end_file(media_files) -> None:
    assert not media.moov_before_mdat(media_files.moov_at_end)
    clip = _processing_clip(media_files.moov_at_end)

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert clip.file.name == f"clips/{clip.uuid}/video.mp4"
    stored = Path(default_storage.path(clip.file.name))
    assert media.moov_before_mdat(stored)
    assert clip.sha256 == _sha256(stored.read_bytes())
    assert clip.size_bytes == stored.stat().st_size
    assert clip.sha256 != _sha256(media_files.moov_at_end.read_bytes())


def test_a_moov_at_end_ingest_starts_one_ffmpeg(media_files, tool_runs) -> None:
    # The faststart remux rides in the analysis' ffmpeg run, and the moov box and that run's
    # log describe the file: every tool start costs 50-80 ms of CPU before it reads a byte.
    clip = _processing_clip(media_files.moov_at_end)

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    assert tool_names(tool_runs) == ["ffmpeg"]
    stored = Path(default_storage.path(clip.file.name))
    assert media.moov_before_mdat(stored)
    assert media.probe(stored).as_dict() | {"size_bytes": 0} == media.probe(
        media_files.moov_at_end
    ).as_dict() | {"size_bytes": 0}


@pytest.mark.parametrize("attr", ["random_bytes", "text_as_mp4", "png", "audio_only"])
def test_ingest_fails_junk(media_files, attr: str) -> None:
    clip = _processing_clip(getattr(media_files, attr))

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error.startswith(("undecodable", "not a video"))
    assert clip.sha256 == ""
    assert _audit(clip)[-1] == ("clip.failed", "processing", "failed")
    assert not Review.objects.filter(clip=clip).exists()


def test_ingest_twice_is_a_no_op(media_files) -> None:
    clip = _processing_clip(media_files.moov_at_end)
    services.clip_ingest(clip_id=clip.pk)
    first = Clip.objects.get(pk=clip.pk)
    stored = sorted(p.name for p in Path(default_storage.location).rglob("*"))
    events = AuditEvent.objects.count()

    assert services.clip_ingest(clip_id=clip.pk) is None

    again = Clip.objects.get(pk=clip.pk)
    assert (again.status, again.file.name, again.poster.name, again.sha256) == (
        first.status,
        first.file.name,
        first.poster.name,
        first.sha256,
    )
    assert again.updated_at == first.updated_at
    assert sorted(p.name for p in Path(default_storage.location).rglob("*")) == stored
    assert AuditEvent.objects.count() == events


def test_ingest_a_failed_clip_is_a_no_op(media_files) -> None:
    clip = _processing_clip(media_files.random_bytes)
    services.clip_ingest(clip_id=clip.pk)

    assert services.clip_ingest(clip_id=clip.pk) is None
    assert Clip.objects.get(pk=clip.pk).status == Clip.Status.FAILED


def test_a_final_clip_cannot_be_marked_again() -> None:
    clip = ClipFactory(status=Clip.Status.FAILED, sha256="")

    with pytest.raises(InvalidTransition) as excinfo:
        services.clip_mark_failed(clip_id=clip.pk, error="again")

    assert str(excinfo.value) == f"Clip {clip.pk} cannot move from 'failed' to 'failed'"
    assert Clip.objects.get(pk=clip.pk).error == ""


def test_ingest_records_qc_findings(media_files) -> None:
    clip = _processing_clip(
        media_files.vertical,
        request={"duration_s": 6, "aspect_ratio": "16:9", "resolution": "720p", "audio": True},
    )

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    codes = [f["code"] for f in clip.qc]
    assert codes == ["duration", "aspect_ratio", "resolution", "audio_missing"]
    assert clip.qc_warnings == clip.qc


# --- qc_findings ------------------------------------------------------------------------------


def _info(**overrides) -> media.MediaInfo:
    fields = {
        "format_name": "mov,mp4,m4a,3gp,3g2,mj2",
        "duration_s": 6.0,
        "width": 1280,
        "height": 720,
        "fps": 25.0,
        "video_codec": "h264",
        "audio_codec": "aac",
        "has_audio": True,
    }
    fields.update(overrides)
    return media.MediaInfo(**fields)


REQUEST = {"duration_s": 6, "aspect_ratio": "16:9", "resolution": "720p", "audio": True}


def test_qc_finds_nothing_when_the_clip_matches() -> None:
    assert services.qc_findings(info=_info(duration_s=6.4), request=REQUEST) == []
    assert services.qc_findings(info=_info(), request={}) == []


@pytest.mark.parametrize(
    ("overrides", "code", "message"),
    [
        ({"duration_s": 5.2}, "duration", "runs 5.20s; 6s was asked"),
        ({"duration_s": 6.75}, "duration", "runs 6.75s; 6s was asked"),
        (
            {"width": 720, "height": 1280},
            "aspect_ratio",
            "is 9:16 (720×1280); 16:9 was asked",
        ),
        ({"width": 1920, "height": 1080}, "resolution", "is 1920×1080; 720p was asked"),
        (
            {"has_audio": False, "audio_codec": ""},
            "audio_missing",
            "has no audio track; audio was asked",
        ),
    ],
)
def test_qc_findings_for_each_mismatch(overrides, code: str, message: str) -> None:
    findings = services.qc_findings(info=_info(**overrides), request=REQUEST)

    assert findings == [{"code": code, "severity": "warning", "message": message}]


def test_qc_does_not_ask_for_audio_when_none_was_asked() -> None:
    info = _info(has_audio=False)
    assert services.qc_findings(info=info, request={**REQUEST, "audio": False}) == []


def test_qc_checks_the_short_side_of_vertical_clips() -> None:
    info = _info(width=720, height=1280)
    assert services.qc_findings(info=info, request={**REQUEST, "aspect_ratio": "9:16"}) == []


# --- clip_archive -----------------------------------------------------------------------------

PROVENANCE = {"schema": "greenlight.archive/1", "generation": {"provider": "animatic"}}


@pytest.fixture
def ready_clip(media_files) -> Clip:
    data = media_files.faststart.read_bytes()
    return ClipFactory(
        file=_stored(media_files.faststart, "clips/x/video.mp4"),
        sha256=_sha256(data),
        size_bytes=len(data),
    )


def _archive_files() -> list[str]:
    root = Path(storages["archive"].location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_clip_archive_copies_and_writes_a_sidecar(ready_clip, media_files) -> None:
    user = UserFactory()
    archive = storages["archive"]

    record = services.clip_archive(clip_id=ready_clip.pk, actor=user, provenance=PROVENANCE)

    brief = ready_clip.variant.brief
    stem = (
        f"{brief.campaign.slug}/brief-{brief.pk}/variant-{ready_clip.variant.position}/"
        f"v{ready_clip.version}-{ready_clip.uuid}"
    )
    assert (record.video_path, record.sidecar_path) == (f"{stem}.mp4", f"{stem}.json")
    assert _archive_files() == [f"{stem}.json", f"{stem}.mp4"]
    with archive.open(record.video_path, "rb") as fh:
        copied = fh.read()
    assert copied == media_files.faststart.read_bytes()
    assert record.sha256 == ready_clip.sha256 == _sha256(copied)
    assert record.size_bytes == len(copied)
    assert record.archived_by == user
    with archive.open(record.sidecar_path, "rb") as fh:
        sidecar = json.loads(fh.read())
    assert sidecar["schema"] == "greenlight.archive/1"
    assert sidecar["generation"] == {"provider": "animatic"}
    assert sidecar["clip"]["sha256"] == ready_clip.sha256
    assert sidecar["clip"]["uuid"] == str(ready_clip.uuid)
    assert sidecar["archive"] == {"video": record.video_path, "sha256": ready_clip.sha256}
    assert record.provenance == sidecar
    assert AuditEvent.objects.filter(action="clip.archive", object_id=str(ready_clip.pk)).count()


def test_clip_archive_is_idempotent(ready_clip) -> None:
    first = services.clip_archive(clip_id=ready_clip.pk, provenance=PROVENANCE)
    files = _archive_files()

    second = services.clip_archive(clip_id=ready_clip.pk, provenance={"other": 1})

    assert second == first
    assert _archive_files() == files
    assert ArchiveRecord.objects.count() == 1
    assert AuditEvent.objects.filter(action="clip.archive").count() == 1


def test_clip_archive_reuses_a_verified_copy_from_an_interrupted_run(ready_clip) -> None:
    video_name, _sidecar = services._archive_names(ready_clip)
    with default_storage.open(ready_clip.file.name, "rb") as fh:
        storages["archive"].save(video_name, File(fh))

    record = services.clip_archive(clip_id=ready_clip.pk, provenance=PROVENANCE)

    assert record.video_path == video_name
    assert len(_archive_files()) == 2


def test_clip_archive_keeps_a_different_sidecar_and_writes_beside_it(ready_clip) -> None:
    _video, sidecar_name = services._archive_names(ready_clip)
    storages["archive"].save(sidecar_name, ContentFile(b'{"from": "an earlier run"}'))

    record = services.clip_archive(clip_id=ready_clip.pk, provenance=PROVENANCE)

    assert record.sidecar_path != sidecar_name
    assert record.sidecar_path.endswith(".json")
    assert len(_archive_files()) == 3


@pytest.mark.parametrize("status", [Clip.Status.PROCESSING, Clip.Status.FAILED])
def test_clip_archive_refuses_a_clip_that_is_not_ready(status) -> None:
    clip = ClipFactory(status=status, sha256="")

    with pytest.raises(services.ArchiveError) as excinfo:
        services.clip_archive(clip_id=clip.pk, provenance=PROVENANCE)

    assert str(excinfo.value) == f"clip {clip.uuid} is {status}, not ready"
    assert _archive_files() == []
    assert not ArchiveRecord.objects.exists()


def test_clip_archive_refuses_a_copy_that_does_not_verify(ready_clip) -> None:
    video_name, _sidecar = services._archive_names(ready_clip)
    storages["archive"].save(video_name, ContentFile(b"not the clip"))

    with pytest.raises(services.ArchiveError) as excinfo:
        services.clip_archive(clip_id=ready_clip.pk, provenance=PROVENANCE)

    assert f"expected {ready_clip.sha256}" in str(excinfo.value)
    # The archive never overwrites: the foreign file stays, nothing else is written.
    assert _archive_files() == [video_name]
    assert not ArchiveRecord.objects.exists()


def test_archive_records_are_immutable(ready_clip) -> None:
    record = services.clip_archive(clip_id=ready_clip.pk, provenance=PROVENANCE)

    record.sha256 = "0" * 64
    with pytest.raises(ValueError, match="immutable"):
        record.save()
    with pytest.raises(ValueError, match="immutable"):
        record.delete()
    assert ArchiveRecord.objects.get().sha256 == ready_clip.sha256


# --- analysis at ingest -----------------------------------------------------------------------


def _stored_names() -> list[str]:
    root = Path(default_storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


QC_ASKED = {"duration_s": 4, "aspect_ratio": "16:9", "audio": True}


def test_ingest_stores_the_analysis(qc_media) -> None:
    clip = _processing_clip(qc_media.black, request=QC_ASKED)

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY
    base = f"clips/{clip.uuid}"
    assert (clip.poster.name, clip.sprite.name, clip.thumbnails.name, clip.waveform.name) == (
        f"{base}/poster.jpg",
        f"{base}/sprite.jpg",
        f"{base}/thumbnails.vtt",
        f"{base}/waveform.png",
    )
    assert _stored_names() == sorted([clip.file.name, *clip.derived_names()])
    with default_storage.open(clip.thumbnails.name, "rb") as fh:
        assert fh.read().startswith(b"WEBVTT\n\n00:00:00.000 --> 00:00:00.500\nsprite.jpg#xywh=")
    assert clip.loudness_lufs == pytest.approx(-14.0, abs=0.5)
    assert clip.true_peak_dbtp < -1
    assert clip.loudness_range_lu is not None
    assert clip.analysed_at is not None
    assert clip.analysis["black"] == [[1.0, 2.0]]
    assert clip.analysis["sprite"]["count"] == 8
    assert clip.qc == [
        {
            "code": "black",
            "severity": "warning",
            "message": "shows a black picture at 1.00–2.00 s",
            "segments": [[1.0, 2.0]],
        }
    ]
    assert clip.qc_segments == [
        {"kind": "black", "label": "Black", "start": 1.0, "end": 2.0, "left": 25.0, "width": 25.0}
    ]


@pytest.mark.parametrize(
    ("attr", "error"),
    [
        ("truncated", "truncated: decodes"),
        ("still_mp4", "not a video: still image"),
        ("one_frame", "not a video: still image"),
    ],
)
def test_ingest_fails_unusable_files_and_stores_nothing(qc_media, attr: str, error: str) -> None:
    clip = _processing_clip(getattr(qc_media, attr), request=QC_ASKED)
    before = _stored_names()

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error.startswith(error)
    assert clip.derived_names() == []
    assert _stored_names() == before


@pytest.mark.parametrize("attr", ["empty", "text_as_mp4", "audio_only"])
def test_ingest_fails_what_is_not_a_video_and_stores_nothing(media_files, attr: str) -> None:
    clip = _processing_clip(getattr(media_files, attr))
    before = _stored_names()

    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error.startswith(("undecodable", "not a video", "empty file"))
    assert _stored_names() == before


def test_a_failure_after_files_were_stored_deletes_them(media_files, monkeypatch) -> None:
    # moov at the end: the run stores poster, sprite, track, waveform and the remuxed video
    # before hashing, which fails here.
    clip = _processing_clip(media_files.moov_at_end)
    before = _stored_names()

    def broken_hash(path):
        raise media.MediaError("undecodable: read error")

    monkeypatch.setattr(media, "sha256_file", broken_hash)
    services.clip_ingest(clip_id=clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error == "undecodable: read error"
    assert _stored_names() == before


def test_losing_the_race_to_mark_ready_deletes_this_runs_files(media_files, monkeypatch) -> None:
    clip = _processing_clip(media_files.faststart)
    before = _stored_names()

    def finished_elsewhere(**kwargs):
        raise InvalidTransition(clip, "ready", "ready")

    monkeypatch.setattr(services, "clip_mark_ready", finished_elsewhere)
    with pytest.raises(InvalidTransition):
        services.clip_ingest(clip_id=clip.pk)

    assert _stored_names() == before


# --- clip_reanalyse ---------------------------------------------------------------------------


def test_reanalyse_replaces_derived_files_after_storing_new_ones(
    qc_media, django_capture_on_commit_callbacks
) -> None:
    clip = _processing_clip(qc_media.clean, request=QC_ASKED)
    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    old = clip.derived_names()
    # The delivery spec changed since: a -30 LUFS window makes the clip too loud.
    staff = UserFactory(is_staff=True)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        with override_loudness(-30.0):
            services.clip_reanalyse(clip_id=clip.pk, actor=staff)
        # Until the swap commits, both the old and the new files are stored.
        clip.refresh_from_db()
        new = clip.derived_names()
        assert set(new).isdisjoint(old)
        assert all(default_storage.exists(name) for name in old + new)

    for callback in callbacks:
        callback()
    assert not any(default_storage.exists(name) for name in old)
    assert all(default_storage.exists(name) for name in new)
    assert _stored_names() == sorted([clip.file.name, *new])
    assert [f["code"] for f in clip.qc] == ["loudness"]
    assert clip.status == Clip.Status.READY
    event = AuditEvent.objects.filter(action="clip.reanalyse").get()
    assert event.actor == staff


def test_reanalyse_failure_keeps_the_old_analysis(qc_media, monkeypatch) -> None:
    clip = _processing_clip(qc_media.clean, request=QC_ASKED)
    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    stored = _stored_names()
    analysed = (clip.derived_names(), clip.analysis, clip.qc)
    real_analyse = media.probe_and_analyse

    def analyse_then_fail(**kwargs):
        real_analyse(**kwargs)
        raise media.MediaError("undecodable: disk gone")

    monkeypatch.setattr(media, "probe_and_analyse", analyse_then_fail)
    with pytest.raises(services.ReanalyseError, match="undecodable: disk gone"):
        services.clip_reanalyse(clip_id=clip.pk)

    clip.refresh_from_db()
    assert (clip.derived_names(), clip.analysis, clip.qc) == analysed
    assert _stored_names() == stored


@pytest.mark.parametrize("status", [Clip.Status.PROCESSING, Clip.Status.FAILED])
def test_reanalyse_refuses_a_clip_that_is_not_ready(status) -> None:
    clip = ClipFactory(status=status, sha256="")

    with pytest.raises(services.ReanalyseError, match=f"is {status}, not ready"):
        services.clip_reanalyse(clip_id=clip.pk)


class override_loudness:  # noqa: N801 - reads as a context manager
    def __init__(self, target: float) -> None:
        self.target = target

    def __enter__(self):
        from django.test import override_settings

        self.override = override_settings(GREENLIGHT_LOUDNESS_TARGET_LUFS=self.target)
        self.override.enable()

    def __exit__(self, *exc) -> None:
        self.override.disable()


# --- QC filters for lists ---------------------------------------------------------------------


def test_clips_filter_by_qc_finding(qc_media) -> None:
    from assets import selectors

    black = _processing_clip(qc_media.black, request=QC_ASKED)
    services.clip_ingest(clip_id=black.pk)
    loud = ClipFactory()
    loud.set_qc([{"code": "loudness", "severity": "warning", "message": "is too loud"}])
    loud.save()
    clean = ClipFactory(qc=[])
    clips = Clip.objects.filter(pk__in=[black.pk, loud.pk, clean.pk])

    assert list(selectors.clips_with_finding(clips, code="black")) == [
        Clip.objects.get(pk=black.pk)
    ]
    assert list(selectors.clips_with_finding(clips, code="loudness")) == [loud]
    assert list(selectors.clips_with_finding(clips, code="freeze")) == []
    assert selectors.qc_codes_in(clips) == ["black", "loudness"]
    assert Clip.objects.get(pk=black.pk).qc_flags == {"black": "warning"}
