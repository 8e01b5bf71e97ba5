from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.core.files import File
from django.core.files.storage import default_storage, storages
from django.db import IntegrityError, connection, transaction

from assets.models import ArchiveRecord, Clip
from assets.services import clip_ingest
from generation.models import AuditEvent, Membership
from review import reads, services
from review.models import Decision, Review, Rule, Stage, StageStep, StageTemplate
from tests.factories import (
    CampaignFactory,
    ClipFactory,
    JobFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = pytest.mark.usefixtures("fast_password_hasher")
db = pytest.mark.django_db

ARCHIVE = "review.tasks.archive_review"
Status = Review.Status


ALREADY = "already decided at this stage"


def _decider(review, role=Membership.Role.APPROVER):
    return MembershipFactory(campaign=review.clip.variant.brief.campaign, role=role).user


def _member(campaign, role=Membership.Role.REVIEWER):
    return MembershipFactory(campaign=campaign, role=role).user


def _workflow(*stages: dict):
    """A campaign whose stages are `stages` (name, rule, quorum, how many named deciders), with
    an open review of one clip; returns (review, {stage name: [deciders]})."""
    campaign = CampaignFactory()
    Stage.objects.filter(campaign=campaign).delete()
    people = {}
    for position, spec in enumerate(stages, start=1):
        deciders = [_member(campaign) for _ in range(spec.get("deciders", 1))]
        stage = Stage.objects.create(
            campaign=campaign,
            name=spec["name"],
            position=position,
            rule=spec.get("rule", Rule.ANY),
            quorum=spec.get("quorum", 1),
        )
        stage.deciders.set(deciders)
        people[spec["name"]] = deciders
    review = services.review_open(clip=ClipFactory(job__variant__brief__campaign=campaign))
    return review, people


def _archives(sent) -> list:
    """The archive tasks among those queued (notifications queue their own)."""
    return [task for task in sent if task[0] == ARCHIVE]


def _step(review) -> int:
    """The open step's id, as the clip page would put it in the decision form."""
    step = services.open_step(review=review) or review.steps.order_by("-pk").first()
    return step.pk


def _approve(review, user, **kw):
    return services.review_approve(review_id=review.pk, user=user, step_id=_step(review), **kw)


def _decide(review, user, outcome, **kw):
    return services.review_decide(
        review_id=review.pk, user=user, outcome=outcome, step_id=_step(review), **kw
    )


def _state(review) -> tuple[str, str, list[tuple[str, str]]]:
    review.refresh_from_db()
    steps = [(s.stage.name, s.status) for s in review.steps.select_related("stage")]
    return review.status, review.stage.name if review.stage_id else "", steps


def _review_events(review) -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(object_type="review.review", object_id=str(review.pk))
    return list(rows.order_by("pk").values_list("action", "from_state", "to_state"))


# --- stages belong to campaigns ---------------------------------------------------------------


@db
def test_a_new_campaign_copies_the_stage_templates_in_order() -> None:
    StageTemplate.objects.all().delete()
    legal = Group.objects.create(name="Legal")
    StageTemplate.objects.create(name="Creative", position=1, member_roles="reviewer")
    brand = StageTemplate.objects.create(
        name="Legal claims", position=2, rule=Rule.ALL, member_roles=""
    )
    brand.decider_groups.add(legal)

    campaign = CampaignFactory()

    stages = list(campaign.stages.order_by("position"))
    assert [(s.name, s.rule, s.member_roles) for s in stages] == [
        ("Creative", "any", "reviewer"),
        ("Legal claims", "all", ""),
    ]
    assert list(stages[1].decider_groups.all()) == [legal]
    # Editing a template later changes no campaign.
    StageTemplate.objects.filter(name="Creative").update(name="Changed")
    assert campaign.stages.filter(name="Creative").exists()


@db
def test_without_templates_a_campaign_gets_one_creative_review() -> None:
    StageTemplate.objects.all().delete()
    campaign = CampaignFactory()
    assert [(s.name, s.member_roles) for s in campaign.stages.all()] == [
        ("Creative review", "reviewer,approver")
    ]


@db
def test_review_open_is_idempotent_and_opens_the_first_step() -> None:
    review, _people = _workflow({"name": "Creative"}, {"name": "Brand"})
    again = services.review_open(clip=review.clip)

    assert again == review
    assert _state(review) == ("pending", "Creative", [("Creative", "open")])
    assert _review_events(review) == [("review.open", "", "pending")]


@db
def test_one_open_step_per_review_is_a_database_constraint() -> None:
    review, _people = _workflow({"name": "Creative"}, {"name": "Brand"})
    brand = Stage.objects.get(campaign=review.stage.campaign, name="Brand")

    with pytest.raises(IntegrityError), transaction.atomic():
        StageStep.objects.create(review=review, stage=brand)


@db
def test_due_time_sets_the_step_due_at() -> None:
    from datetime import timedelta

    campaign = CampaignFactory()
    campaign.stages.update(due_after=timedelta(hours=4))
    review = services.review_open(clip=ClipFactory(job__variant__brief__campaign=campaign))
    step = review.steps.get()
    assert step.due_at - step.opened_at == pytest.approx(
        timedelta(hours=4), abs=timedelta(seconds=2)
    )


# --- who decides ------------------------------------------------------------------------------


@db
def test_only_the_people_a_stage_names_decide_there() -> None:
    review, people = _workflow({"name": "Creative"}, {"name": "Brand"})
    campaign = review.stage.campaign
    creative, brand = people["Creative"][0], people["Brand"][0]
    outsider = UserFactory()
    approver_not_named = _member(campaign, Membership.Role.APPROVER)
    staff = UserFactory(is_staff=True, is_superuser=True)

    for user in (brand, outsider, approver_not_named, staff):
        with pytest.raises(services.NotAllowed, match="only the deciders named for Creative"):
            _approve(review, user)
    assert not Decision.objects.exists()

    _approve(review, creative)
    assert _state(review)[:2] == ("in_review", "Brand")
    # The same person may not carry the clip through the next gate.
    with pytest.raises(services.NotAllowed, match="only the deciders named for Brand"):
        _approve(review, creative)


@db
def test_groups_and_campaign_roles_name_deciders_who_are_campaign_members() -> None:
    review, _people = _workflow({"name": "Legal"})
    stage = review.stage
    legal = Group.objects.create(name="Legal")
    stage.decider_groups.add(legal)
    stage.member_roles = "approver"
    stage.save()
    lawyer = _member(stage.campaign, Membership.Role.REVIEWER)
    lawyer.groups.add(legal)
    lawyer_elsewhere = UserFactory()
    lawyer_elsewhere.groups.add(legal)
    approver = _member(stage.campaign, Membership.Role.APPROVER)

    deciders = set(services.stage_deciders(stage=stage))
    assert {lawyer, approver} <= deciders
    assert lawyer_elsewhere not in deciders
    assert services.can_decide(user=lawyer, review=review)
    assert not services.can_decide(user=lawyer_elsewhere, review=review)


# --- rules: every allowed and forbidden move ----------------------------------------------------


@db
def test_any_one_decider_passes_the_stage_and_a_colleague_is_then_refused() -> None:
    review, people = _workflow({"name": "Creative", "deciders": 2}, {"name": "Brand"})
    one, two = people["Creative"]
    step = review.steps.get()

    services.review_approve(review_id=review.pk, user=one, step_id=step.pk)
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        services.review_approve(review_id=review.pk, user=two, step_id=step.pk)

    assert _state(review) == (
        "in_review",
        "Brand",
        [("Creative", "passed"), ("Brand", "open")],
    )
    assert review.decisions.count() == 1


@db
def test_double_submit_with_the_same_step_never_counts_at_the_next_stage() -> None:
    review, people = _workflow({"name": "Creative"}, {"name": "Brand"})
    # The same person named at both stages: their second click names the first step.
    both = people["Creative"][0]
    Stage.objects.get(name="Brand", campaign=review.stage.campaign).deciders.add(both)
    step = review.steps.get()

    services.review_approve(review_id=review.pk, user=both, step_id=step.pk)
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        services.review_approve(review_id=review.pk, user=both, step_id=step.pk)

    assert _state(review)[:2] == ("in_review", "Brand")


@db
def test_all_rule_waits_for_every_decider() -> None:
    review, people = _workflow({"name": "Legal", "rule": Rule.ALL, "deciders": 3})
    a, b, c = people["Legal"]

    _approve(review, a)
    assert _state(review) == ("in_review", "Legal", [("Legal", "open")])
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        _approve(review, a)
    _approve(review, b)
    assert _state(review)[0] == "in_review"
    _approve(review, c)
    assert _state(review) == ("approved", "Legal", [("Legal", "passed")])


@db
def test_n_of_m_passes_at_the_quorum() -> None:
    review, people = _workflow({"name": "Brand", "rule": Rule.QUORUM, "quorum": 2, "deciders": 3})
    a, b, c = people["Brand"]

    _approve(review, a)
    assert _state(review)[0] == "in_review"
    _approve(review, b)
    assert _state(review)[0] == "approved"
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        _approve(review, c)


@db
@pytest.mark.parametrize(
    ("worst", "status", "step_status"),
    [
        ("reject", "rejected", "rejected"),
        ("request_changes", "changes_requested", "changes_requested"),
    ],
)
@pytest.mark.parametrize("rule", [Rule.ALL, Rule.QUORUM, Rule.ANY])
def test_the_worst_decision_in_a_stage_wins(rule, worst, status, step_status) -> None:
    review, people = _workflow(
        {"name": "Brand", "rule": rule, "quorum": 2, "deciders": 3}, {"name": "Legal"}
    )
    a, b, _c = people["Brand"]
    if rule != Rule.ANY:
        _approve(review, a)

    _decide(review, b, worst, note="logo too small")

    assert _state(review) == (status, "Brand", [("Brand", step_status)])
    review.refresh_from_db()
    assert review.decided_at is not None
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        _approve(review, _c)


@db
def test_retract_while_the_stage_is_open_is_a_new_row() -> None:
    review, people = _workflow({"name": "Legal", "rule": Rule.ALL, "deciders": 2})
    a, b = people["Legal"]

    with pytest.raises(services.ReviewError, match="no decision at this stage to retract"):
        services.review_retract(review_id=review.pk, user=a, step_id=_step(review))
    _approve(review, a)
    services.review_retract(review_id=review.pk, user=a, step_id=_step(review))

    assert [d.outcome for d in review.decisions.all()] == ["approve", "retract"]
    step = review.steps.get()
    assert services.step_verdicts(step=step) == {}
    _approve(review, b)
    assert _state(review)[0] == "in_review"  # a's approval no longer counts
    _approve(review, a)
    assert _state(review)[0] == "approved"
    # Once the stage has closed there is nothing to retract.
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        services.review_retract(review_id=review.pk, user=a, step_id=_step(review))


@db
def test_passing_every_stage_approves_and_archives_on_commit(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    review, people = _workflow({"name": "Creative"}, {"name": "Brand"})

    with django_capture_on_commit_callbacks(execute=True):
        _approve(review, people["Creative"][0], note=" nice ")
    assert _archives(no_enqueue) == []
    with django_capture_on_commit_callbacks(execute=True):
        decision = _approve(review, people["Brand"][0])

    assert _state(review) == ("approved", "Brand", [("Creative", "passed"), ("Brand", "passed")])
    assert decision.step.stage.name == "Brand"
    assert _archives(no_enqueue) == [(ARCHIVE, (review.pk,))]
    assert [d.note for d in review.decisions.all()] == ["nice", ""]
    assert _review_events(review) == [
        ("review.open", "", "pending"),
        ("review.approve", "pending", "in_review"),
        ("review.approve", "in_review", "approved"),
    ]


@db
@pytest.mark.parametrize("decide", [services.review_reject, services.review_request_changes])
def test_reject_and_request_changes_need_a_reason(decide, no_enqueue) -> None:
    review, people = _workflow({"name": "Creative"})
    for note in ("", "   "):
        with pytest.raises(services.ReviewError, match="needs a reason"):
            decide(
                review_id=review.pk, user=people["Creative"][0], note=note, step_id=_step(review)
            )
    assert _state(review)[0] == "pending"
    assert not Decision.objects.exists()


@db
def test_unknown_outcome_and_foreign_step() -> None:
    review, people = _workflow({"name": "Creative"})
    other, _ = _workflow({"name": "Creative"})
    user = people["Creative"][0]
    with pytest.raises(services.ReviewError, match="unknown decision 'maybe'"):
        _decide(review, user, "maybe")
    with pytest.raises(services.ReviewError, match="not part of this review"):
        services.review_approve(review_id=review.pk, user=user, step_id=other.steps.get().pk)


@db
@pytest.mark.parametrize("status", ["approved", "rejected", "changes_requested", "archived"])
def test_a_closed_review_accepts_no_more_decisions(status) -> None:
    review = ReviewFactory(status=status)
    user = _decider(review)
    with pytest.raises(services.ReviewClosed):
        _approve(review, user)
    with pytest.raises(services.ReviewClosed, match=ALREADY):
        services.review_approve(review_id=review.pk, user=user, step_id=review.steps.get().pk)
    assert not Decision.objects.exists()


@db
def test_decisions_are_append_only() -> None:
    review = ReviewFactory()
    decision = services.review_reject(
        review_id=review.pk, user=_decider(review), note="no", step_id=_step(review)
    )

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
    _approve(review, approver, note="lovely")

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
            "stage": review.stage.name,
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


# --- two deciders at once ----------------------------------------------------------------------


def _race(review, users, outcomes, by_clip: bool = False) -> list[BaseException]:
    """Two deciders at once; `by_clip` names the review as the clip page does (by the clip's
    uuid, locked in the query that checks the membership)."""
    step_id = _step(review)  # both read the page before either clicks
    named = {"clip_uuid": review.clip.uuid} if by_clip else {"review_id": review.pk}
    barrier = threading.Barrier(len(users))
    errors: list[BaseException] = []

    def decide(user, outcome) -> None:
        try:
            barrier.wait(timeout=10)
            services.review_decide(**named, user=user, outcome=outcome, note="why", step_id=step_id)
        except BaseException as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=decide, args=pair) for pair in zip(users, outcomes, strict=True)
    ]
    read_stages = reads.campaign_stages

    def slow_stages(**kwargs):
        # The first read after the lock dawdles, so that without the lock the other decider
        # would read the same open step meanwhile.
        time.sleep(0.3)
        return read_stages(**kwargs)

    with mock.patch.object(reads, "campaign_stages", slow_stages):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    return errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by_clip", [False, True], ids=["by-review", "by-clip"])
def test_concurrent_approvals_in_an_all_stage_are_both_recorded_and_approve_once(
    no_enqueue, by_clip
) -> None:
    review, people = _workflow({"name": "Legal", "rule": Rule.ALL, "deciders": 2})

    errors = _race(review, people["Legal"], ["approve", "approve"], by_clip=by_clip)

    assert errors == []
    assert _state(review) == ("approved", "Legal", [("Legal", "passed")])
    assert sorted(d.user_id for d in review.decisions.all()) == sorted(
        u.pk for u in people["Legal"]
    )
    assert _archives(no_enqueue) == [(ARCHIVE, (review.pk,))]


@pytest.mark.django_db(transaction=True)
def test_concurrent_approve_and_reject_both_recorded_and_reject_wins(no_enqueue) -> None:
    review, people = _workflow({"name": "Legal", "rule": Rule.ALL, "deciders": 2})

    errors = _race(review, people["Legal"], ["approve", "reject"])

    # Whichever came first, the rejection closes the stage; if it came first, the approval is
    # refused as too late, otherwise both are recorded.
    assert _state(review)[0] == "rejected"
    outcomes = sorted(d.outcome for d in review.decisions.all())
    assert outcomes in (["approve", "reject"], ["reject"])
    assert [str(e) for e in errors] == ([] if len(outcomes) == 2 else [ALREADY])
    assert _archives(no_enqueue) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by_clip", [False, True], ids=["by-review", "by-clip"])
def test_concurrent_approvals_in_an_any_stage_approve_once_and_refuse_the_second(
    no_enqueue, by_clip
) -> None:
    review, people = _workflow({"name": "Creative", "deciders": 2}, {"name": "Brand"})

    errors = _race(review, people["Creative"], ["approve", "approve"], by_clip=by_clip)

    assert [str(e) for e in errors] == [ALREADY]
    assert _state(review) == (
        "in_review",
        "Brand",
        [("Creative", "passed"), ("Brand", "open")],
    )
    assert review.decisions.count() == 1
