"""A worker killed with SIGKILL mid-render: the work recovers within a minute, once.

Run on every broker pass: on the filesystem transport the killed worker's in-flight
messages are simply gone (acks_late does nothing there); on Redis they come back only after
the visibility timeout. Either way the reconciler sees the dead worker's lease expire and
re-drives each job once, with a fresh token that voids any late original.
"""

from __future__ import annotations

import time

import pytest

from assets.models import Clip
from assets.tasks import reconcile_clips
from generation import services
from generation.jobs import jobs_reconcile
from generation.models import GenerationJob, Lease, Membership
from generation.scratch import scratch_sweep
from tests.e2e.conftest import children_of, processes_mentioning
from tests.factories import CampaignFactory, MembershipFactory
from tests.generation.test_services import _input

pytestmark = [pytest.mark.e2e]


def test_sigkilled_worker_recovers_in_seconds_with_one_clip_per_variant(
    worker_factory, settings
) -> None:
    settings.GREENLIGHT_REDRIVE_GRACE = 1.0
    fast_leases = {"GREENLIGHT_LEASE_SECONDS": "2", "GREENLIGHT_REDRIVE_GRACE": "1"}
    first = worker_factory(**fast_leases)
    campaign = CampaignFactory()
    creator = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    data = _input(
        hooks=["Wake up"],
        aspect_ratios=["16:9", "9:16"],
        durations=[12],
        languages=["en"],
        resolution="1080p",
    )
    brief = services.brief_create(campaign=campaign, user=creator, data=data)
    provider_dir = str(settings.GREENLIGHT_PROVIDER_WORK_DIR)

    # Wait until a render is under way (a worker holds a job's lease, ffmpeg is running).
    first.wait_for(
        "a render in progress",
        lambda: (
            Lease.objects.filter(kind="job").exclude(owner="").exists()
            and any(processes_mentioning(provider_dir))
        ),
        timeout=60,
    )
    first.kill()
    killed_at = time.monotonic()

    # The renders die with their worker instead of running on without an owner.
    deadline = time.monotonic() + 10
    while processes_mentioning(provider_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_mentioning(provider_dir) == []

    second = worker_factory(**fast_leases)

    def all_ready() -> bool:
        jobs_reconcile()
        reconcile_clips()
        return Clip.objects.filter(variant__brief=brief, status=Clip.Status.READY).count() == 2

    second.wait_for("recovery", all_ready, timeout=90)
    recovered_in = time.monotonic() - killed_at
    assert recovered_in < 60, recovered_in

    for variant in brief.variants.all():
        jobs = list(GenerationJob.objects.filter(variant=variant))
        assert [(j.attempt, j.status) for j in jobs] == [(1, "succeeded")]
        assert Clip.objects.filter(variant=variant).count() == 1
    # Nothing half-made stays behind: no partial renders, no dead workers' scratch.
    assert not list(settings.GREENLIGHT_PROVIDER_WORK_DIR.glob("*/.*.part"))
    scratch_sweep()
    leftovers = [p.name for p in settings.GREENLIGHT_SCRATCH_DIR.iterdir()]
    live = {f"pid-{pid}" for pid in children_of(second.process.pid)}
    assert set(leftovers) <= live, leftovers
