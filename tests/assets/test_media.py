from __future__ import annotations

import hashlib
import json
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from assets import media
from assets.media import MediaError, MediaInfo

from .conftest import DURATION_S, MediaFiles


def _info(width: int, height: int) -> MediaInfo:
    return MediaInfo(
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=1.0,
        width=width,
        height=height,
        fps=25.0,
        video_codec="h264",
    )


# --- probe ---------------------------------------------------------------------------------


def test_probe_reads_a_landscape_clip_with_audio(media_files: MediaFiles) -> None:
    info = media.probe(media_files.faststart)

    assert "mp4" in info.format_name
    assert (info.width, info.height) == (640, 360)
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert info.video_codec == "h264"
    assert info.audio_codec == "aac"
    assert info.has_audio is True
    assert info.audio_channels == 1
    assert info.audio_sample_rate == 48000
    assert info.bit_rate > 0
    assert info.size_bytes == media_files.faststart.stat().st_size
    assert info.aspect_ratio == "16:9"
    assert info.raw["format"]["format_name"] == info.format_name


def test_probe_reads_a_vertical_clip_without_audio(media_files: MediaFiles) -> None:
    info = media.probe(media_files.vertical)

    assert (info.width, info.height) == (360, 640)
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.05)
    assert info.has_audio is False
    assert info.audio_codec == ""
    assert info.audio_channels == 0
    assert info.aspect_ratio == "9:16"


def test_probe_reads_a_clip_whose_moov_is_at_the_end(media_files: MediaFiles) -> None:
    info = media.probe(media_files.moov_at_end)

    assert (info.width, info.height, info.has_audio) == (640, 360, True)


def test_probe_reports_displayed_size_of_a_rotated_clip(
    media_files: MediaFiles, tmp_path: Path
) -> None:
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(media_files.faststart), "-c", "copy",
         "-metadata:s:v:0", "rotate=90", str(rotated)],
        check=True,
        timeout=30,
    )  # fmt: skip

    info = media.probe(rotated)

    assert (info.width, info.height, info.aspect_ratio) == (360, 640, "9:16")


def test_as_dict_is_json_without_raw_and_round_trips(media_files: MediaFiles) -> None:
    info = media.probe(media_files.faststart)

    data = json.loads(json.dumps(info.as_dict()))

    assert "raw" not in data
    assert data["width"] == 640
    assert MediaInfo(**data) == info


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty", "empty file"),
        ("random_bytes", "undecodable: "),
        ("text_as_mp4", "undecodable: "),
        ("png", "not a video: still image (png_pipe)"),
        ("audio_only", "not a video: no video stream"),
    ],
)
def test_probe_rejects_what_is_not_a_video(
    media_files: MediaFiles, name: str, message: str
) -> None:
    path: Path = getattr(media_files, name)

    with pytest.raises(MediaError) as excinfo:
        media.probe(path)

    assert str(excinfo.value).startswith(message)


def test_probe_error_carries_the_ffprobe_reason_without_the_full_path(
    media_files: MediaFiles,
) -> None:
    with pytest.raises(MediaError) as excinfo:
        media.probe(media_files.text_as_mp4)

    message = str(excinfo.value)
    assert "moov atom not found" in message
    assert "notes.mp4" in message
    assert str(media_files.text_as_mp4.parent) not in message


def test_probe_rejects_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="^missing file$"):
        media.probe(tmp_path / "absent.mp4")


def test_probe_times_out_instead_of_hanging(media_files: MediaFiles) -> None:
    with pytest.raises(MediaError, match=r"^undecodable: ffprobe timed out after 1e-06s$"):
        media.probe(media_files.faststart, timeout_s=0.000001)


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1920, 1080, "16:9"),
        (854, 480, "16:9"),  # 427:240 exactly, within 1% of 16:9
        (1080, 1920, "9:16"),
        (720, 720, "1:1"),
        (1024, 768, "4:3"),
        (768, 1024, "3:4"),
        (1080, 1350, "4:5"),
        (1080, 1352, "4:5"),
        (2560, 1080, "64:27"),
        (1000, 300, "10:3"),
        (0, 0, ""),
    ],
)
def test_aspect_ratio_reduces_and_snaps(width: int, height: int, ratio: str) -> None:
    assert _info(width, height).aspect_ratio == ratio


# --- extract_poster ------------------------------------------------------------------------


def test_poster_is_a_jpeg_at_source_width(media_files: MediaFiles, tmp_path: Path) -> None:
    target = tmp_path / "posters" / "poster.jpg"

    media.extract_poster(source=media_files.faststart, target=target)

    with Image.open(target) as image:
        assert image.format == "JPEG"
        assert image.size == (640, 360)
    assert [p.name for p in target.parent.iterdir()] == ["poster.jpg"]


def test_poster_is_scaled_down_to_max_width(media_files: MediaFiles, tmp_path: Path) -> None:
    target = tmp_path / "poster.jpg"

    media.extract_poster(source=media_files.vertical, target=target, max_width=180)

    with Image.open(target) as image:
        assert image.format == "JPEG"
        assert image.size == (180, 320)


@pytest.mark.parametrize("at_s", [None, 0.0, 60.0])
def test_poster_of_a_very_short_clip_or_past_the_end(
    media_files: MediaFiles, tmp_path: Path, at_s: float | None
) -> None:
    target = tmp_path / "poster.jpg"

    media.extract_poster(source=media_files.short, target=target, at_s=at_s)

    with Image.open(target) as image:
        assert image.size == (320, 180)


def test_poster_of_junk_raises_and_leaves_no_file(media_files: MediaFiles, tmp_path: Path) -> None:
    target = tmp_path / "poster.jpg"

    with pytest.raises(MediaError, match="^undecodable: "):
        media.extract_poster(source=media_files.random_bytes, target=target)

    assert list(tmp_path.iterdir()) == []


# --- moov_before_mdat ----------------------------------------------------------------------


def test_moov_before_mdat(media_files: MediaFiles) -> None:
    assert media.moov_before_mdat(media_files.faststart) is True
    assert media.moov_before_mdat(media_files.moov_at_end) is False


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty", "^empty file$"),
        ("random_bytes", "^not ISO BMFF: "),
        ("text_as_mp4", "^not ISO BMFF: "),
        ("png", "^not ISO BMFF: "),
    ],
)
def test_moov_before_mdat_rejects_junk(media_files: MediaFiles, name: str, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        media.moov_before_mdat(getattr(media_files, name))


def _box(box_type: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I", 8 + len(payload)) + box_type + payload


def test_moov_before_mdat_follows_64_bit_sizes(tmp_path: Path) -> None:
    path = tmp_path / "large.mp4"
    # A 64-bit mdat (size field 1, then the real size) with moov after it.
    mdat = struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", 16 + 4) + b"data"
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0") + mdat + _box(b"moov"))

    assert media.moov_before_mdat(path) is False


def test_moov_before_mdat_skips_large_boxes_without_reading_them(tmp_path: Path) -> None:
    path = tmp_path / "sparse.mp4"
    with path.open("wb") as fh:
        fh.write(_box(b"ftyp", b"isom\0\0\0\0"))
        # A 64-bit 'free' box of 3 GiB, written sparse: the parser must seek over it.
        big = 3 << 30
        fh.write(struct.pack(">I", 1) + b"free" + struct.pack(">Q", big))
        fh.seek(16 + big)
        fh.write(_box(b"moov"))
        fh.write(_box(b"mdat"))

    assert media.moov_before_mdat(path) is True


def test_moov_before_mdat_size_zero_box_runs_to_the_end(tmp_path: Path) -> None:
    path = tmp_path / "open.mp4"
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0") + struct.pack(">I", 0) + b"mdat" + b"x" * 64)

    assert media.moov_before_mdat(path) is False


def test_moov_before_mdat_without_either_box(tmp_path: Path) -> None:
    path = tmp_path / "bare.mp4"
    path.write_bytes(_box(b"ftyp", b"isom\0\0\0\0") + _box(b"free"))

    with pytest.raises(MediaError, match="^not ISO BMFF: no moov or mdat box$"):
        media.moov_before_mdat(path)


# --- sha256_file ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [7, 1 << 20])
def test_sha256_file_matches_hashlib(media_files: MediaFiles, chunk_size: int) -> None:
    path = media_files.faststart
    expected = hashlib.sha256(path.read_bytes()).hexdigest()

    assert media.sha256_file(path, chunk_size=chunk_size) == expected


def test_sha256_file_of_an_empty_file(media_files: MediaFiles) -> None:
    assert media.sha256_file(media_files.empty) == hashlib.sha256(b"").hexdigest()
