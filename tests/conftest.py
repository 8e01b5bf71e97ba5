"""Small real media made once per session with ffmpeg's lavfi sources, plus junk files.

ffmpeg is a hard requirement of the project: a missing binary fails these fixtures rather than
skipping the tests.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

DURATION_S = 2


@dataclass(frozen=True)
class MediaFiles:
    faststart: Path  # 640x360 h264 + aac, moov first
    moov_at_end: Path  # same streams, moov after mdat
    vertical: Path  # 360x640 h264, no audio
    short: Path  # 0.2 s, five frames
    audio_only: Path  # aac in .m4a, no video
    random_bytes: Path
    empty: Path
    png: Path
    text_as_mp4: Path


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args],
        check=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )


def _video_input(*, size: str, duration: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={duration}"]


H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]


def _audio_input(duration: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={duration}"]


@pytest.fixture(scope="session")
def media_files(tmp_path_factory: pytest.TempPathFactory) -> MediaFiles:
    root = tmp_path_factory.mktemp("media")
    files = MediaFiles(
        faststart=root / "faststart.mp4",
        moov_at_end=root / "moov_at_end.mp4",
        vertical=root / "vertical.mp4",
        short=root / "short.mp4",
        audio_only=root / "audio_only.m4a",
        random_bytes=root / "random.mp4",
        empty=root / "empty.mp4",
        png=root / "still.png",
        text_as_mp4=root / "notes.mp4",
    )
    # The mp4 muxer writes moov after mdat unless told otherwise.
    _ffmpeg(
        *_video_input(size="640x360", duration=DURATION_S),
        *_audio_input(DURATION_S),
        "-map", "0:v", "-map", "1:a", *H264, "-c:a", "aac", "-b:a", "64k",
        str(files.moov_at_end),
    )  # fmt: skip
    _ffmpeg(
        "-i", str(files.moov_at_end), "-c", "copy", "-movflags", "+faststart",
        str(files.faststart),
    )  # fmt: skip
    _ffmpeg(*_video_input(size="360x640", duration=DURATION_S), *H264, str(files.vertical))
    _ffmpeg(*_video_input(size="320x180", duration=0.2), *H264, str(files.short))
    _ffmpeg(*_audio_input(1), "-c:a", "aac", str(files.audio_only))

    files.random_bytes.write_bytes(random.Random(20240601).randbytes(64 * 1024))
    files.empty.write_bytes(b"")
    Image.new("RGB", (64, 48), "green").save(files.png)
    files.text_as_mp4.write_text("Shot list\n1. wide\n2. close-up\n" * 20)
    return files


# --- Project-wide fixtures ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _isolated_storage(settings, tmp_path: Path) -> None:
    """Give each test its own media, archive and provider folders."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.ARCHIVE_ROOT = tmp_path / "archive"
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path / "provider"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media"},
        },
        "archive": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "archive"},
        },
    }


@pytest.fixture
def no_enqueue(monkeypatch) -> list[tuple[str, tuple]]:
    """Record tasks instead of sending them to the broker; returns the list of (name, args)."""
    from celery.app.task import Task

    sent: list[tuple[str, tuple]] = []

    def fake_delay(self, *args, **kwargs):
        sent.append((self.name, args))

    def fake_apply_async(self, args=None, kwargs=None, **options):
        sent.append((self.name, tuple(args or ())))

    monkeypatch.setattr(Task, "delay", fake_delay)
    monkeypatch.setattr(Task, "apply_async", fake_apply_async)
    return sent


@pytest.fixture(autouse=True)
def fast_password_hasher(settings) -> None:
    """Hash factory passwords with MD5: PBKDF2 costs ~0.3 s a user, which is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _quiet_leases(settings, tmp_path: Path) -> None:
    """Lease heartbeats never fire inside a unit test (their thread would wait on the test's
    open transaction); scratch space is per test."""
    settings.GREENLIGHT_LEASE_SECONDS = 3600
    settings.GREENLIGHT_SCRATCH_DIR = tmp_path / "scratch"
