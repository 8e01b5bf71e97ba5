"""Time the whole ingest of a 10 s 1080p H.264/AAC clip against a bare full decode of it.

Run from the project root: `.venv/bin/python bench/ingest.py [--runs 3]`.
Side by side in one run, interleaved, medians:

- ingest: `assets.services.clip_ingest` on a processing clip whose file has its moov atom at
  the end (as most encoders write it): its moov box read, the faststart remux, the one-decode
  analysis (sprite, WebVTT track, waveform, loudness, black/silence/freeze, poster candidates),
  sha256, the derived files stored, QC and the ready transition;
- bare decode: `ffmpeg -i clip -f null -`, every video and audio frame decoded and dropped.

Prints both wall times, their ratio (target at most 1.3) and the peak resident memory of
each (the process and every ffmpeg it waited for). Each run is a fresh process measured with
wait4(2); the ingest's time is taken inside it, around the call, so Python start-up and
Django set-up are not counted. Needs the dev dependencies (factory_boy) for the fixture rows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _env(scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "GREENLIGHT_VAR_DIR": str(scratch / "var"),
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "STORAGE_BACKEND": "local",
        "LOG_LEVEL": "WARNING",
    }


def _make_clip(path: Path) -> None:
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=25:duration=10",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10",
            "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "128k", str(path),
        ],
        check=True,
    )  # fmt: skip


def _measure(args: list[str], *, env: dict[str, str]) -> tuple[float, int, str]:
    """Run a process; return (wall seconds, peak RSS in KiB over it and its children, stdout)."""
    started = time.perf_counter()
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    out = process.stdout.read().decode() if process.stdout else ""
    _pid, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{args[:3]} exited {process.returncode}")
    return elapsed, usage.ru_maxrss, out


def _child_ingest(source: str) -> None:
    """In a fresh process: store the clip, make its processing row, time clip_ingest."""
    import django

    django.setup()
    from django.core.files import File
    from django.core.files.storage import default_storage

    from assets import services
    from assets.models import Clip
    from tests import factories
    from tests.factories import ClipFactory

    # Each run is a fresh process on the same database: move every factory's sequence on, so
    # unique slugs and usernames do not repeat.
    base = time.time_ns() % 10**9
    for value in vars(factories).values():
        if isinstance(value, type) and issubclass(value, factories.factory.Factory):
            value.reset_sequence(base, force=True)
    with open(source, "rb") as fh:
        name = default_storage.save("jobs/bench/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING,
        file=name,
        poster="",
        sha256="",
        job__request={"duration_s": 10, "aspect_ratio": "16:9", "resolution": "1080p"},
    )
    started = time.perf_counter()
    services.clip_ingest(clip_id=clip.pk)
    elapsed = time.perf_counter() - started
    clip.refresh_from_db()
    if clip.status != Clip.Status.READY:
        raise SystemExit(f"ingest failed: {clip.error}")
    print(json.dumps({"seconds": elapsed, "qc": [f["code"] for f in clip.qc]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child-ingest", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child_ingest:
        _child_ingest(options.child_ingest)
        return

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        scratch = Path(tmp)
        clip = scratch / "clip-1080p-10s.mp4"
        _make_clip(clip)
        env = _env(scratch)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        decode = ["ffmpeg", "-nostdin", "-v", "error", "-i", str(clip), "-f", "null", "-"]
        ingest = [sys.executable, __file__, "--child-ingest", str(clip)]
        _measure(decode, env=env)  # warm the page cache and the binaries
        ingest_s, ingest_rss, decode_s, decode_rss = [], [], [], []
        qc: list[str] = []
        for _ in range(options.runs):
            _wall, rss, out = _measure(ingest, env=env)
            result = json.loads(out.strip().splitlines()[-1])
            ingest_s.append(result["seconds"])
            qc = result["qc"]
            ingest_rss.append(rss)
            wall, rss, _out = _measure(decode, env=env)
            decode_s.append(wall)
            decode_rss.append(rss)

    ingest_t, decode_t = statistics.median(ingest_s), statistics.median(decode_s)
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; clip: 10 s 1920x1080 H.264/AAC")
    print(f"whole ingest:  {ingest_t:6.2f} s   peak RSS {max(ingest_rss) / 1024:6.0f} MiB")
    print(f"bare decode:   {decode_t:6.2f} s   peak RSS {max(decode_rss) / 1024:6.0f} MiB")
    print(f"ingest ÷ decode: {ingest_t / decode_t:4.2f}   (target ≤ 1.3)")
    print(f"QC findings on the test pattern: {qc}")


if __name__ == "__main__":
    main()
