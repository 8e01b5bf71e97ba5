"""Task-level failure paths: ingest and archive budgets, soft limits, reconcilers, scratch."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from assets import services as asset_services
from assets import tasks as asset_tasks
from assets.models import Clip
from generation import tasks
from generation.models import AuditEvent, GenerationJob, Lease
from generation.scratch import scratch_sweep
from review import services as review_services
from review import tasks as review_tasks
from review.models import Review
from tests.factories import ClipFactory, JobFactory, ReviewFactory

pytestmark = pytest.mark.django_db

INGEST = "assets.tasks.ingest_clip"
ARCHIVE = "review.tasks.archive_review"


def _run(task, *args, task_id: str = "task-1"):
    """Run a bound task in-process with a task id, as a worker would."""
    task.push_request(id=task_id)
    try:
        return task.run(*args)
    finally:
        task.pop_request()


def test_drive_job_task_runs_the_driver_with_its_task_id(no_enqueue) -> None:
    job = JobFactory()

    _run(tasks.drive_job, job.pk, "", task_id="abc")

    assert GenerationJob.objects.get(pk=job.pk).status == GenerationJob.Status.SUCCEEDED
    assert Lease.objects.get(kind="job", object_id=job.pk).taken_at is not None


def test_an_ingest_that_keeps_failing_fails_the_clip_after_its_budget(
    monkeypatch, no_enqueue, settings
) -> None:
    settings.GREENLIGHT_MAX_ATTEMPTS = 3
    clip = ClipFactory(status=Clip.Status.PROCESSING)

    def broken(*, clip_id):
        raise OSError("disk full")

    monkeypatch.setattr(asset_services, "clip_ingest", broken)
    token = ""
    for n in range(3):
        _run(asset_tasks.ingest_clip, clip.pk, token, task_id=f"t{n}")
        if n < 2:
            name, (clip_id, token) = no_enqueue[-1]
            assert (name, clip_id) == (INGEST, clip.pk)

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert clip.error == "ingest gave up after 3 attempts: OSError: disk full"
    lease = Lease.objects.get(kind="ingest", object_id=clip.pk)
    assert (lease.failures, lease.done, lease.gave_up_at is not None) == (3, True, True)
    assert len(no_enqueue) == 2  # two retries, then no more


def test_an_ingest_soft_time_limit_is_a_failed_attempt_not_a_stuck_lease(
    monkeypatch, no_enqueue
) -> None:
    clip = ClipFactory(status=Clip.Status.PROCESSING)

    def slow(*, clip_id):
        raise SoftTimeLimitExceeded()

    monkeypatch.setattr(asset_services, "clip_ingest", slow)
    _run(asset_tasks.ingest_clip, clip.pk, "")

    lease = Lease.objects.get(kind="ingest", object_id=clip.pk)
    assert (lease.owner, lease.failures) == ("", 1)
    assert no_enqueue == [(INGEST, (clip.pk, lease.token))]


def test_a_duplicate_ingest_message_does_nothing(monkeypatch, no_enqueue) -> None:
    clip = ClipFactory(status=Clip.Status.PROCESSING)
    calls = []
    monkeypatch.setattr(asset_services, "clip_ingest", lambda *, clip_id: calls.append(clip_id))

    _run(asset_tasks.ingest_clip, clip.pk, "", task_id="a")
    _run(asset_tasks.ingest_clip, clip.pk, "", task_id="b")

    assert calls == [clip.pk]


def test_reconcile_clips_redrives_then_gives_up(no_enqueue, settings) -> None:
    settings.GREENLIGHT_MAX_REDRIVES = 1
    clip = ClipFactory(status=Clip.Status.PROCESSING)
    Clip.objects.filter(pk=clip.pk).update(created_at=timezone.now() - timedelta(minutes=5))

    assert asset_tasks.reconcile_clips() == {"redriven": 1, "gave_up": 0}  # never started
    assert no_enqueue[-1][0] == INGEST
    Lease.objects.filter(object_id=clip.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    assert asset_tasks.reconcile_clips() == {"redriven": 0, "gave_up": 1}

    clip.refresh_from_db()
    assert clip.status == Clip.Status.FAILED
    assert "lost 1 times" in clip.error


def test_reconcile_clips_fails_a_clip_past_its_deadline(no_enqueue, settings) -> None:
    settings.GREENLIGHT_INGEST_DEADLINE = 60
    clip = ClipFactory(status=Clip.Status.PROCESSING)
    Clip.objects.filter(pk=clip.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    Lease.objects.create(
        kind="ingest", object_id=clip.pk, expires_at=timezone.now() - timedelta(minutes=1)
    )

    asset_tasks.reconcile_clips()

    assert "not finished within 60 s" in Clip.objects.get(pk=clip.pk).error


def test_an_archive_that_keeps_failing_is_given_up_and_audited(
    monkeypatch, no_enqueue, settings
) -> None:
    settings.GREENLIGHT_MAX_ATTEMPTS = 2
    review = ReviewFactory(status=Review.Status.APPROVED, decided_at=timezone.now())

    def broken(*, review_id):
        raise asset_services.ArchiveError("bucket unreachable")

    monkeypatch.setattr(review_services, "review_archive", broken)
    _run(review_tasks.archive_review, review.pk, "", task_id="a1")
    token = no_enqueue[-1][1][1]
    _run(review_tasks.archive_review, review.pk, token, task_id="a2")

    assert Review.objects.get(pk=review.pk).status == Review.Status.APPROVED
    event = AuditEvent.objects.get(action="review.archive_failed")
    assert "gave up after 2 attempts: ArchiveError: bucket unreachable" in event.data["reason"]
    assert Lease.objects.get(kind="archive", object_id=review.pk).gave_up_at is not None
    # Given-up work is not re-driven by the reconciler.
    assert review_tasks.reconcile_reviews() == {"redriven": 0, "gave_up": 0}


def test_reconcile_reviews_redrives_an_approved_review_never_archived(no_enqueue) -> None:
    review = ReviewFactory(
        status=Review.Status.APPROVED, decided_at=timezone.now() - timedelta(minutes=5)
    )

    assert review_tasks.reconcile_reviews() == {"redriven": 1, "gave_up": 0}
    assert no_enqueue == [(ARCHIVE, (review.pk, Lease.objects.get(object_id=review.pk).token))]


def test_waiting_messages_are_not_redriven_while_workers_make_progress(no_enqueue) -> None:
    """Under a backlog a message waits as long as the queue is long; that is not a loss."""
    busy, waiting = (ClipFactory(status=Clip.Status.PROCESSING) for _ in range(2))
    old = timezone.now() - timedelta(minutes=5)
    Clip.objects.update(created_at=old)
    Lease.objects.create(kind="ingest", object_id=busy.pk, owner="w1", taken_at=timezone.now(),
                         expires_at=timezone.now() + timedelta(seconds=30))  # fmt: skip
    Lease.objects.create(kind="ingest", object_id=waiting.pk, expires_at=old)

    assert asset_tasks.reconcile_clips() == {"redriven": 0, "gave_up": 0}

    Lease.objects.filter(object_id=busy.pk).update(taken_at=old, expires_at=old)
    counts = asset_tasks.reconcile_clips()
    assert counts == {"redriven": 2, "gave_up": 0}  # the dead holder and the lost message


def test_scratch_sweep_removes_only_what_no_running_task_can_own(settings, tmp_path) -> None:
    settings.GREENLIGHT_PROVIDER_WORK_DIR = tmp_path / "provider"
    root = tmp_path / "scratch"
    (root / "greenlight-dl-old").mkdir(parents=True)
    (root / "greenlight-dl-old" / "video.mp4").write_bytes(b"x")
    (root / "greenlight-dl-new").mkdir()
    part = tmp_path / "provider" / "animatic" / ".abc.mp4.123.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(b"half")
    hour_ago = time.time() - 3600
    for path in (root / "greenlight-dl-old", part):
        os.utime(path, (hour_ago, hour_ago))

    assert scratch_sweep() == 2

    assert sorted(p.name for p in root.iterdir()) == ["greenlight-dl-new"]
    assert not part.exists()


# --- Database connections across tasks --------------------------------------------------------


def _task_boundaries(fixup) -> None:
    """What a worker runs around each task: Celery's Django fixup, then Greenlight's handlers."""
    from celery import signals

    for fixup_handler, signal in (
        (fixup.on_task_prerun, signals.task_prerun),
        (fixup.on_task_postrun, signals.task_postrun),
    ):
        fixup_handler(sender=tasks.drive_job)
        signal.send(sender=tasks.drive_job, task_id="t1", task=tasks.drive_job, args=(), kwargs={})


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks_as_conn_max_age_says() -> None:
    """Celery's Django fixup closes every connection around every task unless a reuse limit is
    set, so each drive_job paid a new PostgreSQL connection (TCP, auth, a forked backend:
    ~6 ms wall on the bench machine, more than the job's own queries). With the limit set,
    connections live as CONN_MAX_AGE says, and one that errored and cannot be used is closed
    at the task's end, as Django does after a request."""
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from config.celery import app

    fixup = DjangoWorkerFixup(app)
    max_age = connection.settings_dict["CONN_MAX_AGE"]
    connection.close()
    try:
        connection.settings_dict["CONN_MAX_AGE"] = 60
        connection.ensure_connection()
        kept = connection.connection
        for _ in range(3):
            _task_boundaries(fixup)
            GenerationJob.objects.exists()
        assert connection.connection is kept

        connection.settings_dict["CONN_MAX_AGE"] = 0  # Django's default: one per request
        connection.close()
        connection.ensure_connection()
        _task_boundaries(fixup)
        assert connection.connection is None
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.close()
