"""A rejected or change-requested clip can be generated again as the variant's next version."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from generation.models import GenerationJob, Membership
from review.models import Decision, Review
from tests.factories import JobFactory, MembershipFactory, ReviewFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rejected(no_enqueue):
    review = ReviewFactory(status=Review.Status.REJECTED)
    campaign = review.clip.variant.brief.campaign
    reviewer = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
    Decision.objects.create(
        review=review,
        step=review.steps.get(),
        stage=review.stage,
        user=reviewer,
        outcome="reject",
        note="Logo cropped",
    )
    return review


def _member(review, role):
    campaign = review.clip.variant.brief.campaign
    return MembershipFactory(campaign=campaign, role=role).user


def test_creator_sees_the_button_and_queues_the_next_version(
    rejected, client, no_enqueue, django_capture_on_commit_callbacks
):
    creator = _member(rejected, Membership.Role.CREATOR)
    client.force_login(creator)
    page = client.get(rejected.clip.get_absolute_url())
    assert b"Generate version 2" in page.content
    assert b'value="Logo cropped"' in page.content

    variant = rejected.clip.variant
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("generation:variant_regenerate", args=[variant.pk]),
            {"notes": "Logo cropped"},
        )
    assert response.status_code == 302
    assert response["Location"] == variant.brief.get_absolute_url()
    job = GenerationJob.objects.get(variant=variant, attempt=2)
    assert job.status == GenerationJob.Status.QUEUED
    assert job.notes == "Logo cropped"
    assert job.requested_by == creator
    assert ("generation.tasks.drive_job", (job.pk, "")) in no_enqueue
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Version 2 of #{variant.position} is queued."
    ]


def test_a_second_request_while_the_version_is_in_progress_is_refused(rejected, client):
    variant = rejected.clip.variant
    JobFactory(variant=variant, attempt=2)
    client.force_login(_member(rejected, Membership.Role.CREATOR))
    response = client.post(reverse("generation:variant_regenerate", args=[variant.pk]))
    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "version 2 of this variant is still in progress"
    ]
    assert variant.jobs.count() == 2


def test_reviewers_may_not_regenerate_and_do_not_see_the_button(rejected, client):
    client.force_login(_member(rejected, Membership.Role.REVIEWER))
    assert b"Generate version" not in client.get(rejected.clip.get_absolute_url()).content
    url = reverse("generation:variant_regenerate", args=[rejected.clip.variant.pk])
    assert client.post(url).status_code == 403
    assert rejected.clip.variant.jobs.count() == 1


def test_outsiders_get_404_and_get_is_not_allowed(rejected, client, django_user_model):
    url = reverse("generation:variant_regenerate", args=[rejected.clip.variant.pk])
    client.force_login(django_user_model.objects.create_user("stranger"))
    assert client.post(url).status_code == 404
    client.force_login(_member(rejected, Membership.Role.CREATOR))
    assert client.get(url).status_code == 405


def test_an_open_review_offers_no_new_version(client, no_enqueue):
    review = ReviewFactory(status=Review.Status.PENDING)
    client.force_login(_member(review, Membership.Role.CREATOR))
    assert b"Generate version" not in client.get(review.clip.get_absolute_url()).content


def test_versions_are_linked_from_the_brief_and_each_clip(rejected, client):
    from tests.factories import ClipFactory

    v1 = rejected.clip
    v2 = ClipFactory(job__variant=v1.variant, job__attempt=2, job__notes="Logo cropped")
    ReviewFactory(clip=v2)
    client.force_login(_member(rejected, Membership.Role.CREATOR))

    brief_page = client.get(v1.variant.brief.get_absolute_url()).content.decode()
    assert f'<a href="{v1.get_absolute_url()}">v1</a> (rejected)' in brief_page
    assert f'href="{v2.get_absolute_url()}"' in brief_page

    clip_page = client.get(v2.get_absolute_url()).content.decode()
    assert f'<a href="{v1.get_absolute_url()}">v1</a>' in clip_page
    assert "<strong>v2</strong>" in clip_page
    assert "Logo cropped" in clip_page


def test_the_clip_page_leads_to_the_edit_first_page_with_the_notes(rejected, client) -> None:
    client.force_login(_member(rejected, Membership.Role.CREATOR))
    page = client.get(rejected.clip.get_absolute_url()).content.decode()

    revise = reverse("generation:variant_revise", args=[rejected.clip.variant_id])
    assert f'href="{revise}?notes=Logo%20cropped"' in page
    assert "Edit and generate version 2" in page
    # A rejected clip is not a source for language versions.
    assert "Make language versions" not in page


@pytest.mark.parametrize(
    ("role", "shown"), [(Membership.Role.CREATOR, True), (Membership.Role.REVIEWER, False)]
)
def test_creators_make_language_versions_from_a_clip_in_review(client, role, shown) -> None:
    review = ReviewFactory(status=Review.Status.PENDING)
    client.force_login(_member(review, role))

    page = client.get(review.clip.get_absolute_url()).content.decode()

    link = reverse("generation:job_localize", args=[review.clip.job_id])
    assert (f'href="{link}"' in page) is shown


def test_earlier_versions_are_listed_without_a_trailing_separator(client) -> None:
    first = JobFactory(status=GenerationJob.Status.FAILED)
    JobFactory(variant=first.variant, attempt=2, status=GenerationJob.Status.FAILED)
    JobFactory(variant=first.variant, attempt=3)
    brief = first.variant.brief
    client.force_login(MembershipFactory(campaign=brief.campaign, role="creator").user)

    page = client.get(brief.get_absolute_url()).content.decode()

    earlier = page.split("Earlier:", 1)[1].split("</p>", 1)[0]
    assert "v1 (failed)" in earlier and "v2 (failed)" in earlier
    assert earlier.count("·") == 1 and not earlier.strip().endswith("·")
