"""Media inspection and transformation over local file paths.

Pure functions: no models, no storage, no settings. Callers copy a file to local disk, call
these, and record the results. Every ffmpeg and ffprobe run has a timeout, because a hostile or
broken upload must not hang a worker, and every failure caused by the file itself surfaces as
`MediaError` with a short, user-presentable reason. A missing ffmpeg binary is a deployment
fault, not a media fault, so it is left to raise `FileNotFoundError`.

`analyse` is the one full decode ingest pays for: a split filter graph, built with
ffmpeg-python and run through the same timeout-guarded runner, writes the thumbnail sprite, the
waveform and the poster candidates and logs EBU R128 loudness, true peak and black, silent and
frozen segments, all from one read of the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import ffmpeg
from PIL import Image, ImageFilter, ImageStat

FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
# ffprobe reads headers and a few packets, so seconds are plenty; a remux or a one-frame
# decode of a short generated clip is well under a minute even on a loaded worker.
PROBE_TIMEOUT_S = 30.0
FFMPEG_TIMEOUT_S = 120.0
# The analysis decodes every frame; a 15 s 1080p clip takes seconds, a broken one must not take
# the worker with it.
ANALYSE_TIMEOUT_S = 300.0
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
    """Structure of a media file as ffprobe reports it; `raw` is ffprobe's JSON, empty when
    the analysis log and the moov box said the same without it (`probe_and_analyse`)."""

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
    # The video stream's own length where the container says (0: unknown); a sound track
    # may run longer, and a decode is judged against the picture.
    video_duration_s: float = 0.0
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
    result = _run(_probe_args(path), timeout_s=timeout_s, path=path)
    return _probe_result(result.stdout, size=size)


def _probe_args(path: Path) -> list[str]:
    # ffmpeg.probe (ffmpeg-python) has no timeout, so ffprobe is run directly with the same
    # arguments it would use.
    return [FFPROBE, "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)]


def _probe_result(stdout: bytes, *, size: int) -> MediaInfo:
    try:
        raw = json.loads(stdout.decode("utf-8", errors="replace"))
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
        video_duration_s=_to_float(video.get("duration")),
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
        for offset, box_type, _box_size in _top_level_boxes(fh, size=size):
            if offset == 0 and box_type not in _LEADING_BOXES:
                raise MediaError("not ISO BMFF: unexpected first box")
            if box_type == b"moov":
                return True
            if box_type == b"mdat":
                return False
    raise MediaError("not ISO BMFF: no moov or mdat box")


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 of a file's bytes, reading it in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --- single-pass analysis -------------------------------------------------------------------

# Detector thresholds. A black frame has at most 10% luma and 98% of its pixels that dark
# (blackdetect's defaults); a freeze is a picture that changes by less than -60 dB; silence is
# below -50 dBFS. Each must last half a second to count, which a cut or a breath does not.
MIN_SEGMENT_S = 0.5
BLACK_PIXEL_THRESHOLD = 0.10
FREEZE_NOISE = "-60dB"
SILENCE_NOISE = "-50dB"
# Sprite: small tiles, one every SPRITE_INTERVAL_S (longer clips stretch the interval so the
# sheet never holds more than SPRITE_MAX_TILES), SPRITE_COLUMNS to a row.
SPRITE_TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_INTERVAL_S = 0.5
SPRITE_MAX_TILES = 100
WAVEFORM_SIZE = (1200, 96)
WAVEFORM_COLOUR = "0x3f8f6b"
POSTER_CANDIDATES = 6
# Detectors run on a reduced copy: black and freeze do not need every pixel of 1080p.
DETECT_WIDTH = 320
# Clips of at most this many pixel-seconds (5 s of 720p, about 2 s of 1080p) are decoded on
# one thread: the frame-threaded decoder's start-up and hand-overs cost more CPU than the
# wall time they save (3 s 720p analysis: 247 → 202 ms of CPU, 189 → 204 ms of wall), and an
# ingest beside renders or other ingests is short of CPU, not of wall time.
ONE_THREAD_PIXEL_SECONDS = 1280 * 720 * 5
# A decode that stops this far short of the probed duration is a truncated file.
TRUNCATION_SLACK_S = 0.5
# A candidate frame darker than this mean luma (0-255) counts as black for the poster.
POSTER_MIN_LUMA = 24.0
# Candidates are scored (luma, sharpness) on a copy at most this many pixels on a side.
POSTER_SCORE_SIZE = 320
# The poster is at most this wide. Pillow at quality 90 keeps about as much of the frame as
# ffmpeg's mjpeg at -q:v 3 did (mean error per channel within 0.1-0.2 of it on the bench clips),
# in a file 1.3-2× as big (40-70 KB for 1280x720).
POSTER_MAX_WIDTH = 1280
POSTER_JPEG_QUALITY = 90
# Limited-range ("tv") luma and chroma to the full range JPEG and Pillow's greyscale expect.
_FULL_RANGE_Y = [min(255, max(0, round((v - 16) * 255 / 219))) for v in range(256)]
_FULL_RANGE_C = [min(255, max(0, round((v - 128) * 255 / 224 + 128))) for v in range(256)]

_SEGMENT_LINE = re.compile(
    r"\[(?P<filter>blackdetect|freezedetect|silencedetect) @ [^\]]+\] (?P<rest>.*)$"
)
_KEY_VALUE = re.compile(r"(?:lavfi\.\w+\.)?(?P<key>[a-z_]+):\s*(?P<value>-?[\d.]+|-?inf|nan)")
_FRAME_COUNT = re.compile(r"frame=\s*(\d+)")


@dataclass(frozen=True)
class SpriteGeometry:
    """How the sprite sheet is laid out: tiles of `tile_width`×`tile_height`, row by row."""

    columns: int
    rows: int
    count: int
    tile_width: int
    tile_height: int
    interval_s: float

    def tile_at(self, index: int) -> tuple[int, int]:
        """Return the (x, y) pixel offset of tile `index` in the sheet."""
        return (index % self.columns) * self.tile_width, (index // self.columns) * self.tile_height


@dataclass(frozen=True)
class Analysis:
    """What the single decode learned, and where it wrote its images (in `work_dir`)."""

    decoded_s: float
    frames: int
    black: list[tuple[float, float]]
    silence: list[tuple[float, float]]
    freeze: list[tuple[float, float]]
    loudness_lufs: float | None
    loudness_range_lu: float | None
    true_peak_dbtp: float | None
    sprite: Path | None
    sprite_geometry: SpriteGeometry | None
    waveform: Path | None
    poster: Path | None
    poster_at_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return the measurements as JSON-serialisable data (no local paths)."""
        return {
            "decoded_s": round(self.decoded_s, 3),
            "frames": self.frames,
            "black": [list(seg) for seg in self.black],
            "silence": [list(seg) for seg in self.silence],
            "freeze": [list(seg) for seg in self.freeze],
            "loudness_lufs": self.loudness_lufs,
            "loudness_range_lu": self.loudness_range_lu,
            "true_peak_dbtp": self.true_peak_dbtp,
            "sprite": dataclasses.asdict(self.sprite_geometry) if self.sprite_geometry else None,
            "poster_at_s": self.poster_at_s,
        }


def analyse(
    *,
    source: Path,
    info: MediaInfo,
    work_dir: Path,
    timeout_s: float = ANALYSE_TIMEOUT_S,
    faststart_target: Path | None = None,
) -> Analysis:
    """Decode `source` once and measure and picture it for review.

    One ffmpeg run with a split filter graph writes into `work_dir` the sprite sheet
    (`sprite.jpg`), the waveform (`waveform.png`, only with audio) and the poster candidates,
    and logs EBU R128 integrated loudness, loudness range and true peak, and black, silent
    and frozen segments. The poster is the sharpest candidate that is not black, never the
    first frame. With `faststart_target`, the same run also writes there a copy of every
    stream with the moov box first (for streaming). Raises MediaError when ffmpeg
    fails or the decode stops short of the probed duration (a truncated file); the target is
    then removed.
    """
    source, work_dir = Path(source), Path(work_dir)
    with _removed_on_failure(faststart_target):
        args = _analysis_args(
            source=source, info=info, work_dir=work_dir, faststart_target=faststart_target
        )
        result = _run(args, timeout_s=timeout_s, path=source)
        return _analysis_result(result.stderr, info=info, work_dir=work_dir)


def probe_and_analyse(
    *,
    source: Path,
    work_dir: Path,
    timeout_s: float = ANALYSE_TIMEOUT_S,
    faststart_target: Path | None = None,
) -> tuple[MediaInfo, Analysis]:
    """Probe `source` and analyse it: the same result and errors as `probe` then `analyse`
    (`faststart_target` as there).

    For an MP4/MOV whose moov box can be read, the analysis command is built from what that
    box says (duration, frame size, tracks) and ffprobe does not run at all: the decode's
    own log describes the input (format, codecs, frame rate, sound), the moov box gives the
    exact durations, and the decode has read every packet ffprobe would only have sampled.
    That saves a process start, mostly the loading of ffmpeg's libraries, on every ingest.
    ffprobe still runs when the log leaves something out, when the decode fails (its
    verdict comes first, as it would before the decode) and for every other kind of file.
    Had the description built another command, the analysis runs again with it.
    """
    source, work_dir = Path(source), Path(work_dir)
    again = partial(
        analyse,
        source=source,
        work_dir=work_dir,
        timeout_s=timeout_s,
        faststart_target=faststart_target,
    )
    guess = _header_guess(source)
    if guess is None:
        info = probe(source)
        return info, again(info=info)
    size = _checked_size(source)
    with _removed_on_failure(faststart_target):
        args = _analysis_args(
            source=source, info=guess, work_dir=work_dir, faststart_target=faststart_target
        )
        try:
            result = _run(args, timeout_s=timeout_s, path=source)
        except MediaError:
            probe(source)
            raise
        info = _logged_info(result.stderr, guess=guess, size=size) or probe(source)
        if (
            _analysis_args(
                source=source, info=info, work_dir=work_dir, faststart_target=faststart_target
            )
            == args
        ):
            return info, _analysis_result(result.stderr, info=info, work_dir=work_dir)
    for pattern in ("candidates.y4m", "sprite.jpg", "waveform.png", "poster.jpg"):
        for stale in work_dir.glob(pattern):
            stale.unlink()
    return info, again(info=info)


# How ffmpeg names the channel layouts it prints (libavutil's table) and how many channels
# each has; a layout not here sends the file to ffprobe.
_LAYOUT_CHANNELS = {
    "mono": 1, "stereo": 2, "2.1": 3, "3.0": 3, "3.0(back)": 3, "4.0": 4, "quad": 4,
    "quad(side)": 4, "3.1": 4, "5.0": 5, "5.0(side)": 5, "4.1": 5, "5.1": 6, "5.1(side)": 6,
    "6.0": 6, "6.0(front)": 6, "hexagonal": 6, "6.1": 7, "6.1(back)": 7, "6.1(front)": 7,
    "7.0": 7, "7.0(front)": 7, "7.1": 8, "7.1(wide)": 8, "7.1(wide-side)": 8,
    "7.1(top)": 8, "octagonal": 8, "cube": 8, "hexadecagonal": 16, "downmix": 2, "22.2": 24,
}  # fmt: skip
_LOG_INPUT = re.compile(r"^Input #0, (?P<format>[^ ]+), from ")
_LOG_DURATION = re.compile(r"^  Duration: (?P<h>\d+):(?P<m>\d\d):(?P<s>\d\d(?:\.\d+)?),")
# Two spaces deep is a stream of the input; metadata values sit four or more deep.
_LOG_STREAM = re.compile(r"^  Stream #0:\d+\S*: (?P<type>\w+): (?P<codec>[^\s,]+)(?P<rest>.*)$")
_LOG_SIZE = re.compile(r", (?P<w>\d{1,5})x(?P<h>\d{1,5})(?=[ ,]|$)")
_LOG_FPS = re.compile(r", (?P<rate>\d+(?:\.\d+)?)(?P<k>k?) fps")
_LOG_AUDIO = re.compile(r", (?P<rate>\d+) Hz, (?P<layout>[^,]+),")
_LOG_CHANNELS = re.compile(r"(?P<count>\d+) channels.*")
_LOG_ROTATION = re.compile(r"^\s+displaymatrix: rotation of (?P<deg>-?[\d.]+) degrees")


def _logged_info(stderr: bytes, *, guess: MediaInfo, size: int) -> MediaInfo | None:
    """What ffprobe would say of an MP4/MOV, from ffmpeg's description of its input in an
    analysis log and from the moov box read for `guess`; None when the log leaves out
    anything ffprobe would have given, or the decode saw a single picture (ffprobe then
    calls it a still image)."""
    log = stderr.decode("utf-8", errors="replace")
    if _last_int(_FRAME_COUNT, log) <= 1:
        return None
    lines = iter(log.splitlines())
    header = next((found for line in lines if (found := _LOG_INPUT.match(line))), None)
    if header is None:
        return None
    printed_duration = None
    streams: list[dict[str, Any]] = []
    for line in lines:
        if not line.startswith(" "):
            break  # the input's description ends where the stream mapping starts
        if found := _LOG_DURATION.match(line):
            printed_duration = int(found["h"]) * 3600 + int(found["m"]) * 60 + float(found["s"])
        elif found := _LOG_STREAM.match(line):
            streams.append(found.groupdict())
        elif (found := _LOG_ROTATION.match(line)) and streams:
            streams[-1]["rotation"] = float(found["deg"])
    # ffmpeg prints the duration to the hundredth; the moov box has it exactly.
    if printed_duration is None or abs(printed_duration - guess.duration_s) > 0.006:
        return None
    videos = [s for s in streams if s["type"] == "Video" and "(attached pic)" not in s["rest"]]
    audios = [s for s in streams if s["type"] == "Audio"]
    if not videos:
        return None
    video = videos[0]
    frame = _LOG_SIZE.search(video["rest"])
    rate = _LOG_FPS.search(video["rest"])
    if frame is None or rate is None:
        return None
    width, height = int(frame["w"]), int(frame["h"])
    if int(video.get("rotation", 0)) % 180 == 90:
        width, height = height, width
    channels = sample_rate = 0
    if audios:
        sound = _LOG_AUDIO.search(audios[0]["rest"])
        if sound is None:
            return None
        layout = sound["layout"].strip()
        counted = _LOG_CHANNELS.fullmatch(layout)
        channels = int(counted["count"]) if counted else _LAYOUT_CHANNELS.get(layout, 0)
        if not channels:
            return None
        sample_rate = int(sound["rate"])
    duration = round(guess.duration_s, 6)
    return MediaInfo(
        format_name=header["format"],
        duration_s=duration,
        width=width,
        height=height,
        fps=_logged_rate(float(rate["rate"]) * (1000 if rate["k"] else 1)),
        video_codec=video["codec"],
        audio_codec=audios[0]["codec"] if audios else "",
        has_audio=bool(audios),
        audio_channels=channels,
        audio_sample_rate=sample_rate,
        # As libavformat fills it in for MP4, which stores none: the size over the duration.
        bit_rate=int(size * 8 / duration),
        size_bytes=size,
        video_duration_s=guess.video_duration_s,
    )


@contextlib.contextmanager
def _removed_on_failure(target: Path | None) -> Iterator[None]:
    # The analysis writes its remux straight to the target (a name ffmpeg is given up front,
    # so a rerun builds the same command); a failed run must not leave half a file there.
    try:
        yield
    except BaseException:
        if target is not None:
            Path(target).unlink(missing_ok=True)
        raise


def _analysis_args(
    *, source: Path, info: MediaInfo, work_dir: Path, faststart_target: Path | None = None
) -> list[str]:
    """Return the one ffmpeg command of the analysis; it depends on `info` only through the
    duration, the frame size and whether there is audio."""
    work_dir.mkdir(parents=True, exist_ok=True)
    duration = max(info.duration_s, 0.001)
    geometry = _sprite_geometry(info)
    sprite_path = work_dir / "sprite.jpg"
    waveform_path = work_dir / "waveform.png"
    candidates_path = work_dir / "candidates.y4m"

    stream = ffmpeg.input(str(source))
    video = stream.video.split()
    # Output 0 is the detector branch at the source's frame rate with passthrough timing, so
    # the final "frame=" of the report counts every decoded frame.
    detect = (
        video[0]
        .filter("scale", DETECT_WIDTH, -2, flags="fast_bilinear")
        .filter("blackdetect", d=MIN_SEGMENT_S, pix_th=BLACK_PIXEL_THRESHOLD)
        .filter("freezedetect", n=FREEZE_NOISE, d=MIN_SEGMENT_S)
    )
    outputs = [ffmpeg.output(detect, "-", f="null")]
    sprite = (
        video[1]
        .filter("fps", fps=f"1/{geometry.interval_s}", start_time=geometry.interval_s / 2)
        .filter("scale", geometry.tile_width, geometry.tile_height)
        .filter("setsar", 1)
        .filter("tile", f"{geometry.columns}x{geometry.rows}")
    )
    outputs.append(
        ffmpeg.output(sprite, str(sprite_path), **{"frames:v": 1, "q:v": 4, "update": 1})
    )
    # Candidates sit in the middle of equal slices of the clip, so none is the first frame.
    # They leave ffmpeg as raw limited-range 4:2:0 frames in one self-describing YUV4MPEG
    # file: only the one kept is encoded to JPEG (by Pillow), where ffmpeg used to encode all
    # six, the biggest cost of the analysis after the decode itself.
    step = duration / POSTER_CANDIDATES
    candidates = (
        video[2]
        .filter("fps", fps=f"{POSTER_CANDIDATES}/{duration:.6f}", start_time=step / 2)
        .filter("scale", w=f"min({POSTER_MAX_WIDTH},iw)", h=-2, out_range="tv")
        .filter("format", "yuv420p")
    )
    outputs.append(
        ffmpeg.output(candidates, str(candidates_path), f="yuv4mpegpipe", fps_mode="passthrough")
    )
    if info.has_audio:
        audio = stream.audio.asplit()
        loudness = (
            audio[0]
            .filter("ebur128", peak="true", framelog="verbose")
            .filter("silencedetect", n=SILENCE_NOISE, d=MIN_SEGMENT_S)
        )
        outputs.append(ffmpeg.output(loudness, "-", f="null"))
        wave = audio[1].filter(
            "showwavespic",
            s=f"{WAVEFORM_SIZE[0]}x{WAVEFORM_SIZE[1]}",
            colors=WAVEFORM_COLOUR,
            split_channels=0,
        )
        outputs.append(ffmpeg.output(wave, str(waveform_path), **{"frames:v": 1, "update": 1}))
    if faststart_target is not None:
        # The faststart remux rides along (last, so the final frame count is still the
        # detectors'): one process start fewer than a separate stream copy, ≈50-80 ms of CPU.
        outputs.append(_faststart_output(stream, Path(faststart_target)))
    args = ffmpeg.merge_outputs(*outputs).compile(cmd=FFMPEG)
    args[1:1] = ["-nostdin", "-hide_banner", "-nostats", "-y", "-v", "info"]
    # The graph's filters run in one thread: by default ffmpeg gives the graph a thread per
    # CPU for slice work, which on a clip's small per-frame filters costs more in handing over
    # than it saves, and takes the CPUs the frame-threaded decoder is using (10 s 1080p:
    # 768 → 699 ms wall and 1,163 → 1,124 ms CPU; the bare decode alone is 610 ms).
    args[1:1] = ["-filter_complex_threads", "1"]
    if info.width * info.height * duration <= ONE_THREAD_PIXEL_SECONDS:
        args[1:1] = ["-threads", "1"]
    return args


def _faststart_output(stream: Any, target: Path) -> Any:
    muxer = "mov" if target.suffix.lower() == ".mov" else "mp4"
    return ffmpeg.output(stream, str(target), map="0", c="copy", movflags="+faststart", f=muxer)


def _analysis_result(stderr: bytes, *, info: MediaInfo, work_dir: Path) -> Analysis:
    log = stderr.decode("utf-8", errors="replace")
    duration = max(info.duration_s, 0.001)
    geometry = _sprite_geometry(info)
    sprite_path = work_dir / "sprite.jpg"
    waveform_path = work_dir / "waveform.png"
    step = duration / POSTER_CANDIDATES

    frames = _last_int(_FRAME_COUNT, log)
    fps = info.fps if info.fps > 0 else 25.0
    decoded_s = frames / fps
    expected = _video_duration(info)
    if expected - decoded_s > max(TRUNCATION_SLACK_S, 3 / fps):
        raise MediaError(f"truncated: decodes {decoded_s:.2f}s of {expected:.2f}s")
    segments = _segments(log, end_s=decoded_s)
    black = segments["blackdetect"]
    # A black stretch is also a still picture; report it once, as black.
    freeze = [seg for seg in segments["freezedetect"] if not _mostly_inside(seg, black)]
    loudness = _loudness_summary(log) if info.has_audio else {}
    poster, poster_at = _pick_poster(
        work_dir / "candidates.y4m", step=step, target=work_dir / "poster.jpg"
    )
    return Analysis(
        decoded_s=decoded_s,
        frames=frames,
        black=black,
        silence=segments["silencedetect"] if info.has_audio else [],
        freeze=freeze,
        loudness_lufs=loudness.get("I"),
        loudness_range_lu=loudness.get("LRA"),
        true_peak_dbtp=loudness.get("Peak"),
        sprite=sprite_path if _nonempty(sprite_path) else None,
        sprite_geometry=geometry if _nonempty(sprite_path) else None,
        waveform=waveform_path if _nonempty(waveform_path) else None,
        poster=poster,
        poster_at_s=poster_at,
    )


def thumbnails_vtt(geometry: SpriteGeometry, *, sprite_url: str, duration_s: float) -> str:
    """Return a WebVTT thumbnails track: one cue per tile, `sprite_url#xywh=x,y,w,h`."""
    lines = ["WEBVTT", ""]
    for index in range(geometry.count):
        start = index * geometry.interval_s
        if start >= duration_s:
            break
        end = min((index + 1) * geometry.interval_s, duration_s)
        x, y = geometry.tile_at(index)
        lines += [
            f"{_vtt_time(start)} --> {_vtt_time(end)}",
            f"{sprite_url}#xywh={x},{y},{geometry.tile_width},{geometry.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _sprite_geometry(info: MediaInfo) -> SpriteGeometry:
    duration = max(info.duration_s, 0.001)
    interval = max(SPRITE_INTERVAL_S, duration / SPRITE_MAX_TILES)
    count = max(1, math.ceil(duration / interval))
    columns = min(SPRITE_COLUMNS, count)
    rows = math.ceil(count / columns)
    width, height = (info.width, info.height) if info.width and info.height else (16, 9)
    tile_height = max(2, round(SPRITE_TILE_WIDTH * height / width / 2) * 2)
    return SpriteGeometry(
        columns=columns,
        rows=rows,
        count=count,
        tile_width=SPRITE_TILE_WIDTH,
        tile_height=tile_height,
        interval_s=round(interval, 3),
    )


def _video_duration(info: MediaInfo) -> float:
    return info.video_duration_s or info.duration_s


def _last_int(pattern: re.Pattern[str], text: str) -> int:
    found = pattern.findall(text)
    return int(found[-1]) if found else 0


def _segments(log: str, *, end_s: float) -> dict[str, list[tuple[float, float]]]:
    """Collect (start, end) pairs from the detectors' log lines; an open one runs to the end."""
    found: dict[str, list[tuple[float, float]]] = {
        "blackdetect": [],
        "freezedetect": [],
        "silencedetect": [],
    }
    open_at: dict[str, float | None] = dict.fromkeys(found)
    for line in log.splitlines():
        match = _SEGMENT_LINE.search(line)
        if not match:
            continue
        name = match["filter"]
        for pair in _KEY_VALUE.finditer(match["rest"]):
            key, value = pair["key"], _to_float(pair["value"])
            kind = key.rsplit("_", 1)[-1]
            if kind == "start":
                open_at[name] = value
            elif kind == "end" and open_at[name] is not None:
                found[name].append((round(open_at[name], 3), round(value, 3)))
                open_at[name] = None
    for name, start in open_at.items():
        if start is not None and end_s - start >= MIN_SEGMENT_S:
            found[name].append((round(start, 3), round(end_s, 3)))
    return found


def _mostly_inside(segment: tuple[float, float], others: list[tuple[float, float]]) -> bool:
    start, end = segment
    length = max(end - start, 1e-6)
    covered = sum(max(0.0, min(end, e) - max(start, s)) for s, e in others)
    return covered / length >= 0.8


def _loudness_summary(log: str) -> dict[str, float | None]:
    """Read I, LRA and true Peak from ebur128's last summary; silence gives None for Peak."""
    summary = log.rsplit("Summary:", 1)[-1] if "Summary:" in log else ""
    values: dict[str, float | None] = {}
    for key in ("I", "LRA", "Peak"):
        match = re.search(rf"^\s*{key}:\s*(-?[\d.]+|-inf|nan)", summary, re.MULTILINE)
        if match is None:
            continue
        number = _to_float(match[1]) if match[1] not in ("-inf", "nan") else None
        values[key] = round(number, 2) if number is not None else None
    return values


def _pick_poster(
    candidates: Path, *, step: float, target: Path
) -> tuple[Path | None, float | None]:
    """Write the sharpest candidate that is not black (else the brightest) to `target` as JPEG.

    `candidates` is the analysis' YUV4MPEG file. Only each frame's luma is read for the
    scores, into one buffer, and only the frame kept is read whole and encoded. Returns
    (None, None) when the file holds no whole frame.
    """
    try:
        fh = candidates.open("rb")
    except OSError:
        return None, None
    with fh:
        layout = _y4m_layout(fh)
        if layout is None:
            return None, None
        best: tuple[bool, float, int] | None = None
        kept_at = 0
        for index, (offset, luma) in enumerate(_y4m_lumas(fh, layout)):
            # A reduced copy (box averages, then a resize only for what is left over):
            # sharpness and brightness need no more, and the scores stay those of a
            # 320-pixel picture whatever the clip's size.
            grey = luma.reduce(max(1, max(luma.size) // POSTER_SCORE_SIZE))
            grey.thumbnail((POSTER_SCORE_SIZE, POSTER_SCORE_SIZE))
            if layout.limited_range:
                grey = grey.point(_FULL_RANGE_Y)
            brightness = ImageStat.Stat(grey).mean[0]
            # Variance of an edge image: blurred or flat frames have few strong edges.
            sharpness = ImageStat.Stat(grey.filter(ImageFilter.FIND_EDGES)).var[0]
            lit = brightness >= POSTER_MIN_LUMA
            score = (lit, sharpness if lit else brightness, -index)
            if best is None or score > best:
                best, kept_at = score, offset
        if best is None:
            return None, None
        fh.seek(kept_at)
        _save_jpeg(fh.read(layout.frame_bytes), layout=layout, target=target)
    return target, round(step / 2 + -best[2] * step, 3)


@dataclass(frozen=True)
class _Y4mLayout:
    """Frame size and range of a 4:2:0 8-bit YUV4MPEG file: planes Y, Cb, Cr back to back."""

    width: int
    height: int
    limited_range: bool

    @property
    def chroma_size(self) -> tuple[int, int]:
        return (self.width + 1) // 2, (self.height + 1) // 2

    @property
    def luma_bytes(self) -> int:
        return self.width * self.height

    @property
    def frame_bytes(self) -> int:
        return self.luma_bytes + 2 * self.chroma_size[0] * self.chroma_size[1]


def _y4m_layout(fh: Any) -> _Y4mLayout | None:
    """Read a YUV4MPEG header; None unless it describes 4:2:0 frames of a known size."""
    header = fh.readline(1024)
    if not header.startswith(b"YUV4MPEG2 ") or not header.endswith(b"\n"):
        return None
    tokens = header[10:].split()
    fields = {token[:1]: token[1:] for token in tokens}
    if not fields.get(b"C", b"420").startswith(b"420"):
        return None
    try:
        width, height = int(fields[b"W"]), int(fields[b"H"])
    except (KeyError, ValueError):
        return None
    if width <= 0 or height <= 0:
        return None
    return _Y4mLayout(width, height, limited_range=b"XCOLORRANGE=FULL" not in tokens)


def _y4m_lumas(fh: Any, layout: _Y4mLayout) -> Iterator[tuple[int, Image.Image]]:
    """Yield (offset of the frame's planes, its luma) for each whole frame; a cut-short last
    frame is dropped. One buffer serves every frame: a luma is valid until the next."""
    buffer = bytearray(layout.luma_bytes)
    size = os.fstat(fh.fileno()).st_size
    luma = Image.frombuffer("L", (layout.width, layout.height), buffer, "raw", "L", 0, 1)
    while fh.readline(1024).startswith(b"FRAME"):
        offset = fh.tell()
        if offset + layout.frame_bytes > size or fh.readinto(buffer) != len(buffer):
            return
        yield offset, luma
        fh.seek(offset + layout.frame_bytes)


def _save_jpeg(frame: bytes, *, layout: _Y4mLayout, target: Path) -> None:
    """Encode one frame as a 4:2:0 JPEG: full-range YCbCr, chroma repeated then subsampled."""
    size = (layout.width, layout.height)
    chroma_bytes = layout.chroma_size[0] * layout.chroma_size[1]
    cb_at, cr_at = layout.luma_bytes, layout.luma_bytes + chroma_bytes
    luma = Image.frombytes("L", size, frame[:cb_at])
    chroma = [
        Image.frombytes("L", layout.chroma_size, frame[at : at + chroma_bytes])
        for at in (cb_at, cr_at)
    ]
    if layout.limited_range:
        luma = luma.point(_FULL_RANGE_Y)
        chroma = [plane.point(_FULL_RANGE_C) for plane in chroma]
    # Nearest-neighbour doubling, which the encoder's 2×2 averaging undoes exactly.
    chroma = [plane.resize(size, Image.Resampling.NEAREST) for plane in chroma]
    Image.merge("YCbCr", [luma, *chroma]).save(
        target, "JPEG", quality=POSTER_JPEG_QUALITY, subsampling="4:2:0"
    )


def _nonempty(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


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
    """Run a tool; a timeout kills it. Raises MediaError unless it exits 0."""
    tool = Path(args[0]).name
    process = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        process.communicate()
        raise MediaError(f"undecodable: {tool} timed out after {timeout_s:g}s") from exc
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise MediaError(f"undecodable: {_stderr_tail(stderr, path=path)}")
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


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


def _top_level_boxes(fh: Any, *, size: int) -> Iterator[tuple[int, bytes, int]]:
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
        yield offset, box_type, box_size
        offset += box_size


# A moov box past this size is not worth reading twice (ffprobe reads it anyway).
_MAX_MOOV_BYTES = 8 << 20
_ISO_FORMAT_NAME = "mov,mp4,m4a,3gp,3g2,mj2"


def _header_guess(path: Path) -> MediaInfo | None:
    """Guess from an MP4/MOV's moov box what the analysis command needs, without ffprobe.

    Only the duration, the displayed frame size and whether there is a sound track are
    filled in. None unless the file is ISO BMFF with a moov box (before or after its mdat: the
    top-level headers lead past the media data) that names a duration and a video track:
    other files are probed first. A file cut short before its moov has none to read.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            for offset, box_type, box_size in _top_level_boxes(fh, size=size):
                if offset == 0 and box_type not in _LEADING_BOXES:
                    return None
                if box_type == b"moov":
                    if box_size > _MAX_MOOV_BYTES:
                        return None
                    fh.seek(offset)
                    return _moov_guess(fh.read(box_size))
    except (OSError, MediaError):
        return None
    return None


def _child_boxes(data: bytes, start: int = 8) -> Iterator[tuple[bytes, bytes]]:
    """Yield (type, payload) of the boxes inside a box held in `data` from `start` on."""
    offset = start
    while offset + 8 <= len(data):
        box_size = int.from_bytes(data[offset : offset + 4], "big")
        box_type = data[offset + 4 : offset + 8]
        header = 8
        if box_size == 1:
            box_size = int.from_bytes(data[offset + 8 : offset + 16], "big")
            header = 16
        elif box_size == 0:
            box_size = len(data) - offset
        if box_size < header or offset + box_size > len(data):
            return
        yield box_type, data[offset + header : offset + box_size]
        offset += box_size


def _moov_guess(moov: bytes) -> MediaInfo | None:
    duration = video_duration = 0.0
    width = height = 0
    has_video = has_audio = False
    for box_type, payload in _child_boxes(moov):
        if box_type == b"mvhd" and len(payload) >= 32:
            if payload[0] == 1:
                timescale = int.from_bytes(payload[20:24], "big")
                ticks = int.from_bytes(payload[24:32], "big")
            else:
                timescale = int.from_bytes(payload[12:16], "big")
                ticks = int.from_bytes(payload[16:20], "big")
            duration = ticks / timescale if timescale else 0.0
        elif box_type == b"trak":
            handler, size, length = _trak_guess(payload)
            if handler == b"vide" and not has_video:
                has_video, (width, height), video_duration = True, size, length
            has_audio = has_audio or handler == b"soun"
    if not has_video or duration <= 0 or width <= 0 or height <= 0:
        return None
    return MediaInfo(
        format_name=_ISO_FORMAT_NAME,
        duration_s=duration,
        width=width,
        height=height,
        fps=0.0,
        video_codec="",
        has_audio=has_audio,
        video_duration_s=round(video_duration, 6),
    )


def _trak_guess(trak: bytes) -> tuple[bytes, tuple[int, int], float]:
    """Return a track's handler type, its displayed (width, height), rotation applied, and
    its media's length in seconds (0 if unreadable)."""
    handler = b""
    size = (0, 0)
    length = 0.0
    for box_type, payload in _child_boxes(trak, start=0):
        if box_type == b"tkhd" and len(payload) >= 84:
            at = 88 if payload[0] == 1 else 76
            if len(payload) < at + 8:
                continue
            matrix_a = int.from_bytes(payload[at - 36 : at - 32], "big", signed=True)
            matrix_d = int.from_bytes(payload[at - 20 : at - 16], "big", signed=True)
            width = int.from_bytes(payload[at : at + 4], "big") >> 16
            height = int.from_bytes(payload[at + 4 : at + 8], "big") >> 16
            # A quarter turn zeroes the scale terms: players show the frame the other way up.
            size = (height, width) if matrix_a == 0 and matrix_d == 0 else (width, height)
        elif box_type == b"mdia":
            for inner_type, inner in _child_boxes(payload, start=0):
                if inner_type == b"hdlr" and len(inner) >= 12:
                    handler = inner[8:12]
                elif inner_type == b"mdhd":
                    # Version 1 has 64-bit times: creation, modification, timescale, duration.
                    at, width = (20, 8) if inner[:1] == b"\x01" else (12, 4)
                    if len(inner) >= at + 4 + width:
                        timescale = int.from_bytes(inner[at : at + 4], "big")
                        ticks = int.from_bytes(inner[at + 4 : at + 4 + width], "big")
                        length = ticks / timescale if timescale else 0.0
    return handler, size, length


def _logged_rate(printed: float) -> float:
    """The frame rate ffprobe would give for one ffmpeg printed to the hundredth: the NTSC
    rates (30000/1001 is printed 29.97) exactly, any other as printed."""
    whole = round(printed * 1.001)
    ntsc = whole * 1000 / 1001
    if whole and printed != int(printed) and abs(ntsc - printed) < 0.005:
        return ntsc
    return printed


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
