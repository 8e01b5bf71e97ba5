"""Findings from issue 9, each reproduced against the old code before it was fixed."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from generation.models import Membership
from review.models import Review
from tests.factories import ClipFactory, MembershipFactory, ReviewFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]
HTMX = {"HX-Request": "true"}


def _two_stage_review():
    from review import services

    clip = ClipFactory()
    campaign = clip.variant.brief.campaign
    first = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
    second = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    stages = services.campaign_stages(campaign=campaign)
    stages[0].member_roles = "reviewer"
    stages[0].save()
    services.stage_add(campaign=campaign, name="Brand", member_roles="approver")
    review = services.review_open(clip=clip)
    return review, first, second


def _step_value(client, review) -> str:
    page = client.get(review.clip.get_absolute_url()).content.decode()
    marker = 'name="step" value="'
    assert marker in page, "the decision form names its stage step"
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_double_clicked_approve_does_not_approve_the_next_stage(client, no_enqueue) -> None:
    review, first, _second = _two_stage_review()
    client.force_login(first)
    step = _step_value(client, review)
    url = reverse("review:clip_decide", args=[review.clip.uuid])

    client.post(url, {"outcome": "approve", "step": step}, headers=HTMX)
    again = client.post(url, {"outcome": "approve", "step": step}, headers=HTMX)

    review.refresh_from_db()
    assert review.status == Review.Status.IN_REVIEW
    assert review.stage.name == "Brand"
    assert "already decided at this stage" in again.content.decode()
    assert review.decisions.count() == 1


def test_staff_alone_is_not_a_campaign_role(client) -> None:
    review = ReviewFactory()
    ops = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(ops)

    assert client.get(review.clip.get_absolute_url()).status_code == 404
    assert client.get(reverse("home")).context["campaigns"].count() == 0


def test_a_closed_review_accepts_no_more_decisions(client, no_enqueue) -> None:
    review = ReviewFactory()
    user = MembershipFactory(
        campaign=review.clip.variant.brief.campaign, role=Membership.Role.APPROVER
    ).user
    client.force_login(user)
    url = reverse("review:clip_decide", args=[review.clip.uuid])
    step = _step_value(client, review)
    client.post(url, {"outcome": "reject", "note": "no", "step": step})

    again = client.post(url, {"outcome": "reject", "note": "still no", "step": step})

    assert again.status_code == 409
    assert review.decisions.count() == 1


def test_reviews_cannot_be_deleted_in_the_admin() -> None:
    review = ReviewFactory()
    request = RequestFactory().get("/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    assert admin.site._registry[Review].has_delete_permission(request, review) is False


def test_admin_access_follows_model_permissions(client) -> None:
    from django.contrib.auth.models import Permission

    review = ReviewFactory()
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    changelist = reverse("admin:review_review_changelist")
    stage_add = reverse("admin:review_stage_add")

    assert client.get(changelist).status_code == 403
    assert client.get(stage_add).status_code == 403

    staff.user_permissions.add(
        Permission.objects.get(codename="view_review"),
        Permission.objects.get(codename="add_stage"),
        Permission.objects.get(codename="delete_review"),
    )
    assert client.get(changelist).status_code == 200
    assert client.get(stage_add).status_code == 200
    # Even with the delete permission a review cannot be deleted: its clip would be stranded.
    delete = reverse("admin:review_review_delete", args=[review.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert Review.objects.filter(pk=review.pk).exists()
