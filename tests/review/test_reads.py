"""The SQL reads of the approval path give what the ORM gives, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from generation.models import Membership
from review import reads, services
from review.models import Decision, RejectReason, Rule, Stage, StageStep
from tests.factories import MembershipFactory, ReviewFactory, UserFactory

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
