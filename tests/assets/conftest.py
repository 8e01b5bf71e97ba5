"""The media fixtures live in tests/conftest.py; test_media.py imports its names from here.

`qc_media` adds clips made for the detectors: one-second segments of picture (moving test
pattern, black, frozen) and sound (tone, silence) joined with ffmpeg's concat filter, at a level
chosen against the -14 LUFS window.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from assets import media
from tests.conftest import DURATION_S, MediaFiles

__all__ = ["DURATION_S", "MediaFiles", "QcMedia", "make_clip", "tool_names"]

# A 440 Hz tone from lavfi's sine source measures -21.8 LUFS; these gains put it in, above and
# below the -14 ±2 LUFS window.
IN_WINDOW_DB = 7.8
TOO_LOUD_DB = 17.0
TOO_QUIET_DB = -8.0


@pytest.fixture
def tool_runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every command `assets.media` runs during the test, in order; each still runs."""
    runs: list[list[str]] = []
    real_run = media._run

    def spy(args: list[str], **kwargs):
        runs.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(media, "_run", spy)
    return runs


def tool_names(runs: list[list[str]]) -> list[str]:
    """The program each command of `tool_runs` started, by name: ["ffmpeg", "ffprobe"]."""
    return [Path(args[0]).name for args in runs]


def make_clip(
    path: Path,
    *,
    video: tuple[str, ...] = ("moving",) * 4,
    audio: tuple[str, ...] | None = ("tone",) * 4,
    gain_db: float = IN_WINDOW_DB,
    size: str = "320x180",
    extra: tuple[str, ...] = (),
) -> Path:
    """Write an H.264/AAC MP4 of one-second segments: video moving|black|frozen, audio
    tone|silent (None: no audio track)."""
    sources = {
        "moving": f"testsrc2=s={size}:r=25:d=1",
        "black": f"color=c=black:s={size}:r=25:d=1",
        # One frame held for a second.
        "frozen": f"testsrc2=s={size}:r=25:d=0.04,tpad=stop_mode=clone:stop_duration=0.96",
    }
    graph = [f"{sources[kind]}[v{i}]" for i, kind in enumerate(video)]
    graph.append("".join(f"[v{i}]" for i in range(len(video))) + f"concat=n={len(video)}:v=1:a=0")
    args = ["-f", "lavfi", "-i", ";".join(graph)]
    maps = ["-map", "0:v"]
    if audio:
        tones = {
            "tone": f"sine=f=440:r=48000:d=1,volume={gain_db}dB",
            "silent": "anullsrc=r=48000:cl=mono,atrim=duration=1",
        }
        agraph = [f"{tones[kind]}[a{i}]" for i, kind in enumerate(audio)]
        agraph.append(
            "".join(f"[a{i}]" for i in range(len(audio))) + f"concat=n={len(audio)}:v=0:a=1"
        )
        args += ["-f", "lavfi", "-i", ";".join(agraph)]
        maps += ["-map", "1:a", "-c:a", "aac", "-b:a", "96k"]
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", *args, *maps,
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", *extra, str(path),
        ],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class QcMedia:
    clean: Path  # 4 s moving picture, tone in the loudness window
    black: Path  # black from 1 s to 2 s
    silent: Path  # silence from 1 s to 2 s
    frozen: Path  # a held frame from 2 s to 3 s
    loud: Path
    quiet: Path
    no_audio: Path
    truncated: Path  # moov first, the media data cut short
    still_mp4: Path  # a PNG named .mp4
    one_frame: Path  # an MP4 holding a single frame


@pytest.fixture(scope="session")
def qc_media(tmp_path_factory: pytest.TempPathFactory) -> QcMedia:
    root = tmp_path_factory.mktemp("qc-media")
    files = QcMedia(
        clean=make_clip(root / "clean.mp4"),
        black=make_clip(root / "black.mp4", video=("moving", "black", "moving", "moving")),
        silent=make_clip(root / "silent.mp4", audio=("tone", "silent", "tone", "tone")),
        frozen=make_clip(root / "frozen.mp4", video=("moving", "moving", "frozen", "moving")),
        loud=make_clip(root / "loud.mp4", gain_db=TOO_LOUD_DB),
        quiet=make_clip(root / "quiet.mp4", gain_db=TOO_QUIET_DB),
        no_audio=make_clip(root / "no_audio.mp4", audio=None),
        truncated=root / "truncated.mp4",
        still_mp4=root / "still.mp4",
        one_frame=make_clip(root / "one_frame.mp4", audio=None, extra=("-frames:v", "1")),
    )
    whole = files.clean.read_bytes()
    files.truncated.write_bytes(whole[: len(whole) * 2 // 5])
    from PIL import Image

    Image.new("RGB", (320, 180), "orange").save(files.still_mp4, format="PNG")
    return files
