"""Fan variants out through a real worker on Redis against a zero-latency fal fake, and measure
the job driver's overhead against a bare Celery chain of no-op tasks of the same length.

Run from the project root, against a SCRATCH PostgreSQL database (it is migrated, and every row
the bench makes is deleted at the end, except the append-only audit rows) and a Redis broker
database nobody else uses:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gl_bench \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/13 .venv/bin/python bench/fanout.py [--variants 500]

One run, one worker (two pool processes by default, `-Q providers,celery`, so clip ingest,
which is ffmpeg work and not the driver's, waits in its own queue and is purged at the end):

1. driver: briefs of at most 48 variants each on fal's HappyHorse model; every job is
   submitted, polled and downloaded from the fake, which answers at once. Timed from the first
   brief to the last job succeeded; the worker log gives how many `drive_job` messages a job
   took (k).
2. baselines: as many chains of k no-op tasks (`bench.noop`), sent at once, timed until the
   last task ran, by the same worker in the same run; then chains of 4 no-ops, one a provider
   step (submit, status, result, download), the length a task-per-step engine would have
   (the spine's engine hopped through four tasks a job).

It prints jobs per second for each, the overhead against each (driver time / baseline time;
the target is at most 3×; both are printed because "the same length" reads either way), and
where a job's time goes: the launch (`brief_create`, which writes the variants and jobs and
sends the first messages: it is part of fanning out, so it stays in the timed phase) and the
worker's own time per message, from its log, for `drive_job` and for the no-op.

What keeps the comparison fair:

- Same messages: a chain as long as the messages a job took, counted from the worker log, not
  assumed; both phases use one worker with the same queues, prefetch and acks settings, and
  both wait for completion by polling every 50 ms (the database for jobs, a Redis counter for
  no-ops).
- The fake runs in a process of its own. In the bench process it shared the GIL with
  `brief_create` and the polling loop, so the workers waited for the bench, not the fake.
- The fake answers with TCP_NODELAY (tests/fakes/base.py). Without it, every call after the
  first on a kept-alive connection waited ~40 ms for a delayed ACK: three calls a job, which
  made the "zero-latency" fake about four fifths of a job's time.
- The worker runs with DEBUG off, as deployed (`--debug` measures the development default,
  where Django's debug cursor records every statement; in-process callgrind puts that at
  about 1% more instructions a job).
- What the driver does that a no-op does not (four HTTP calls to the fake, the database writes
  of three transitions and a clip, the file write, the ingest message) is the work measured;
  the ingest that follows is not, as no consumer takes the media queue.
"""

from __future__ import annotations

import argparse
import multiprocessing
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
# A job's provider steps: submit, status, result, download. The driver takes them in one
# message when the provider answers at once; a design with a task a step would chain four.
STEPS = 4
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


def _serve_fake(video: bytes, conn) -> None:
    """The fake's own process: start it, say where it listens, serve until told to stop."""
    fake = FalFake(video=video).start()
    fake.instant = True
    fake.send_webhooks = False
    conn.send((fake.origin, fake.jwks_url))
    conn.recv()
    fake.stop()


def _task_seconds(log: bytes, task: str) -> list[float]:
    pattern = rb"Task " + re.escape(task.encode()) + rb"\[[^]]+\] succeeded in ([0-9.]+)s"
    return sorted(float(x) for x in re.findall(pattern, log))


class _CPU:
    """CPU seconds (user + system, from /proc) spent by each party during one phase.

    The worker is its process group (main process and pool); "postgres" is the backends
    serving this database's other connections, i.e. the worker's; "bench" is this process and
    its own backend (`brief_create`, the polling). Redis is shared with other users of the
    machine and not counted.
    """

    def __init__(self, *, worker: int, fake: int) -> None:
        from django.db import connection

        self.worker, self.fake, self.connection = worker, fake, connection
        self.start = self._read()

    @staticmethod
    def _stat(pid: int) -> list[str]:
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return []

    def _seconds(self, pids) -> dict[int, float]:
        tick = os.sysconf("SC_CLK_TCK")
        found = {}
        for pid in pids:
            fields = self._stat(pid)
            if fields:
                found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        return found

    def _read(self) -> dict[str, dict[int, float]]:
        """CPU seconds per process of each party; a process that ended between two reads
        drops out (its time is lost, never subtracted)."""
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, pid = pg_backend_pid() FROM pg_stat_activity "
                "WHERE datname = current_database()"
            )
            backends = cursor.fetchall()
        group = [
            int(p.name)
            for p in Path("/proc").iterdir()
            if p.name.isdigit() and (f := self._stat(int(p.name))) and int(f[2]) == self.worker
        ]
        return {
            "worker": self._seconds(group),
            "postgres": self._seconds(pid for pid, own in backends if not own),
            "fake": self._seconds([self.fake]),
            "bench": self._seconds([os.getpid(), *(pid for pid, own in backends if own)]),
        }

    def per(self, count: int) -> str:
        end = self._read()
        parts = {
            party: sum(t - self.start[party].get(pid, 0.0) for pid, t in times.items())
            * 1000
            / count
            for party, times in end.items()
        }
        return "  ".join(f"{k} {v:5.1f}" for k, v in parts.items()) + (
            f"  (sum {sum(parts.values()):5.1f} ms)"
        )


def _ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    mean = sum(values) / len(values)
    p50, p90 = values[len(values) // 2], values[int(len(values) * 0.9)]
    return f"mean {mean * 1000:6.1f} ms  p50 {p50 * 1000:6.1f}  p90 {p90 * 1000:6.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--keep", action="store_true", help="keep the worker log and media")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="run with DEBUG=True, the development default, in which Django records every query",
    )
    args = parser.parse_args()

    broker = os.environ.get("CELERY_BROKER_URL", "")
    database = os.environ.get("DATABASE_URL", "")
    if not broker.startswith("redis://") or not database.startswith("postgres"):
        raise SystemExit("set DATABASE_URL (a scratch PostgreSQL database) and a redis:// broker")

    scratch = Path(tempfile.mkdtemp(prefix="greenlight-bench-"))
    ours, theirs = multiprocessing.Pipe()
    fake = multiprocessing.get_context("fork").Process(
        target=_serve_fake, args=(_video(scratch), theirs), daemon=True
    )
    fake.start()
    origin, jwks_url = ours.recv()
    env = {
        "FAL_QUEUE_URL": origin,
        "FAL_JWKS_URL": jwks_url,
        "FAL_KEY": KEY,
        "FAL_POLL_S": "0",
        # The account's concurrency limit is a deliberate throttle, not driver overhead: let
        # every worker process submit (with the default 2, more processes re-queue jobs).
        "FAL_CONCURRENCY": str(max(2, args.concurrency)),
        "GREENLIGHT_POLL_INTERVAL": "0",
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
        "MEDIA_ROOT": str(scratch / "media"),
        "ARCHIVE_ROOT": str(scratch / "archive"),
        "GREENLIGHT_PROVIDER_WORK_DIR": str(scratch / "provider"),
        "STORAGE_BACKEND": "local",
        # A deployed worker runs with DEBUG off; on, Django's debug cursor times, formats and
        # keeps every statement, which the no-op baseline never pays.
        "DEBUG": "true" if args.debug else "false",
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
        cpu = _CPU(worker=worker.pid, fake=fake.pid)
        started = time.monotonic()
        launch_s = 0.0
        left = args.variants
        while left > 0:
            size = min(PER_BRIEF, left)
            launch_started = time.monotonic()
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
            launch_s += time.monotonic() - launch_started
            left -= size
        jobs = GenerationJob.objects.filter(variant__brief__campaign=campaign)

        def all_done() -> bool:
            return not jobs.exclude(status__in=("succeeded", "failed", "canceled")).exists()

        _wait("every job", all_done, timeout=args.timeout, worker=worker)
        driver_s = time.monotonic() - started
        driver_cpu = cpu.per(args.variants)
        failed = jobs.exclude(status="succeeded").count()
        time.sleep(1.0)  # the last task's "succeeded" line is written just after its commit
        drive_s = _task_seconds(log.read_bytes(), "generation.tasks.drive_job")
        drives = len(drive_s)
        per_job = max(1, round(drives / args.variants))

        # 2. The baselines: the same number of chains, each as long as a job's message count,
        # then each as long as the provider steps a job takes (one task a step).
        baselines = {}
        for length in dict.fromkeys((per_job, STEPS)):
            counter().delete(COUNTER)
            cpu = _CPU(worker=worker.pid, fake=fake.pid)
            started = time.monotonic()
            for _ in range(args.variants):
                chain(*(noop.si() for _ in range(length))).apply_async()
            total = args.variants * length
            _wait(
                f"every no-op of the {length}-task chains",
                lambda total=total: int(counter().get(COUNTER) or 0) >= total,
                timeout=args.timeout,
                worker=worker,
            )
            baselines[length] = (time.monotonic() - started, cpu.per(args.variants))
        time.sleep(1.0)
        noop_s = _task_seconds(log.read_bytes(), "bench.noop")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
        ours.send("stop")
        fake.join(timeout=30)
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
    print(f"worker processes      {args.concurrency} (both phases), DEBUG {args.debug}")
    print(f"drive_job messages    {drives} ({per_job} per job)")
    print(f"driver                {driver_s:7.2f} s  {args.variants / driver_s:7.1f} jobs/s")
    print(f"  launch (brief_create) {launch_s:5.2f} s of it, in the bench process")
    print(f"  worker, per drive_job {_ms(drive_s)}")
    print(f"  CPU ms per job        {driver_cpu}")
    print(f"  worker, per no-op     {_ms(noop_s)}")
    for length, (baseline_s, baseline_cpu) in baselines.items():
        what = "a job's messages" if length == per_job else "one a provider step"
        print(
            f"bare chain of {length} no-op ({what}) {baseline_s:7.2f} s  "
            f"{args.variants / baseline_s:7.1f} chains/s"
        )
        print(f"  CPU ms per chain      {baseline_cpu}")
        print(f"  overhead              {driver_s / baseline_s:7.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
