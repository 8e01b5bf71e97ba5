"""The SQL reads of a decision give what the ORM gives, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from generation.models import Membership
from review import reads, services
from review.models import Decision, RejectReason, Review, Rule, Stage, StageStep
from tests.factories import ClipFactory, MembershipFactory, ReviewFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher", "no_enqueue")]


def _review_with_history():
    """A review past its first stage with an approval; at the second (two of its approvers),
    an approval, its retraction and a rejection with a listed reason."""
    review = ReviewFactory()
    campaign = review.clip.variant.brief.campaign
    services.stage_add(
        campaign=campaign,
        name="Brand",
        rule=Rule.QUORUM,
        quorum=2,
        member_roles="approver",
        due_after=timedelta(days=1),
    )
    first = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    second = MembershipFactory(
        campaign=campaign,
        role=Membership.Role.APPROVER,
        user=UserFactory(first_name="Ada", last_name="Byron", email="ada@example.test"),
    ).user
    step = review.steps.get()
    services.review_decide(review_id=review.pk, user=first, outcome="approve", step_id=step.pk)
    brand = review.steps.get(status=StageStep.Status.OPEN)
    services.review_decide(review_id=review.pk, user=first, outcome="approve", step_id=brand.pk)
    services.review_decide(review_id=review.pk, user=first, outcome="retract", step_id=brand.pk)
    reason = RejectReason.objects.create(label="Off brief", position=1)
    services.review_decide(
        review_id=review.pk,
        user=second,
        outcome="reject",
        step_id=brand.pk,
        note="Off brief",
        reason=reason,
    )
    return review


def _values(rows) -> list[dict]:
    """Every column of each row, as its field converts it."""
    return [{f.attname: getattr(r, f.attname) for f in r._meta.concrete_fields} for r in rows]


def test_campaign_stages_are_the_campaigns_stages_in_order() -> None:
    review = _review_with_history()
    campaign_id = review.clip.variant.brief.campaign_id
    ReviewFactory()  # another campaign's stages stay out

    stages = reads.campaign_stages(campaign_id=campaign_id)

    expected = list(Stage.objects.filter(campaign_id=campaign_id).order_by("position"))
    assert _values(stages) == _values(expected)
    assert stages[1].due_after == timedelta(days=1)


def test_review_steps_are_its_steps_oldest_first_with_their_times() -> None:
    review = _review_with_history()

    steps = reads.review_steps(review_id=review.pk)

    expected = StageStep.objects.filter(review=review).order_by("opened_at", "pk")
    assert _values(steps) == _values(expected)
    assert [s.status for s in steps] == [StageStep.Status.PASSED, StageStep.Status.REJECTED]
    assert all(s.opened_at.tzinfo is not None and s.due_at is not None for s in steps[1:])


def test_review_decisions_come_with_their_users_and_reasons() -> None:
    review = _review_with_history()

    decisions = reads.review_decisions(review_id=review.pk)

    expected = list(Decision.objects.filter(review=review).order_by("created_at", "pk"))
    assert _values(decisions) == _values(expected)
    assert [d.outcome for d in decisions] == ["approve", "approve", "retract", "reject"]
    rejection = decisions[-1]
    assert rejection.user.get_full_name() == "Ada Byron"
    assert rejection.user.email == "ada@example.test"
    assert rejection.reason.label == "Off brief"
    assert decisions[0].reason is None
    assert [d.user.get_username() for d in decisions] == [e.user.get_username() for e in expected]


def test_review_decisions_read_nothing_more_for_the_panel(django_assert_num_queries) -> None:
    """Users and reasons come with the one query; a user field not read is deferred."""
    review = _review_with_history()

    with django_assert_num_queries(1):
        decisions = reads.review_decisions(review_id=review.pk)
        names = [(d.user.get_full_name(), d.user.get_username()) for d in decisions]
        labels = [d.reason.label for d in decisions if d.reason_id]
    assert names[-1][0] == "Ada Byron" and labels == ["Off brief"]
    with django_assert_num_queries(1):
        assert decisions[-1].user.date_joined <= timezone.now()


def test_review_to_decide_reads_the_clip_and_the_members_role() -> None:
    review = ReviewFactory(clip__qc=[{"severity": "warning", "message": "is short"}])
    clip = review.clip
    approver = MembershipFactory(
        campaign=clip.variant.brief.campaign, role=Membership.Role.APPROVER
    ).user

    with transaction.atomic():
        locked = reads.review_to_decide(clip_uuid=clip.uuid, user=approver)

    assert _values([locked]) == _values([review])
    assert locked.member_role == Membership.Role.APPROVER
    assert locked.clip.uuid == clip.uuid and isinstance(locked.clip.uuid, uuid.UUID)
    assert locked.clip.qc == [{"severity": "warning", "message": "is short"}]
    assert locked.clip.variant.is_cut is False
    brief = locked.clip.variant.brief
    assert (brief.title, brief.created_by_id) == (
        clip.variant.brief.title,
        clip.variant.brief.created_by_id,
    )
    assert brief.campaign.slug == clip.variant.brief.campaign.slug
    assert "analysis" in locked.clip.get_deferred_fields()  # left in the database


def test_review_to_decide_finds_nothing_for_a_non_member_or_a_clip_not_in_review() -> None:
    review = ReviewFactory()
    outsider = MembershipFactory(role=Membership.Role.APPROVER).user  # another campaign
    waiting = ClipFactory(variant=review.clip.variant, version=2)
    member = MembershipFactory(
        campaign=review.clip.variant.brief.campaign, role=Membership.Role.REVIEWER
    ).user

    with transaction.atomic(), pytest.raises(Review.DoesNotExist):
        reads.review_to_decide(clip_uuid=review.clip.uuid, user=outsider)
    with transaction.atomic(), pytest.raises(Review.DoesNotExist):
        reads.review_to_decide(clip_uuid=waiting.uuid, user=member)
    with transaction.atomic(), pytest.raises(Review.DoesNotExist):
        reads.review_to_decide(clip_uuid=uuid.uuid4(), user=member)


def test_review_to_decide_locks_the_review_row_only() -> None:
    review = ReviewFactory()
    member = MembershipFactory(
        campaign=review.clip.variant.brief.campaign, role=Membership.Role.REVIEWER
    ).user

    with transaction.atomic(), CaptureQueriesContext(connection) as captured:
        reads.review_to_decide(clip_uuid=review.clip.uuid, user=member)

    (sql,) = [q["sql"] for q in captured.captured_queries if "SELECT" in q["sql"]]
    if connection.features.has_select_for_update:
        assert sql.endswith("FOR UPDATE OF r")
    else:
        assert "FOR UPDATE" not in sql
