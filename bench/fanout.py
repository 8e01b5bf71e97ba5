"""Fan variants out through a real worker on Redis against a zero-latency fal fake, and measure
the job driver's overhead against a bare Celery chain of no-op tasks of the same length.

Run from the project root, against a SCRATCH PostgreSQL database (it is migrated, and every row
the bench makes is deleted at the end, except the append-only audit rows) and a Redis broker
database nobody else uses:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gl_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/fanout.py [--variants 500]

One run, one worker process (`-Q providers,celery`, so clip ingest, which is ffmpeg work and
not the driver's, waits in its own queue and is purged at the end):

1. driver: briefs of at most 48 variants each on fal's HappyHorse model; every job is
   submitted, polled and downloaded from the fake, which answers at once. Timed from the first
   brief to the last job succeeded; the worker log gives how many `drive_job` messages a job
   took (k).
2. baseline: as many chains of k no-op tasks (`bench.noop`), sent at once, timed until the
   last task ran.

It prints jobs per second for both and the overhead (driver time / baseline time); the target
is at most 3×.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.fal import FalFake  # noqa: E402

MODEL = "alibaba/happy-horse/text-to-video"
PER_BRIEF = 48
KEY = "fal-bench-key"


def _video(folder: Path) -> bytes:
    path = folder / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi",
            "-i", "testsrc2=size=320x180:rate=25:duration=1",
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path.read_bytes()


def _wait(what: str, check, *, timeout: float, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if worker.poll() is not None:
            raise SystemExit(f"the worker exited while waiting for {what}")
        time.sleep(0.05)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true", help="keep the worker log and media")
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "")
    database = os.environ.get("DATABASE_URL", "")
    if not broker.startswith("redis://") or not database.startswith("postgres"):
        raise SystemExit("set DATABASE_URL (a scratch PostgreSQL database) and a redis:// broker")

    scratch = Path(tempfile.mkdtemp(prefix="greenlight-bench-"))
    fake = FalFake(video=_video(scratch)).start()
    fake.instant = True
    fake.send_webhooks = False
    env = {
        "FAL_QUEUE_URL": fake.origin,
        "FAL_JWKS_URL": fake.jwks_url,
        "FAL_KEY": KEY,
        "FAL_POLL_S": "0",
        "GREENLIGHT_POLL_INTERVAL": "0",
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
        "MEDIA_ROOT": str(scratch / "media"),
        "ARCHIVE_ROOT": str(scratch / "archive"),
        "GREENLIGHT_PROVIDER_WORK_DIR": str(scratch / "provider"),
        "STORAGE_BACKEND": "local",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "PYTHONUNBUFFERED": "1",
    }
    os.environ.update(env)

    import django

    django.setup()
    from celery import chain
    from django.core.management import call_command

    from bench.fanout_tasks import COUNTER, counter, noop
    from config.celery import app
    from generation.models import GenerationJob
    from generation.services import BriefInput, brief_create, campaign_create

    call_command("migrate", verbosity=0)
    app.control.purge()
    counter().delete(COUNTER)
    log = scratch / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--loglevel=INFO",
                f"--concurrency={args.concurrency}", "-Q", "providers,celery",
                "--include", "bench.fanout_tasks",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
            ],
            cwd=ROOT,
            env={**os.environ},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    campaign = None
    try:
        _wait("the worker", lambda: b"ready." in log.read_bytes(), timeout=60, worker=worker)
        from django.contrib.auth import get_user_model

        user, _ = get_user_model().objects.get_or_create(
            username="bench-fanout", defaults={"is_staff": True}
        )
        # Only a creator member of the campaign may write briefs.
        campaign = campaign_create(
            name="Bench fan-out", slug=f"bench-{os.getpid()}", created_by=user
        )

        # 1. The driver.
        started = time.monotonic()
        left = args.variants
        while left > 0:
            size = min(PER_BRIEF, left)
            brief_create(
                campaign=campaign,
                user=user,
                data=BriefInput(
                    title=f"Bench {left}",
                    prompt="Take {hook}: a horse on the shore",
                    script="A horse on the shore.",
                    shots="",
                    hooks=[f"{left}-{n}" for n in range(size)],
                    aspect_ratios=["16:9"],
                    durations=[5],
                    languages=["en"],
                    resolution="720p",
                    provider="fal",
                    model=MODEL,
                ),
            )
            left -= size
        jobs = GenerationJob.objects.filter(variant__brief__campaign=campaign)

        def all_done() -> bool:
            return not jobs.exclude(status__in=("succeeded", "failed", "canceled")).exists()

        _wait("every job", all_done, timeout=args.timeout, worker=worker)
        driver_s = time.monotonic() - started
        failed = jobs.exclude(status="succeeded").count()
        time.sleep(1.0)  # the last task's "succeeded" line is written just after its commit
        drives = len(
            re.findall(rb"Task generation\.tasks\.drive_job\[[^]]+\] succeeded", log.read_bytes())
        )
        per_job = max(1, round(drives / args.variants))

        # 2. The baseline: the same number of chains, each as long as a job's message count.
        started = time.monotonic()
        for _ in range(args.variants):
            chain(*(noop.si() for _ in range(per_job))).apply_async()
        total = args.variants * per_job
        _wait(
            "every no-op",
            lambda: int(counter().get(COUNTER) or 0) >= total,
            timeout=args.timeout,
            worker=worker,
        )
        baseline_s = time.monotonic() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        fake.stop()
        app.control.purge()
        counter().delete(COUNTER)
        if campaign is not None:
            from assets.models import Clip
            from generation.models import Brief, Lease, Variant

            jobs = GenerationJob.objects.filter(variant__brief__campaign=campaign)
            job_ids = list(jobs.values_list("pk", flat=True))
            Clip.objects.filter(job_id__in=job_ids).delete()
            Lease.objects.filter(object_id__in=job_ids).delete()
            jobs.delete()
            Variant.objects.filter(brief__campaign=campaign).delete()
            Brief.objects.filter(campaign=campaign).delete()
            campaign.delete()
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    print(f"variants              {args.variants} ({failed} not succeeded)")
    print(f"drive_job messages    {drives} ({per_job} per job)")
    print(f"driver                {driver_s:7.2f} s  {args.variants / driver_s:7.1f} jobs/s")
    print(
        f"bare chain of {per_job} no-op {baseline_s:7.2f} s  "
        f"{args.variants / baseline_s:7.1f} chains/s"
    )
    print(f"overhead              {driver_s / baseline_s:7.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
