from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage, storages
from django.db import connection

from assets.models import ArchiveRecord, Clip
from assets.services import clip_ingest
from generation.models import AuditEvent, Membership
from review import services
from review.models import Decision, Review, Stage
from tests.factories import (
    ClipFactory,
    JobFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
    default_stage,
)

pytestmark = pytest.mark.usefixtures("fast_password_hasher")
db = pytest.mark.django_db

ARCHIVE = "review.tasks.archive_review"
Status = Review.Status


def _decider(review, role=Membership.Role.APPROVER):
    return MembershipFactory(campaign=review.clip.variant.brief.campaign, role=role).user


@pytest.fixture
def two_stages() -> tuple[Stage, Stage]:
    return default_stage(), Stage.objects.create(name="Brand", position=2)


def _review_events(review) -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(object_type="review.review", object_id=str(review.pk))
    return list(rows.order_by("pk").values_list("action", "from_state", "to_state"))


# --- opening ----------------------------------------------------------------------------------


@db
def test_review_open_is_idempotent_at_the_first_stage() -> None:
    Stage.objects.create(name="Legal", position=5)
    clip = ClipFactory()

    first = services.review_open(clip=clip)
    second = services.review_open(clip=clip)

    assert first == second
    assert (first.status, first.stage) == (Status.PENDING, default_stage())
    assert first.stage.position == 1
    assert _review_events(first) == [("review.open", "", "pending")]


@db
def test_review_open_recreates_a_stage_when_all_were_deleted() -> None:
    Stage.objects.all().delete()

    review = services.review_open(clip=ClipFactory())

    assert review.stage.name == "Creative review"


# --- deciding ---------------------------------------------------------------------------------


@db
def test_approve_at_the_last_stage_approves_and_archives_on_commit(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    review = ReviewFactory()
    user = _decider(review)

    with django_capture_on_commit_callbacks(execute=True):
        decision = services.review_approve(review_id=review.pk, user=user, note="  ship it ")
        assert no_enqueue == []

    review.refresh_from_db()
    assert review.status == Status.APPROVED
    assert review.decided_at is not None
    assert (decision.outcome, decision.note, decision.user, decision.stage) == (
        "approve",
        "ship it",
        user,
        default_stage(),
    )
    assert no_enqueue == [(ARCHIVE, (review.pk,))]
    assert _review_events(review) == [("review.approve", "pending", "approved")]


@db
def test_two_stages(two_stages, django_capture_on_commit_callbacks, no_enqueue) -> None:
    creative, brand = two_stages
    review = ReviewFactory(stage=creative)
    reviewer = _decider(review, Membership.Role.REVIEWER)
    approver = _decider(review)

    with django_capture_on_commit_callbacks(execute=True):
        services.review_approve(review_id=review.pk, user=reviewer)
    review.refresh_from_db()
    assert (review.status, review.stage) == (Status.IN_REVIEW, brand)
    assert review.decided_at is None
    assert no_enqueue == []

    with django_capture_on_commit_callbacks(execute=True):
        services.review_approve(review_id=review.pk, user=approver)
    review.refresh_from_db()
    assert (review.status, review.stage) == (Status.APPROVED, brand)
    assert no_enqueue == [(ARCHIVE, (review.pk,))]
    assert [(d.stage, d.user) for d in review.decisions.all()] == [
        (creative, reviewer),
        (brand, approver),
    ]
    assert _review_events(review) == [
        ("review.approve", "pending", "in_review"),
        ("review.approve", "in_review", "approved"),
    ]


@db
@pytest.mark.parametrize(
    ("decide", "outcome", "status"),
    [
        (services.review_reject, "reject", Status.REJECTED),
        (services.review_request_changes, "request_changes", Status.CHANGES_REQUESTED),
    ],
)
def test_reject_and_request_changes_need_a_reason(decide, outcome, status, no_enqueue) -> None:
    review = ReviewFactory()
    user = _decider(review, Membership.Role.REVIEWER)

    for note in ("", "   "):
        with pytest.raises(services.ReviewError) as excinfo:
            decide(review_id=review.pk, user=user, note=note)
        assert str(excinfo.value) == "say why: a rejection or change request needs a reason"
    assert Review.objects.get(pk=review.pk).status == Status.PENDING
    assert not Decision.objects.exists()

    decision = decide(review_id=review.pk, user=user, note="logo too small")

    review.refresh_from_db()
    assert review.status == status
    assert review.decided_at is not None
    assert (decision.outcome, decision.note) == (outcome, "logo too small")
    assert _review_events(review) == [(f"review.{outcome}", "pending", status)]
    assert no_enqueue == []


@db
def test_reject_at_a_later_stage(two_stages) -> None:
    creative, brand = two_stages
    review = ReviewFactory(stage=creative)
    user = _decider(review)
    services.review_approve(review_id=review.pk, user=user)

    services.review_reject(review_id=review.pk, user=user, note="off brand")

    review.refresh_from_db()
    assert (review.status, review.stage) == (Status.REJECTED, brand)
    assert review.decisions.last().stage == brand


@db
def test_unknown_outcome() -> None:
    review = ReviewFactory()
    with pytest.raises(services.ReviewError, match="unknown decision 'maybe'"):
        services.review_decide(review_id=review.pk, user=_decider(review), outcome="maybe")


@db
@pytest.mark.parametrize("role", [None, Membership.Role.CREATOR])
def test_non_deciders_are_not_allowed(role) -> None:
    review = ReviewFactory()
    user = _decider(review, role) if role else UserFactory()
    # A reviewer on another campaign does not count.
    MembershipFactory(user=user, role=Membership.Role.APPROVER)

    with pytest.raises(services.NotAllowed):
        services.review_approve(review_id=review.pk, user=user)

    assert Review.objects.get(pk=review.pk).status == Status.PENDING
    assert not Decision.objects.exists()


@db
def test_staff_may_decide(no_enqueue) -> None:
    review = ReviewFactory()
    services.review_approve(review_id=review.pk, user=UserFactory(is_staff=True))
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


@db
@pytest.mark.parametrize(
    ("first", "status"),
    [
        ("approve", Status.APPROVED),
        ("reject", Status.REJECTED),
        ("request_changes", Status.CHANGES_REQUESTED),
    ],
)
def test_a_closed_review_takes_concurring_decisions_only(first, status, no_enqueue) -> None:
    review = ReviewFactory()
    one, two = _decider(review), _decider(review)
    services.review_decide(review_id=review.pk, user=one, outcome=first, note="reason")
    decided_at = Review.objects.get(pk=review.pk).decided_at

    concur = services.review_decide(review_id=review.pk, user=two, outcome=first, note="agreed")

    review.refresh_from_db()
    assert (review.status, review.decided_at) == (status, decided_at)
    assert (concur.user, concur.outcome, concur.stage) == (two, first, review.stage)
    assert AuditEvent.objects.filter(action="review.concur", object_id=str(review.pk)).count()

    other = next(o for o in Decision.Outcome.values if o != first)
    with pytest.raises(services.ReviewClosed) as excinfo:
        services.review_decide(review_id=review.pk, user=two, outcome=other, note="no")
    assert str(excinfo.value) == f"this clip was already {review.get_status_display().lower()}"
    assert review.decisions.count() == 2
    assert Review.objects.get(pk=review.pk).status == status


@db
def test_an_archived_review_takes_no_decision() -> None:
    review = ReviewFactory(status=Status.ARCHIVED, stage=None)
    Decision.objects.create(
        review=review, stage=default_stage(), user=UserFactory(), outcome="approve"
    )

    with pytest.raises(services.ReviewClosed, match="already archived"):
        services.review_approve(review_id=review.pk, user=_decider(review))


@db
def test_decisions_are_append_only() -> None:
    review = ReviewFactory()
    decision = services.review_reject(review_id=review.pk, user=_decider(review), note="no")

    decision.note = "changed my mind"
    with pytest.raises(ValueError, match="append-only"):
        decision.save()
    with pytest.raises(ValueError, match="append-only"):
        decision.delete()
    assert Decision.objects.get().note == "no"


# --- archiving --------------------------------------------------------------------------------


@db
def test_review_archive_end_to_end(media_files, no_enqueue) -> None:
    job = JobFactory(
        succeeded=True,
        model="animatic-v1",
        request={"duration_s": 2, "aspect_ratio": "16:9", "audio": True},
    )
    with media_files.faststart.open("rb") as fh:
        name = default_storage.save(f"jobs/{job.pk}/video.mp4", File(fh))
    clip = ClipFactory(job=job, status=Clip.Status.PROCESSING, file=name, poster="", sha256="")
    clip_ingest(clip_id=clip.pk)
    review = Review.objects.get(clip=clip)  # opened by the clip_ready receiver
    approver = _decider(review)
    services.review_approve(review_id=review.pk, user=approver, note="lovely")

    archived = services.review_archive(review_id=review.pk)

    assert archived.status == Status.ARCHIVED
    record = ArchiveRecord.objects.get(clip=clip)
    archive = storages["archive"]
    archive_bytes = Path(archive.path(record.video_path)).read_bytes()
    assert hashlib.sha256(archive_bytes).hexdigest() == record.sha256
    assert record.sha256 == Clip.objects.get(pk=clip.pk).sha256
    assert archive_bytes == media_files.faststart.read_bytes()
    assert record.archived_by == approver
    sidecar = json.loads(Path(archive.path(record.sidecar_path)).read_text())
    assert sidecar["schema"] == "greenlight.archive/1"
    assert sidecar["generation"]["provider"] == "animatic"
    assert sidecar["generation"]["model"] == "animatic-v1"
    assert sidecar["generation"]["provider_request_id"] == job.provider_request_id
    assert sidecar["decisions"] == [
        {
            "stage": "Creative review",
            "user": approver.username,
            "outcome": "approve",
            "note": "lovely",
            "at": sidecar["decisions"][0]["at"],
        }
    ]
    assert sidecar["approved_at"]
    assert sidecar["campaign"]["slug"] == clip.variant.brief.campaign.slug
    assert sidecar["clip"]["sha256"] == record.sha256
    assert _review_events(review)[-1] == ("review.archive", "approved", "archived")

    # Again: nothing changes, nothing is copied twice.
    files = sorted(p for p in Path(archive.location).rglob("*") if p.is_file())
    assert services.review_archive(review_id=review.pk) is None
    assert sorted(p for p in Path(archive.location).rglob("*") if p.is_file()) == files


@db
def test_review_archive_leaves_unapproved_reviews_alone() -> None:
    review = ReviewFactory()
    assert services.review_archive(review_id=review.pk) is None
    assert not ArchiveRecord.objects.exists()


# --- two approvers at once ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_are_both_recorded_and_approve_once(no_enqueue) -> None:
    review = ReviewFactory()
    approvers = [_decider(review), _decider(review)]
    barrier = threading.Barrier(len(approvers))
    errors: list[BaseException] = []

    def approve(user) -> None:
        try:
            barrier.wait(timeout=10)
            services.review_approve(review_id=review.pk, user=user)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(user,)) for user in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    review.refresh_from_db()
    assert review.status == Status.APPROVED
    assert sorted(d.user_id for d in review.decisions.all()) == sorted(u.pk for u in approvers)
    assert {d.outcome for d in review.decisions.all()} == {"approve"}
    actions = sorted(a for a, _f, _t in _review_events(review))
    assert actions == ["review.approve", "review.concur"]
    assert no_enqueue == [(ARCHIVE, (review.pk,))]
