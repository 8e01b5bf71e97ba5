"""Every registered ModelAdmin renders for a superuser, searched and filtered; job actions work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from assets.models import ArchiveRecord
from generation.audit import audit_record
from generation.models import GenerationJob, Lease, Membership, WebhookDelivery
from review.models import (
    Decision,
    Notification,
    NotificationPreference,
    ShareLink,
    Tag,
    TagPolicy,
)
from tests.factories import JobFactory, MembershipFactory, ReviewFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

MODEL_ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


@pytest.fixture
def superuser():
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def one_of_everything(superuser) -> None:
    """At least one row of every registered model, so change pages and filters have data."""
    review = ReviewFactory()
    clip = review.clip
    MembershipFactory(campaign=clip.variant.brief.campaign, role=Membership.Role.CREATOR)
    Decision.objects.create(
        review=review,
        step=review.steps.get(),
        stage=review.stage,
        user=superuser,
        outcome="reject",
        note="no",
    )
    ArchiveRecord.objects.create(
        clip=clip,
        video_path="a/b/v1.mp4",
        sidecar_path="a/b/v1.json",
        sha256=clip.sha256,
        size_bytes=1,
        provenance={},
    )
    audit_record(action="job.failed", obj=clip.job, from_state="running", to_state="failed")
    Group.objects.create(name="Ops")
    Lease.objects.create(kind=Lease.Kind.JOB, object_id=clip.job.pk, done=True)
    WebhookDelivery.objects.create(provider="fal", delivery_id="d1", request_id="r1")
    # Review's tags and notifications (issue 9).
    campaign = clip.variant.brief.campaign
    Tag.objects.create(campaign=campaign, name="Hero")
    TagPolicy.objects.create(campaign=campaign, free_tags=True)
    NotificationPreference.objects.create(user=superuser, email="digest")
    link = ShareLink.objects.create(
        campaign=campaign, label="Agency", expires_at=review.created_at + timedelta(days=7)
    )
    link.clips.add(clip)
    Notification.objects.create(
        recipient=superuser,
        kind="waiting",
        delivery="digest",
        clip=clip,
        subject="x waits for you",
        body="x",
        url="http://testserver/",
    )


def _url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _first_filter_query(model_admin, superuser) -> str:
    """The query string of the first choice, other than "All", of the first list filter."""
    request = RequestFactory().get(_url(model_admin.model, "changelist"))
    request.user = superuser
    changelist = model_admin.get_changelist_instance(request)
    for spec in changelist.filter_specs:
        for choice in spec.choices(changelist):
            if not choice["selected"]:
                return choice["query_string"]
    raise AssertionError(f"{model_admin} has no filter choice to apply")


@pytest.mark.parametrize(
    ("model", "model_admin"), MODEL_ADMINS, ids=[m._meta.label for m, _a in MODEL_ADMINS]
)
def test_changelist_search_filter_and_change_page(
    client, superuser, one_of_everything, model, model_admin
) -> None:
    client.force_login(superuser)
    changelist = _url(model, "changelist")

    assert client.get(changelist).status_code == 200
    if model_admin.search_fields:
        response = client.get(changelist, {"q": "x"})
        assert response.status_code == 200
        assert "q=x" in response.wsgi_request.get_full_path()
    if model_admin.list_filter:
        query = _first_filter_query(model_admin, superuser)
        response = client.get(f"{changelist}{query}&q=x")
        assert response.status_code == 200, query
        # An applied filter that Django did not understand would redirect with ?e=1.
        assert "e=1" not in response.wsgi_request.get_full_path()

    obj = model._default_manager.order_by("pk").first()
    assert obj is not None
    response = client.get(_url(model, "change", obj.pk))
    assert response.status_code == 200
    if model_admin.has_add_permission(response.wsgi_request):
        assert client.get(_url(model, "add")).status_code == 200


def test_job_admin_cancel_action(client, superuser, no_enqueue) -> None:
    queued = JobFactory()
    done = JobFactory(succeeded=True)
    client.force_login(superuser)

    response = client.post(
        _url(GenerationJob, "changelist"),
        {"action": "cancel_jobs", "_selected_action": [queued.pk, done.pk]},
        follow=True,
    )

    assert response.status_code == 200
    queued.refresh_from_db()
    done.refresh_from_db()
    assert queued.status == GenerationJob.Status.CANCELED
    assert done.status == GenerationJob.Status.SUCCEEDED
    messages = [str(m) for m in response.context["messages"]]
    assert "Canceled 1 job(s); any with a request at the provider end once it confirms." in messages
    assert f"GenerationJob {done.pk} cannot move from 'succeeded' to 'canceled'" in messages


def test_job_admin_retry_action(client, superuser, no_enqueue) -> None:
    failed = JobFactory(status=GenerationJob.Status.FAILED)
    client.force_login(superuser)

    client.post(
        _url(GenerationJob, "changelist"),
        {"action": "retry_jobs", "_selected_action": [failed.pk]},
    )

    attempts = list(failed.variant.jobs.order_by("attempt").values_list("attempt", "status"))
    assert attempts == [(1, "failed"), (2, "queued")]
