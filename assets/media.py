"""Media inspection and transformation over local file paths.

Pure functions: no models, no storage, no settings. Callers copy a file to local disk, call
these, and record the results. Every ffmpeg and ffprobe run has a timeout, because a hostile or
broken upload must not hang a worker, and every failure caused by the file itself surfaces as
`MediaError` with a short, user-presentable reason. A missing ffmpeg binary is a deployment
fault, not a media fault, so it is left to raise `FileNotFoundError`.

The single-pass analysis (sprite, waveform, loudness, black and silence detection) will grow
here beside `probe`, filling further fields of an analysis result alongside `MediaInfo`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
# ffprobe reads headers and a few packets, so seconds are plenty; a remux or a one-frame
# decode of a short generated clip is well under a minute even on a loaded worker.
PROBE_TIMEOUT_S = 30.0
FFMPEG_TIMEOUT_S = 120.0
STDERR_TAIL_CHARS = 600

# Demuxers that read a single picture: ffprobe reports them as one video stream, but a still
# image is not a clip.
_IMAGE_FORMATS = frozenset({"image2", "image2pipe"})

# Common delivery ratios; a size a few pixels off (854x480, 1080x1352) still names its ratio.
_SNAP_RATIOS: tuple[tuple[str, float], ...] = (
    ("16:9", 16 / 9),
    ("9:16", 9 / 16),
    ("1:1", 1.0),
    ("4:3", 4 / 3),
    ("3:4", 3 / 4),
    ("4:5", 4 / 5),
)
_SNAP_TOLERANCE = 0.01

# Top-level ISO BMFF / QuickTime boxes that may open a file; anything else at offset 0 means
# the bytes are not an MP4/MOV, whatever the extension says.
_LEADING_BOXES = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pdin"})


class MediaError(Exception):
    """The file is not usable media; the message says why in a few words."""


@dataclass(frozen=True)
class MediaInfo:
    """Structure of a media file as reported by ffprobe."""

    format_name: str
    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    audio_codec: str = ""
    has_audio: bool = False
    audio_channels: int = 0
    audio_sample_rate: int = 0
    bit_rate: int = 0
    size_bytes: int = 0
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def aspect_ratio(self) -> str:
        """Return the display ratio as "W:H", snapped to a common ratio when within 1%."""
        if self.width <= 0 or self.height <= 0:
            return ""
        ratio = self.width / self.height
        for name, target in _SNAP_RATIOS:
            if abs(ratio - target) / target <= _SNAP_TOLERANCE:
                return name
        divisor = math.gcd(self.width, self.height)
        return f"{self.width // divisor}:{self.height // divisor}"

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-serialisable data, without the raw ffprobe output."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "raw"}


def probe(path: Path, *, timeout_s: float = PROBE_TIMEOUT_S) -> MediaInfo:
    """Describe a video file's container and streams.

    Raises MediaError for a missing or empty file, one ffprobe cannot decode, one without a
    video stream, and a still image (which ffprobe reports as a one-frame video).
    """
    path = Path(path)
    size = _checked_size(path)
    # ffmpeg.probe (ffmpeg-python) has no timeout, so ffprobe is run directly with the same
    # arguments it would use.
    result = _run(
        [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        timeout_s=timeout_s,
        path=path,
    )
    try:
        raw = json.loads(result.stdout.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise MediaError("undecodable: ffprobe returned invalid JSON") from exc

    fmt = raw.get("format") or {}
    streams = raw.get("streams") or []
    # Cover art in an audio file is a video stream flagged attached_pic; it is not footage.
    videos = [
        s
        for s in streams
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    if not videos:
        raise MediaError("not a video: no video stream")
    video = videos[0]
    audio = audios[0] if audios else {}

    format_name = str(fmt.get("format_name") or "")
    duration = _to_float(fmt.get("duration")) or _to_float(video.get("duration"))
    if _is_still_image(format_name=format_name, duration=duration, video=video):
        raise MediaError(f"not a video: still image ({format_name or 'unknown format'})")

    width, height = int(video.get("width") or 0), int(video.get("height") or 0)
    if _rotation(video) % 180 == 90:
        # Phones store portrait footage as landscape plus a rotation; players show it rotated.
        width, height = height, width

    return MediaInfo(
        format_name=format_name,
        duration_s=duration,
        width=width,
        height=height,
        fps=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
        video_codec=str(video.get("codec_name") or ""),
        audio_codec=str(audio.get("codec_name") or ""),
        has_audio=bool(audios),
        audio_channels=int(audio.get("channels") or 0),
        audio_sample_rate=int(_to_float(audio.get("sample_rate"))),
        bit_rate=int(_to_float(fmt.get("bit_rate"))),
        size_bytes=size,
        raw=raw,
    )


def extract_poster(
    *,
    source: Path,
    target: Path,
    at_s: float | None = None,
    max_width: int = 1280,
    timeout_s: float = FFMPEG_TIMEOUT_S,
) -> None:
    """Write one JPEG frame of `source` to `target`, at most `max_width` wide.

    The frame is taken at `at_s` seconds, by default 10% into the clip; a time past the end
    falls back to the first frame. Smaller sources are not upscaled. `target` is replaced
    atomically. Raises MediaError when no frame can be decoded.
    """
    source, target = Path(source), Path(target)
    info = probe(source, timeout_s=timeout_s)
    if at_s is None:
        at_s = info.duration_s * 0.1
    # Seeking to or past the last frame yields nothing; stop one frame short of the end.
    frame_s = 1 / info.fps if info.fps > 0 else 0.04
    at_s = max(0.0, min(at_s, info.duration_s - frame_s))
    # -2 keeps the height even, which some JPEG consumers and later encoders expect.
    scale = f"scale=w='min({int(max_width)},iw)':h=-2"

    with _atomic_target(target) as tmp:
        for seek in dict.fromkeys((at_s, 0.0)):
            args = [
                FFMPEG, "-nostdin", "-v", "error", "-y",
                "-ss", f"{seek:.3f}", "-i", str(source),
                "-frames:v", "1", "-vf", scale, "-q:v", "3",
                "-f", "image2", "-update", "1", str(tmp),
            ]  # fmt: skip
            _run(args, timeout_s=timeout_s, path=source)
            # ffmpeg exits 0 with an empty output when the seek lands after the last
            # decodable frame (very short or oddly timestamped clips): retry from the start.
            if tmp.stat().st_size > 0:
                break
        else:
            raise MediaError("undecodable: no frame could be extracted for the poster")


def moov_before_mdat(path: Path) -> bool:
    """Tell whether the `moov` box precedes `mdat`, i.e. the file can play while downloading.

    Reads only the top-level box headers. Raises MediaError for an empty file or one whose
    bytes are not ISO BMFF (MP4/MOV).
    """
    path = Path(path)
    size = _checked_size(path)
    with path.open("rb") as fh:
        for offset, box_type in _top_level_boxes(fh, size=size):
            if offset == 0 and box_type not in _LEADING_BOXES:
                raise MediaError("not ISO BMFF: unexpected first box")
            if box_type == b"moov":
                return True
            if box_type == b"mdat":
                return False
    raise MediaError("not ISO BMFF: no moov or mdat box")


def remux_faststart(*, source: Path, target: Path, timeout_s: float = FFMPEG_TIMEOUT_S) -> None:
    """Copy every stream of `source` into `target` with the `moov` box moved to the front.

    No re-encode. `target` is replaced atomically; its extension (.mov or other) picks the
    muxer. Raises MediaError when ffmpeg fails.
    """
    source, target = Path(source), Path(target)
    _checked_size(source)
    muxer = "mov" if target.suffix.lower() == ".mov" else "mp4"
    with _atomic_target(target) as tmp:
        args = [
            FFMPEG, "-nostdin", "-v", "error", "-y",
            "-i", str(source), "-c", "copy", "-map", "0",
            "-movflags", "+faststart", "-f", muxer, str(tmp),
        ]  # fmt: skip
        _run(args, timeout_s=timeout_s, path=source)


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file's bytes, reading it in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --- helpers ------------------------------------------------------------------------------


def _checked_size(path: Path) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise MediaError("missing file") from exc
    if size == 0:
        raise MediaError("empty file")
    return size


def _run(args: list[str], *, timeout_s: float, path: Path) -> subprocess.CompletedProcess[bytes]:
    tool = Path(args[0]).name
    try:
        result = subprocess.run(
            args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"undecodable: {tool} timed out after {timeout_s:g}s") from exc
    if result.returncode != 0:
        raise MediaError(f"undecodable: {_stderr_tail(result.stderr, path=path)}")
    return result


def _stderr_tail(stderr: bytes, *, path: Path) -> str:
    text = stderr.decode("utf-8", errors="replace").strip()
    # The message may reach users and logs; the worker's scratch path is noise to both.
    text = text.replace(str(path), path.name)
    if len(text) > STDERR_TAIL_CHARS:
        text = "..." + text[-STDERR_TAIL_CHARS:]
    return text or "no error output"


@contextlib.contextmanager
def _atomic_target(target: Path) -> Iterator[Path]:
    # A temporary sibling, renamed over the target only on success, so readers never see a
    # half-written file and a failure leaves any previous target intact.
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _top_level_boxes(fh: Any, *, size: int) -> Iterator[tuple[int, bytes]]:
    offset = 0
    while offset < size:
        fh.seek(offset)
        header = fh.read(8)
        if len(header) < 8:
            raise MediaError("not ISO BMFF: truncated box header")
        box_size = int.from_bytes(header[:4], "big")
        box_type = header[4:8]
        if not all(32 <= b < 127 or b == 0xA9 for b in box_type):
            raise MediaError("not ISO BMFF: invalid box type")
        header_size = 8
        if box_size == 1:
            large = fh.read(8)
            if len(large) < 8:
                raise MediaError("not ISO BMFF: truncated box header")
            box_size = int.from_bytes(large, "big")
            header_size = 16
        elif box_size == 0:
            box_size = size - offset
        if box_size < header_size:
            raise MediaError("not ISO BMFF: invalid box size")
        yield offset, box_type
        offset += box_size


def _is_still_image(*, format_name: str, duration: float, video: dict[str, Any]) -> bool:
    if format_name in _IMAGE_FORMATS or format_name.endswith("_pipe"):
        return True
    if duration <= 0:
        return True
    return str(video.get("nb_frames") or "") == "1"


def _rotation(video: dict[str, Any]) -> int:
    for side_data in video.get("side_data_list") or []:
        if "rotation" in side_data:
            return int(_to_float(side_data["rotation"])) % 360
    return int(_to_float((video.get("tags") or {}).get("rotate"))) % 360


def _rate(value: Any) -> float:
    try:
        rate = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(rate)


def _to_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0
