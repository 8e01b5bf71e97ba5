"""Server time of the review queue with 10,000 clips waiting, against 100, in one run.

Run from the project root: `.venv/bin/python bench/review_queue.py [--database-url URL]`.
Builds two campaigns in a fresh database (SQLite in a temp folder unless a URL is given: use
an empty database), one reviewer in each, and times GET /review/ for both reviewers in turn
with Django's test client (no network in the way). Target: ratio 10,000 ÷ 100 at most 1.25.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def configure(database_url: str | None, var_dir: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["GREENLIGHT_VAR_DIR"] = str(var_dir)
    os.environ["DEBUG"] = "false"
    os.environ["SECURE_COOKIES"] = "false"  # plain http on loopback
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    os.environ.setdefault("SECRET_KEY", "bench-" + "x" * 50)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # not a line per request the bench makes
    os.environ["DATABASE_URL"] = database_url or f"sqlite:///{var_dir / 'bench.sqlite3'}"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def build_campaign(*, slug: str, clips: int, decider, creator=None):
    """A campaign with one brief and `clips` ready clips waiting at its first stage for
    `decider`, written with bulk inserts. The brief is `creator`'s (a creator member of the
    campaign) when given, else the decider's."""
    from django.db import transaction

    from assets.models import Clip
    from generation.models import Brief, Campaign, GenerationJob, Membership, Variant
    from review.models import Review, Stage, StageStep

    with transaction.atomic():
        campaign = Campaign.objects.create(name=slug.title(), slug=slug)
        Membership.objects.create(campaign=campaign, user=decider, role="approver")
        if creator is not None:
            Membership.objects.create(campaign=campaign, user=creator, role="creator")
        stage = Stage.objects.get(campaign=campaign)  # copied from the templates
        brief = Brief.objects.create(
            campaign=campaign, title=f"{slug} brief", prompt="p", created_by=creator or decider
        )
        variants = Variant.objects.bulk_create(
            Variant(
                brief=brief,
                position=n + 1,
                aspect_ratio=("16:9", "9:16", "1:1")[n % 3],
                duration_s=5,
                language=("en", "de", "fr")[n % 3],
                resolution="720p",
                prompt="A green bottle on a table",
            )
            for n in range(clips)
        )
        jobs = GenerationJob.objects.bulk_create(
            GenerationJob(
                variant=v,
                provider="animatic",
                status="succeeded",
                provider_request_id=f"{slug}-{v.position}",
                output="jobs/x.mp4",
            )
            for v in variants
        )
        made = Clip.objects.bulk_create(
            Clip(
                uuid=uuid.uuid4(),
                job=j,
                variant=j.variant,
                version=1,
                status="ready",
                file="clips/x/video.mp4",
                poster="clips/x/poster.jpg",
                duration_s=5.0,
                width=1280,
                height=720,
                sha256=hashlib.sha256(f"{slug}{j.pk}".encode()).hexdigest(),
                qc=[] if j.pk % 4 else [{"severity": "warning", "message": "is short"}],
            )
            for j in jobs
        )
        reviews = Review.objects.bulk_create(
            Review(clip=c, stage=stage, status="pending") for c in made
        )
        StageStep.objects.bulk_create(StageStep(review=r, stage=stage) for r in reviews)
    analyze()
    return campaign


def analyze() -> None:
    """Refresh the planner's statistics after the bulk load, as autovacuum would on a live
    database (PostgreSQL) or `ANALYZE` does for SQLite."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def measure(
    clients: dict, url: str | dict[str, str], repeats: int
) -> dict[str, tuple[float, int, int]]:
    """Median seconds per client over `repeats` rounds, the clients taking turns within each
    round so that load from other processes on the machine hits both alike; plus the HTML
    size and SQL query count of one request each. `url` is one page for every client, or a
    page per client's label."""
    urls = url if isinstance(url, dict) else dict.fromkeys(clients, url)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sizes, queries = {}, {}
    for label, client in clients.items():
        client.get(urls[label])  # warm caches and the session
        with CaptureQueriesContext(connection) as captured:
            response = client.get(urls[label])
        assert response.status_code == 200, response.status_code
        sizes[label], queries[label] = len(response.content), len(captured.captured_queries)
    times: dict[str, list[float]] = {label: [] for label in clients}
    for _ in range(repeats):
        for label, client in clients.items():
            started = time.perf_counter()
            client.get(urls[label])
            times[label].append(time.perf_counter() - started)
    return {
        label: (statistics.median(times[label]), sizes[label], queries[label]) for label in clients
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database to fill (default: SQLite)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="queue-bench-") as scratch:
        configure(options.database_url, Path(scratch))
        from django.contrib.auth import get_user_model
        from django.test import Client

        User = get_user_model()
        small_user = User.objects.create_user("small", "small@example.test", "x")
        large_user = User.objects.create_user("large", "large@example.test", "x")
        started = time.perf_counter()
        build_campaign(slug="small", clips=options.small, decider=small_user)
        build_campaign(slug="large", clips=options.large, decider=large_user)
        print(
            f"built {options.small + options.large} clips in {time.perf_counter() - started:.1f} s"
        )

        clients = {}
        for label, user in (("small", small_user), ("large", large_user)):
            clients[label] = Client()
            clients[label].force_login(user)
        rows = measure(clients, "/review/", options.repeats)
        print(f"{'clips':>7} {'median ms':>10} {'HTML KB':>8} {'queries':>8}")
        for label, count in (("small", options.small), ("large", options.large)):
            seconds, size, queries = rows[label]
            print(f"{count:>7} {seconds * 1000:>10.1f} {size / 1024:>8.1f} {queries:>8}")
        ratio = rows["large"][0] / rows["small"][0]
        print(f"queue server time {options.large} ÷ {options.small} clips: {ratio:.2f} "
              "(target ≤ 1.25)")  # fmt: skip


if __name__ == "__main__":
    main()
