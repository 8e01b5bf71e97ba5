"""Server time of a campaign page with 10,000 briefs, against 100, in one run.

Run from the project root: `.venv/bin/python bench/campaign_pages.py [--database-url URL]`.
Builds two campaigns in a fresh database (SQLite in a temp folder unless a URL to an empty
database is given), each brief with one variant and one finished job (so the page's spend
line has jobs to add up), one creator in each, and times GET /campaigns/<slug>/ for both in
turn with Django's test client (no network in the way), as `bench/review_queue.py` does for
the queue. Target: ratio 10,000 ÷ 100 at most 1.25. Also printed: the time of the page's
spend line (`generation.services.campaign_spend`, one pass summing every job of the campaign), the
one read on the page that still grows with the campaign, and the ratio without it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from review_queue import analyze, configure, measure  # noqa: E402


def build_briefs(*, slug: str, briefs: int, creator) -> None:
    """A campaign with `briefs` launched briefs of one variant and one succeeded job each,
    written with bulk inserts."""
    from django.db import transaction

    from generation.models import Brief, Campaign, GenerationJob, Membership, Variant

    with transaction.atomic():
        campaign = Campaign.objects.create(name=slug.title(), slug=slug)
        Membership.objects.create(campaign=campaign, user=creator, role="creator")
        made = Brief.objects.bulk_create(
            Brief(campaign=campaign, title=f"{slug} brief {n}", prompt="p", created_by=creator)
            for n in range(briefs)
        )
        variants = Variant.objects.bulk_create(
            Variant(
                brief=b,
                position=1,
                aspect_ratio="16:9",
                duration_s=5,
                language="en",
                resolution="720p",
                prompt="A green bottle on a table",
            )
            for b in made
        )
        GenerationJob.objects.bulk_create(
            GenerationJob(
                variant=v,
                provider="animatic",
                status="succeeded",
                provider_request_id=f"{slug}-{v.pk}",
                output="jobs/x.mp4",
                cost_usd=Decimal("0.10"),
            )
            for v in variants
        )
    analyze()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database to fill (default: SQLite)")
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=100)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="campaign-bench-") as scratch:
        configure(options.database_url, Path(scratch))
        from django.contrib.auth import get_user_model
        from django.test import Client

        User = get_user_model()
        users = {}
        started = time.perf_counter()
        for label, count in (("small", options.small), ("large", options.large)):
            users[label] = User.objects.create_user(label, f"{label}@example.test", "x")
            build_briefs(slug=label, briefs=count, creator=users[label])
        total = options.small + options.large
        print(f"built {total} briefs in {time.perf_counter() - started:.1f} s")
        clients = {}
        for label, user in users.items():
            clients[label] = Client()
            clients[label].force_login(user)
        pages = {label: f"/campaigns/{label}/" for label in clients}
        rows = measure(clients, pages, options.repeats)
        print(f"{'briefs':>7} {'median ms':>10} {'HTML KB':>8} {'queries':>8}")
        for label, count in (("small", options.small), ("large", options.large)):
            seconds, size, queries = rows[label]
            print(f"{count:>7} {seconds * 1000:>10.1f} {size / 1024:>8.1f} {queries:>8}")
        ratio = rows["large"][0] / rows["small"][0]
        print(f"campaign page server time {options.large} ÷ {options.small} briefs: {ratio:.2f} "
              "(target ≤ 1.25)")  # fmt: skip
        # The page's one read that still grows: the spend line adds up every job.
        spend = {label: spend_ms(label, options.repeats) for label in users}
        rest = {label: rows[label][0] * 1000 - spend[label] for label in rows}
        print(f"of which the spend line (campaign_spend): {spend['small']:.1f} ms and "
              f"{spend['large']:.1f} ms; without it {options.large} ÷ {options.small}: "
              f"{rest['large'] / rest['small']:.2f}")  # fmt: skip


def spend_ms(slug: str, repeats: int) -> float:
    """Median milliseconds of `campaign_spend` for the campaign `slug`."""
    import statistics

    from generation.models import Campaign
    from generation.services import campaign_spend

    campaign = Campaign.objects.get(slug=slug)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        campaign_spend(campaign=campaign)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


if __name__ == "__main__":
    main()
