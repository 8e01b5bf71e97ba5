"""The local `sequence` provider: a cut of a multi-shot cell, joined from its approved shots.

A cut is generated like any clip (a job on the cell's cut variant, driven by the same driver,
ingested, reviewed and archived the same way), but its "model" is a join: the job's
`SequencePart` rows name the shot versions in order, and `submit` joins their clips' files.
When every part has the same streams (codec and its configuration, size, frame rate, pixel
format, audio rate, layout and timebase) the files are concatenated with stream copy, which
is lossless and takes a moment; otherwise each part is re-encoded to the first part's picture
size and frame rate (H.264 yuv420p, AAC), letterboxed rather than stretched, and each part's
sound is resampled and padded or trimmed to its own picture's length, so picture and sound
stay in step at every join.

Like the animatic, the join runs synchronously inside `submit`; files live under
`GREENLIGHT_PROVIDER_WORK_DIR / "sequence"`: `<id>.mp4` (the cut), `<id>.json` (how it was
joined) and `<id>.error` (why a join failed). The provider is not offered to briefs
(`generation.providers.internal_provider_classes`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

from generation.providers.base import (
    ASPECT_RATIOS,
    RESOLUTIONS,
    GenerationRequest,
    ProviderError,
    RequestRejected,
    TransientError,
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register
from generation.providers.local import LocalProvider, run_tool, write_atomic

NAME = "sequence"
MODEL = "concat-v1"
_STDERR_TAIL = 1500
_KEY_PREFIX = "greenlight-"
# A cut is made of shots of at most 15 s each; the join of a long cut must still end well
# inside the drive task's soft time limit (GREENLIGHT_TASK_LIMITS["drive"]).
_MAX_JOIN_TIMEOUT_S = 240.0


@dataclass(frozen=True)
class CutSpec(ModelSpec):
    """The capability entry of the join: a cut's limits are its parts', checked at submit."""

    def problems(self, request: GenerationRequest) -> list[str]:
        return [] if request.duration_s and float(request.duration_s) > 0 else ["an empty cut"]


register(
    CutSpec(
        provider=NAME,
        model=MODEL,
        label="Sequence (joins approved shots)",
        modes=frozenset({Mode.TEXT}),
        durations=(),
        resolutions=RESOLUTIONS,
        aspect_ratios=ASPECT_RATIOS,
        audio=Audio.OPTIONAL,
        prices=(Price(Decimal(0), source="local join, no charge", as_of=date(2026, 12, 1)),),
    )
)


# --- the media side: probe, compare, join ----------------------------------------------------


@dataclass(frozen=True)
class PartInfo:
    """What the join needs to know about one part, from ffprobe."""

    path: Path
    duration_s: float
    video: dict[str, Any]
    audio: dict[str, Any] | None

    @property
    def width(self) -> int:
        return int(self.video["width"])

    @property
    def height(self) -> int:
        return int(self.video["height"])

    @property
    def frame_rate(self) -> str:
        return str(self.video.get("r_frame_rate") or self.video.get("avg_frame_rate") or "25/1")

    def signature(self) -> dict[str, Any]:
        """Everything that must be equal across parts for a stream copy to play correctly."""
        video_keys = (
            "codec_name",
            "profile",
            "level",
            "width",
            "height",
            "pix_fmt",
            "r_frame_rate",
            "time_base",
            "field_order",
            "extradata_hash",
        )
        audio_keys = (
            "codec_name",
            "profile",
            "sample_rate",
            "channels",
            "channel_layout",
            "time_base",
            "extradata_hash",
        )
        sar = self.video.get("sample_aspect_ratio") or "1:1"
        signature: dict[str, Any] = {
            **{f"video {k}": self.video.get(k) for k in video_keys},
            "video sample aspect ratio": "1:1" if sar in ("0:1", "1:1") else sar,
            "audio": self.audio is not None,
        }
        if self.audio is not None:
            signature.update({f"audio {k}": self.audio.get(k) for k in audio_keys})
        return signature


@dataclass(frozen=True)
class JoinReport:
    """How a cut was made: `copy` (stream copy) or `reencode`, and why."""

    mode: str
    differences: list[str] = field(default_factory=list)
    target: dict[str, Any] = field(default_factory=dict)
    durations_s: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "differences": self.differences,
            "target": self.target,
            "durations_s": self.durations_s,
            "duration_s": round(sum(self.durations_s), 3),
        }


def probe_part(path: Path, *, number: int) -> PartInfo:
    """Read a part's streams; RequestRejected when it is not a video ffprobe can read."""
    args = [
        "ffprobe", "-v", "error", "-show_format", "-show_streams",
        "-show_data_hash", "sha256", "-of", "json", str(path),
    ]  # fmt: skip
    try:
        completed = subprocess.run(args, capture_output=True, timeout=30, check=False)
    except FileNotFoundError as exc:
        raise ProviderError(f"ffprobe is not installed: {exc}", code="missing_binary") from exc
    except subprocess.TimeoutExpired as exc:
        raise TransientError("ffprobe took longer than 30 s", code="timeout") from exc
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        raise RequestRejected(f"shot {number} is not a readable video: {tail}", code="bad_part")
    data = json.loads(completed.stdout or b"{}")
    streams = data.get("streams") or []
    video = next((s for s in streams if s.get("codec_type") == "video"), None)
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise RequestRejected(f"shot {number} has no video stream", code="bad_part")
    duration = _seconds(video.get("duration")) or _seconds(data.get("format", {}).get("duration"))
    if not duration:
        raise RequestRejected(f"shot {number} has no duration", code="bad_part")
    return PartInfo(path=path, duration_s=duration, video=video, audio=audio)


def _seconds(value: Any) -> float:
    try:
        return max(float(value), 0.0)
    except (TypeError, ValueError):
        return 0.0


def stream_differences(parts: list[PartInfo]) -> list[str]:
    """How each part's streams differ from the first's; empty when a stream copy is safe."""
    first = parts[0].signature()
    found = []
    for number, part in enumerate(parts[1:], start=2):
        for key, value in part.signature().items():
            if first.get(key) != value:
                found.append(f"shot {number} {key} is {value} (shot 1: {first.get(key)})")
    return found


def join_parts(*, parts: list[Path], out: Path, timeout: float | None = None) -> JoinReport:
    """Join `parts` in order into an MP4 at `out`, replaced atomically.

    Stream copy when every part has the same streams, else a re-encode to the first part's
    size and frame rate. Raises RequestRejected for a part that is not a video and
    ProviderError (TransientError when killed or too slow) when ffmpeg fails; nothing is left
    at `out` then.
    """
    if not parts:
        raise RequestRejected("a cut needs at least one shot", code="no_parts")
    infos = [probe_part(path, number=n) for n, path in enumerate(parts, start=1)]
    total = sum(info.duration_s for info in infos)
    timeout = timeout or min(60.0 + 6.0 * total, _MAX_JOIN_TIMEOUT_S)
    differences = stream_differences(infos)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    part_file = out.with_name(f".{out.name}.{uuid.uuid4().hex}.part")
    with tempfile.TemporaryDirectory(prefix="greenlight-sequence-") as scratch:
        try:
            if differences:
                target = _target(infos)
                args = _reencode_args(infos, target=target, out=part_file)
                report = JoinReport("reencode", differences, target, [i.duration_s for i in infos])
            else:
                listing = Path(scratch) / "parts.txt"
                listing.write_text(
                    "".join(f"file {_concat_quote(str(i.path.resolve()))}\n" for i in infos),
                    encoding="utf-8",
                )
                args = _copy_args(listing, with_audio=infos[0].audio is not None, out=part_file)
                report = JoinReport("copy", [], {}, [i.duration_s for i in infos])
            run_tool(args, tool="ffmpeg", timeout=timeout, step="join")
            os.replace(part_file, out)
        finally:
            part_file.unlink(missing_ok=True)
    return report


def _concat_quote(path: str) -> str:
    # The concat demuxer's quoting: inside single quotes, a quote is closed, escaped, reopened.
    return "'" + path.replace("'", "'\\''") + "'"


def _copy_args(listing: Path, *, with_audio: bool, out: Path) -> list[str]:
    maps = ["-map", "0:v:0"] + (["-map", "0:a:0"] if with_audio else [])
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y",
        "-f", "concat", "-safe", "0", "-i", str(listing),
        *maps, "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip


def _target(infos: list[PartInfo]) -> dict[str, Any]:
    """The re-encode's spec: the first part's size and frame rate; sound from the first part
    that has any (48 kHz stereo when it does not say)."""
    first = infos[0]
    # Odd sizes cannot be yuv420p; round down to even, as every encoder would have to.
    width, height = first.width - first.width % 2, first.height - first.height % 2
    rate = Fraction(first.frame_rate) if first.frame_rate not in ("0/0", "") else Fraction(25)
    target: dict[str, Any] = {
        "width": width,
        "height": height,
        "frame_rate": f"{rate.numerator}/{rate.denominator}",
        "video_codec": "h264",
        "pix_fmt": "yuv420p",
        "audio": None,
    }
    sound = next((i.audio for i in infos if i.audio is not None), None)
    if sound is not None:
        channels = int(sound.get("channels") or 2)
        layout = sound.get("channel_layout") or ("mono" if channels == 1 else "stereo")
        target["audio"] = {
            "codec": "aac",
            "sample_rate": int(sound.get("sample_rate") or 48000),
            "channel_layout": layout,
        }
    return target


def _reencode_args(infos: list[PartInfo], *, target: dict[str, Any], out: Path) -> list[str]:
    width, height, rate = target["width"], target["height"], target["frame_rate"]
    sound = target["audio"]
    graph, labels = [], []
    for index, info in enumerate(infos):
        length = f"{info.duration_s:.6f}"
        graph.append(
            f"[{index}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1,fps={rate},"
            f"format=yuv420p,trim=duration={length},setpts=PTS-STARTPTS[v{index}]"
        )
        labels.append(f"[v{index}]")
        if sound is None:
            continue
        rate_hz, layout = sound["sample_rate"], sound["channel_layout"]
        shape = f"aformat=sample_fmts=fltp:sample_rates={rate_hz}:channel_layouts={layout}"
        if info.audio is not None:
            # Padded with silence or cut to this part's picture, so every join stays in step.
            source = f"[{index}:a:0]aresample={rate_hz},{shape},apad"
        else:
            source = f"anullsrc=r={rate_hz}:cl={layout},{shape}"
        graph.append(f"{source},atrim=duration={length},asetpts=N/SR/TB[a{index}]")
        labels.append(f"[a{index}]")
    streams = "v=1:a=1" if sound is not None else "v=1:a=0"
    outputs = "[v][a]" if sound is not None else "[v]"
    graph.append(f"{''.join(labels)}concat=n={len(infos)}:{streams}{outputs}")
    inputs = [arg for info in infos for arg in ("-i", str(info.path))]
    audio_args = (
        ["-map", "[a]", "-c:a", "aac", "-b:a", "192k", "-ar", str(sound["sample_rate"])]
        if sound is not None
        else []
    )
    return [
        "ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y", *inputs,
        "-filter_complex", ";".join(graph),
        "-map", "[v]", "-c:v", "libx264", "-preset", "superfast", "-crf", "18",
        "-pix_fmt", "yuv420p", "-r", rate, *audio_args,
        "-movflags", "+faststart", "-f", "mp4", str(out),
    ]  # fmt: skip


# --- the parts of a job ----------------------------------------------------------------------


@dataclass(frozen=True)
class StoredPart:
    position: int
    name: str
    sha256: str


def parts_for_key(idempotency_key: str) -> list[StoredPart]:
    """The stored files of the shot clips a cut job joins, in order, from its SequencePart
    rows. RequestRejected when the job has none or a part has no ready clip."""
    from generation.models import GenerationJob, SequencePart

    key = idempotency_key.removeprefix(_KEY_PREFIX)
    try:
        job = GenerationJob.objects.get(key=uuid.UUID(key))
    except (ValueError, GenerationJob.DoesNotExist):
        raise RequestRejected(f"no cut job for key {idempotency_key!r}", code="no_parts") from None
    # The clip lives in a later app; it is reached by relation name only.
    rows = SequencePart.objects.filter(cut=job).select_related("shot__clip").order_by("position")
    parts = []
    for row in rows:
        clip = getattr(row.shot, "clip", None)
        if clip is None or clip.status != "ready" or not clip.file.name:
            raise RequestRejected(
                f"shot {row.position} (job {row.shot_id}) has no ready clip", code="bad_part"
            )
        parts.append(StoredPart(position=row.position, name=clip.file.name, sha256=clip.sha256))
    if not parts:
        raise RequestRejected("this cut records no shots to join", code="no_parts")
    return parts


@contextlib.contextmanager
def _local_parts(parts: list[StoredPart], scratch: Path) -> Iterator[list[Path]]:
    """Local paths of the parts' files (the files themselves on disk, copies from remote
    storage), each checked against the sha256 its clip recorded when it was approved."""
    from django.core.files.storage import default_storage

    paths = []
    for part in parts:
        if not default_storage.exists(part.name):
            raise RequestRejected(
                f"shot {part.position}'s file {part.name} is missing from storage",
                code="part_missing",
            )
        try:
            local = Path(default_storage.path(part.name))
        except NotImplementedError:
            local = scratch / f"part-{part.position}{Path(part.name).suffix}"
            with default_storage.open(part.name, "rb") as src, local.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        digest = hashlib.sha256()
        with local.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        if part.sha256 and digest.hexdigest() != part.sha256:
            raise RequestRejected(
                f"shot {part.position}'s file {part.name} no longer matches its approved checksum",
                code="part_changed",
            )
        paths.append(local)
    yield paths


class SequenceProvider(LocalProvider):
    """Joins a cut's shots locally; synchronous, free, never offered to briefs."""

    name = NAME
    label = "Sequence (joins approved shots)"
    failure_code = "join_failed"
    noun = "cut"

    @property
    def models(self) -> tuple[str, ...]:
        return (MODEL,)

    def make(self, request: GenerationRequest, *, idempotency_key: str, paths: dict) -> None:
        """Join the job's parts. RequestRejected for missing, changed or unreadable parts and
        ProviderError when ffmpeg fails."""
        parts = parts_for_key(idempotency_key)
        with (
            tempfile.TemporaryDirectory(prefix="greenlight-parts-") as scratch,
            _local_parts(parts, Path(scratch)) as local,
        ):
            report = join_parts(parts=local, out=paths["mp4"])
        sidecar = {**report.as_dict(), "parts": [p.name for p in parts], "seed": request.seed}
        write_atomic(paths["json"], json.dumps(sidecar, indent=2))

    def result_raw(self, sidecar: dict[str, Any], mp4: Path) -> dict[str, Any]:
        return {"join": sidecar, "bytes": mp4.stat().st_size}
