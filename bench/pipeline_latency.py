"""How long a brief takes to become reviewable clips, against the renders alone.

Run from the project root: `.venv/bin/python bench/pipeline_latency.py [--variants 4 12]`.

For each size it measures, in the same run and on the same machine:
- pipeline: the Celery workers `make run` starts, read from the Procfile (two lanes for
  provider work, where the animatic renders, and two for media work, where clips are
  ingested), on the embedded default (SQLite, filesystem broker, local media), from
  `brief_create` until every clip is ready for review (submit, render, download, ingest);
- renders: the same animatic renders alone, two at a time (the worker's two lanes), with no
  Django, broker or ingest at all.

- renders + analysis: the same renders each followed by the ingest's own media work (probe, the
  one-decode analysis, sha256), two at a time, again with no Django or broker;

and prints pipeline ÷ renders (the engine issue's measure, target at most 1.3) and pipeline ÷
renders + analysis: what the engine itself adds (hops, polling, database, storage) on top of
the work a clip needs.

`--rounds N` repeats the three measurements N times, interleaved, and prints every round with
the 1-minute load average beside it and the median ratios last: on a shared machine the load
moves between one measurement and the next, and a ratio is only worth its neighbours.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HOOKS = [f"Hook {n}" for n in range(1, 7)]
TIMELINE = False


def _render(request_dict: dict, out: str) -> None:
    from generation.providers.animatic import render_animatic
    from generation.providers.base import GenerationRequest

    render_animatic(request=GenerationRequest.from_dict(request_dict), out_path=Path(out))


def _render_and_analyse(request_dict: dict, out: str) -> None:
    _render(request_dict, out)
    from assets import media

    work = Path(out).with_suffix("")
    # What clip_ingest runs for a clip that arrives streamable, as every animatic does.
    media.probe_and_analyse(source=Path(out), work_dir=work)
    media.sha256_file(Path(out))


def work_alone(requests: list[dict], scratch: Path) -> float:
    """Makespan of the renders plus each clip's media analysis (the ingest's own work)."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_render_and_analyse, request, str(scratch / f"w{n}.mp4"))
            for n, request in enumerate(requests)
        ]
        for future in futures:
            future.result()
    return time.perf_counter() - started


def renders_alone(requests: list[dict], scratch: Path) -> float:
    """Makespan of rendering every request, two at a time."""
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(_render, request, str(scratch / f"r{n}.mp4"))
            for n, request in enumerate(requests)
        ]
        for future in futures:
            future.result()
    return time.perf_counter() - started


def procfile_workers() -> list[tuple[str, list[str]]]:
    """The Celery workers `make run` starts (name, arguments after `worker`), from the Procfile,
    so the bench measures the embedded default as shipped."""
    found = []
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command)
        if "celery" in " ".join(words[:1]) and "worker" in words:
            found.append((name.strip(), words[words.index("worker") + 1 :]))
    return found


def _start_worker(env: dict[str, str], log: Path, *args: str) -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", *args],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if "ready." in log.read_text(errors="replace"):
            return worker
        if worker.poll() is not None:
            break
        time.sleep(0.2)
    worker.kill()
    raise SystemExit(f"worker did not start:\n{log.read_text(errors='replace')[-3000:]}")


def pipeline(count: int, *, hooks: list[str], durations: list[int]) -> tuple[float, list[dict]]:
    """Seconds from brief_create to every clip ready, through a real worker."""
    from django.db.models import Max
    from django.utils import timezone

    from assets.models import Clip
    from generation import services
    from generation.models import AuditEvent, GenerationJob
    from tests.factories import CampaignFactory, MembershipFactory

    campaign = CampaignFactory()
    creator = MembershipFactory(campaign=campaign, role="creator").user
    data = services.BriefInput(
        title="Latency",
        prompt="{hook}: sunrise over a coffee farm, {aspect_ratio}",
        script="Good morning from Greenlight.",
        shots="Wake up\nBrew\nShare",
        hooks=hooks,
        aspect_ratios=["16:9", "9:16"][: max(1, count // len(hooks))],
        durations=durations,
        languages=["en"],
        resolution="720p",
        provider="animatic",
    )
    started = timezone.now()
    brief = services.brief_create(campaign=campaign, user=creator, data=data)
    total = brief.variants.count()
    assert total == count, (total, count)
    clips = Clip.objects.filter(variant__brief=brief)
    while clips.filter(status=Clip.Status.READY).count() < total:
        if GenerationJob.objects.filter(variant__brief=brief, status="failed").exists():
            raise SystemExit("a job failed")
        # The finish is read from the audit trail below, so this loop only has to notice
        # it: waking often would take CPU from the workers it is timing (every 50 ms cost
        # 0.65 CPU-s in a 12-variant run, 3% of the machine).
        time.sleep(0.25)
    finished = AuditEvent.objects.filter(
        action="clip.ready",
        object_type="assets.clip",
        object_id__in=[str(pk) for pk in clips.values_list("pk", flat=True)],
    ).aggregate(last=Max("created_at"))["last"]
    elapsed = (finished - started).total_seconds()
    requests = list(
        GenerationJob.objects.filter(variant__brief=brief).values_list("request", flat=True)
    )
    if TIMELINE:
        _print_timeline(brief)
    return elapsed, requests


def _print_timeline(brief) -> None:
    """Where each job's time went, from the audit trail (seconds after the brief)."""
    from django.db.models import Q

    from generation.models import AuditEvent

    t0 = brief.created_at
    for job_id, clip_id in brief.variants.values_list("jobs__pk", "jobs__clip__pk"):
        events = {
            e.action: (e.created_at - t0).total_seconds()
            for e in AuditEvent.objects.filter(
                Q(object_type="generation.generationjob", object_id=str(job_id))
                | Q(object_type="assets.clip", object_id=str(clip_id))
            )
        }
        print(
            f"  job {job_id}: rendered+submitted {events.get('job.submitted', 0):6.2f}"
            f"  downloaded {events.get('clip.create', 0):6.2f}"
            f"  clip ready {events.get('clip.ready', 0):6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[4, 12])
    parser.add_argument("--rounds", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--timeline", action="store_true", help="print where each job's time went")
    args = parser.parse_args()
    global TIMELINE
    TIMELINE = args.timeline

    var = Path(tempfile.mkdtemp(prefix="greenlight-bench-"))
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(GREENLIGHT_VAR_DIR=str(var), PYTHONUNBUFFERED="1")
    os.environ.update(GREENLIGHT_VAR_DIR=str(var))
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    workers = [_start_worker(env, var / f"{name}.log", *args) for name, args in procfile_workers()]
    rows = []
    try:
        # Warm up: first imports, fonts and espeak-ng voices, in every lane. Two variants
        # arrive together and the pool hands work to idle processes, so each worker's two
        # processes normally take one each; with one variant, the first round's second lane
        # paid its cold start inside the measurement.
        pipeline(2, hooks=["Warm up"], durations=[3])
        for _round in range(args.rounds):
            for count in args.variants:
                hooks = HOOKS[: count // 2] if count > 1 else HOOKS[:1]
                seconds, requests = pipeline(count, hooks=hooks, durations=[3])
                render = renders_alone(requests, var)
                work = work_alone(requests, var)
                rows.append((count, seconds, render, work, os.getloadavg()[0]))
    finally:
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.wait(30)
    print(
        f"{'variants':>8}  {'brief→ready s':>13}  {'renders s':>9}  {'ratio':>5}"
        f"  {'renders+analysis s':>18}  {'ratio':>5}  {'load':>5}"
    )
    for count, seconds, render, work, load in rows:
        print(
            f"{count:>8}  {seconds:>13.2f}  {render:>9.2f}  {seconds / render:>5.2f}"
            f"  {work:>18.2f}  {seconds / work:>5.2f}  {load:>5.2f}"
        )
    for count in args.variants:
        mine = [row for row in rows if row[0] == count]
        to_render = statistics.median(row[1] / row[2] for row in mine)
        to_work = statistics.median(row[1] / row[3] for row in mine)
        print(
            f"median of {len(mine)} at {count} variants: pipeline ÷ renders {to_render:.2f}"
            f" (target ≤ 1.3), pipeline ÷ renders+analysis {to_work:.2f}"
        )


if __name__ == "__main__":
    main()
