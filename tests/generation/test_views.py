from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generation import selectors
from generation.models import Brief, GenerationJob, Membership
from generation.providers.base import Provider
from generation.views import VARIANTS_PAGE_SIZE
from tests.factories import (
    BriefFactory,
    CampaignFactory,
    ClipFactory,
    JobFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
    VariantFactory,
    brief_form_data,
)
from tests.providers import install, register_spec

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

HTMX = {"HX-Request": "true"}


def _member(campaign, role=Membership.Role.CREATOR):
    return MembershipFactory(campaign=campaign, role=role).user


def _form(**overrides) -> dict:
    values = {"prompt": "A green bottle, {aspect_ratio}", "script": "Fresh."}
    return brief_form_data(**{**values, **overrides})


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/campaigns/any/",
        "/campaigns/any/briefs/new/",
        "/briefs/1/",
        "/briefs/1/edit/",
        "/briefs/1/preview/",
        "/variants/1/revise/",
    ],
)
def test_login_required(client, url: str) -> None:
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_home_lists_only_my_campaigns(client) -> None:
    mine = CampaignFactory(name="Mine")
    CampaignFactory(name="Theirs")
    BriefFactory(campaign=mine)
    client.force_login(_member(mine, Membership.Role.REVIEWER))

    response = client.get("/")

    assert response.status_code == 200
    assert [c.name for c in response.context["campaigns"]] == ["Mine"]
    assert b"Theirs" not in response.content
    assert b"1 brief" in response.content


def test_home_for_staff_lists_only_their_campaigns(client) -> None:
    # Staff status is not a campaign role (issue 9).
    CampaignFactory(name="One")
    mine = MembershipFactory(campaign__name="Two", user=UserFactory(is_staff=True)).user
    client.force_login(mine)

    response = client.get("/")

    assert {c.name for c in response.context["campaigns"]} == {"Two"}


def test_home_without_campaigns(client) -> None:
    client.force_login(UserFactory())
    response = client.get("/")
    assert b"You are not a member of any campaign yet" in response.content


def test_campaign_detail_for_a_creator(client) -> None:
    campaign = CampaignFactory(name="Launch", budget_usd=Decimal("100"))
    brief = BriefFactory(campaign=campaign, title="Teaser")
    VariantFactory.create_batch(2, brief=brief)
    JobFactory(variant__brief=campaign.briefs.get(), cost_estimate_usd=Decimal("2.5"))
    client.force_login(_member(campaign))

    response = client.get(campaign.get_absolute_url())

    assert response.status_code == 200
    assert b"Teaser" in response.content
    assert response.context["spend"] == Decimal("2.5")
    assert b"$2.50 of $100" in response.content
    assert reverse("generation:brief_create", args=[campaign.slug]).encode() in response.content
    assert next(iter(response.context["briefs"])).variant_count == 3


def test_campaign_detail_pages_through_the_briefs_newest_first(client) -> None:
    campaign = CampaignFactory()
    briefs = [BriefFactory(campaign=campaign, title=f"Brief {n}") for n in range(52)]
    client.force_login(_member(campaign))

    first = client.get(campaign.get_absolute_url())
    second = client.get(campaign.get_absolute_url(), {"page": 2})

    assert [b.pk for b in first.context["briefs"]] == [b.pk for b in briefs[::-1][:50]]
    assert [b.pk for b in second.context["briefs"]] == [briefs[1].pk, briefs[0].pk]
    assert b"1\xe2\x80\x9350 of 52 briefs" in first.content
    assert b'aria-label="Brief pages"' in first.content
    assert b'href="?page=2"' in first.content


def test_campaign_detail_for_a_reviewer_has_no_new_brief_link(client) -> None:
    campaign = CampaignFactory()
    client.force_login(_member(campaign, Membership.Role.REVIEWER))

    response = client.get(campaign.get_absolute_url())

    assert response.status_code == 200
    assert b"New brief" not in response.content
    assert b"No briefs yet." in response.content


def test_campaign_detail_hides_other_campaigns(client) -> None:
    campaign = CampaignFactory()
    client.force_login(UserFactory())

    assert client.get(campaign.get_absolute_url()).status_code == 404
    assert client.get("/campaigns/no-such-campaign/").status_code == 404


# --- brief_create: a draft, then the preview -------------------------------------------------


def test_brief_create_get(client) -> None:
    campaign = CampaignFactory()
    client.force_login(_member(campaign))

    response = client.get(reverse("generation:brief_create", args=[campaign.slug]))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="prompt"' in content
    assert '<option value="animatic:animatic-v1" selected>Animatic v1</option>' in content
    assert 'name="axis_1_name"' in content and 'name="script_ja"' in content
    assert 'id="variant-count"' in content
    assert 'id="model-capabilities"' in content


def test_brief_create_post_saves_a_draft_and_generates_nothing(
    client, django_capture_on_commit_callbacks, no_enqueue
) -> None:
    campaign = CampaignFactory()
    user = _member(campaign)
    client.force_login(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("generation:brief_create", args=[campaign.slug]), _form())

    brief = Brief.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("generation:brief_preview", args=[brief.pk])
    assert (brief.campaign, brief.created_by, brief.title) == (campaign, user, "Launch teaser")
    assert brief.status == Brief.Status.DRAFT
    assert brief.scripts == {"en": "Fresh."}
    assert not GenerationJob.objects.exists()
    assert no_enqueue == []


def test_brief_create_post_invalid_shows_every_error(client, no_enqueue) -> None:
    campaign = CampaignFactory()
    client.force_login(_member(campaign))

    response = client.post(
        reverse("generation:brief_create", args=[campaign.slug]),
        _form(durations="2, 99", prompt="{price}", axis_1_name="hook", axis_1_values="a\na"),
    )

    assert response.status_code == 400
    content = response.content.decode()
    assert "&#x27;2&#x27;, &#x27;99&#x27; are not whole numbers of seconds from 3 to 15" in content
    assert "unknown slot &#x27;{price}&#x27; at line 1, column 1" in content
    assert "each value may appear once" in content
    assert not Brief.objects.exists()
    assert no_enqueue == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"axis_1_name": "hook", "axis_1_values": "h" * 301, "prompt": "{hook}"},
            "axis_1_values",
            "value 1 is longer than 300 characters",
        ),
        ({"durations": "²"}, "durations", "is not a whole number of seconds"),
        ({"model": "animatic:whatever"}, "model", "is not one of the available choices"),
        ({"shots": "\n".join("s" * 7)}, "shots", "7 shots do not fit in a 3 s clip"),
    ],
    ids=["hook-over-300", "unicode-digit", "unknown-model", "too-many-shots"],
)
def test_bad_input_is_a_400_with_a_form_error_never_a_500(
    client, overrides, field, message
) -> None:
    """These reached a 500 (or a failed job) before. The hook one was a DataError on
    PostgreSQL only: run this file with DATABASE_URL pointing at PostgreSQL to see it hold."""
    campaign = CampaignFactory()
    client.force_login(_member(campaign))

    response = client.post(
        reverse("generation:brief_create", args=[campaign.slug]), _form(**overrides)
    )

    assert response.status_code == 400
    assert message in response.context["form"].errors[field][0]
    assert not Brief.objects.exists()


def test_brief_create_for_a_non_member_is_404(client) -> None:
    campaign = CampaignFactory()
    client.force_login(UserFactory())

    url = reverse("generation:brief_create", args=[campaign.slug])
    assert client.get(url).status_code == 404
    assert client.post(url, _form()).status_code == 404


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.APPROVER])
def test_brief_create_for_a_member_without_creator_role_is_403(client, role) -> None:
    campaign = CampaignFactory()
    client.force_login(_member(campaign, role))

    url = reverse("generation:brief_create", args=[campaign.slug])
    assert client.get(url).status_code == 403
    assert client.post(url, _form()).status_code == 403
    assert not Brief.objects.exists()


def test_launch_over_budget_shows_the_service_error_on_the_preview(
    client, monkeypatch, no_enqueue
) -> None:
    class Paid(Provider):
        name = "paid"
        label = "Paid"

    register_spec("paid", "paid-1", "1.0")
    install(monkeypatch, Paid)
    campaign = CampaignFactory(name="Tight", budget_usd=Decimal("5"))
    client.force_login(_member(campaign))
    client.post(
        reverse("generation:brief_create", args=[campaign.slug]), _form(model="paid:paid-1")
    )
    brief = Brief.objects.get()

    preview = client.get(reverse("generation:brief_preview", args=[brief.pk]))
    assert "$6.00" in preview.content.decode()
    assert "The estimate is more than the campaign" in preview.content.decode()

    response = client.post(reverse("generation:brief_launch", args=[brief.pk]))

    assert response.status_code == 400
    assert b'data-testid="launch-error"' in response.content
    assert b"this needs $6.00 but Tight has $5.00 left" in response.content
    assert Brief.objects.get().status == Brief.Status.DRAFT
    assert not GenerationJob.objects.exists()


# --- brief_detail -----------------------------------------------------------------------------


def test_brief_detail_full_page(client) -> None:
    brief = BriefFactory(title="Teaser")
    queued = JobFactory(variant__brief=brief, variant__position=1)
    failed = JobFactory(
        variant__brief=brief, variant__position=2, status="failed", error="ffmpeg exploded"
    )
    review = ReviewFactory(clip__job__variant__brief=brief, clip__job__variant__position=3)
    client.force_login(_member(brief.campaign, Membership.Role.REVIEWER))

    response = client.get(brief.get_absolute_url())

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith("<!doctype html>")
    assert "<h1>Teaser</h1>" in content
    assert 'id="variant-progress"' in content
    assert 'hx-trigger="every 2s"' in content
    assert "ffmpeg exploded" in content
    assert review.clip.get_absolute_url() in content
    assert review.clip.poster_url in content
    assert response.context["progress"] == {
        "total": 3,
        "active": 1,
        "ready": 1,
        "failed": 1,
        "done": 2,
    }
    assert queued.variant.label in content
    assert failed.status == "failed"


def test_brief_detail_names_the_model_and_shows_billed_and_reserved_cost(client) -> None:
    brief = BriefFactory(provider="fal", model="alibaba/happy-horse/text-to-video")
    # Billed: a succeeded v1 and a failed v2 the provider charged for; reserved: one running.
    JobFactory(variant__brief=brief, succeeded=True, cost_usd=Decimal("0.70"))
    JobFactory(variant__brief=brief, status="failed", cost_usd=Decimal("0.14"))
    JobFactory(
        variant__brief=brief,
        status="running",
        provider_request_id="r1",
        cost_estimate_usd=Decimal("1.40"),
    )
    JobFactory(status="queued", cost_estimate_usd=Decimal("9"))  # another brief's
    client.force_login(_member(brief.campaign, Membership.Role.REVIEWER))

    content = client.get(brief.get_absolute_url()).content.decode()
    assert '<dd data-testid="model">HappyHorse 1.0 text-to-video (fal)</dd>' in content
    assert "$0.84 billed · $1.40 reserved while generating" in content

    # The htmx poll carries the cost too, so it settles without a reload.
    partial = client.get(brief.get_absolute_url(), headers=HTMX).content.decode()
    assert "$0.84 billed" in partial

    # A model the registry no longer lists shows as stored.
    gone = BriefFactory(campaign=brief.campaign, provider="fal", model="retired-model")
    assert "fal / retired-model" in client.get(gone.get_absolute_url()).content.decode()


def test_a_cut_offers_neither_language_versions_nor_an_edited_version(client) -> None:
    brief = BriefFactory()
    cut = ReviewFactory(
        status="approved",
        clip__job__succeeded=True,
        clip__job__variant__brief=brief,
        clip__job__variant__is_cut=True,
    )
    shot = ReviewFactory(
        status="approved", clip__job__succeeded=True, clip__job__variant__brief=brief
    )
    client.force_login(_member(brief.campaign))

    content = client.get(brief.get_absolute_url()).content.decode()

    shot_job, cut_job = shot.clip.job, cut.clip.job
    assert reverse("generation:job_localize", args=[shot_job.pk]) in content
    assert reverse("generation:variant_revise", args=[shot_job.variant.pk]) in content
    assert reverse("generation:job_localize", args=[cut_job.pk]) not in content
    assert reverse("generation:variant_revise", args=[cut_job.variant.pk]) not in content


def test_brief_detail_htmx_partial_while_active(client) -> None:
    job = JobFactory(status="running", provider_request_id="r1")
    brief = job.variant.brief
    client.force_login(_member(brief.campaign))

    response = client.get(brief.get_absolute_url(), headers=HTMX)

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<section id="variant-progress"')
    assert "<html" not in content
    assert "hx-trigger" in content
    assert f'hx-get="{brief.get_absolute_url()}"' in content


def test_brief_detail_htmx_partial_stops_polling_when_done(client) -> None:
    review = ReviewFactory()
    JobFactory(variant__brief=review.clip.variant.brief, status="failed")
    brief = review.clip.variant.brief
    client.force_login(_member(brief.campaign))

    response = client.get(brief.get_absolute_url(), headers=HTMX)

    assert response.status_code == 286
    content = response.content.decode()
    assert 'id="variant-progress"' in content
    assert "<html" not in content
    assert "hx-trigger" not in content
    assert "2 of 2 done" in content


def test_brief_detail_counts_a_processing_clip_as_active(client) -> None:
    clip = ClipFactory(status="processing", sha256="")
    brief = clip.variant.brief
    client.force_login(_member(brief.campaign))

    response = client.get(brief.get_absolute_url(), headers=HTMX)

    assert response.status_code == 200
    assert "Analysing the clip" in response.content.decode()


def test_brief_detail_for_a_non_member_is_404(client) -> None:
    brief = BriefFactory()
    client.force_login(UserFactory())

    assert client.get(brief.get_absolute_url()).status_code == 404
    assert client.get(brief.get_absolute_url(), headers=HTMX).status_code == 404


def _brief_with_variants(n: int) -> Brief:
    brief = BriefFactory()
    for position in range(1, n + 1):
        variant = VariantFactory(brief=brief, position=position)
        # A failed first attempt, then a second one that made a clip under review.
        JobFactory(variant=variant, attempt=1, status="failed")
        ReviewFactory(clip__job__variant=variant, clip__job__attempt=2)
    return brief


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_brief_detail_query_count_does_not_grow_with_variants(client, headers) -> None:
    small, large = _brief_with_variants(1), _brief_with_variants(50)
    user = UserFactory()
    for brief in (small, large):
        MembershipFactory(campaign=brief.campaign, user=user)
    client.force_login(user)
    client.get(small.get_absolute_url(), headers=headers)  # warm the session

    counts = []
    for brief in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(brief.get_absolute_url(), headers=headers)
        assert response.status_code in (200, 286)
        counts.append(len(queries))

    content = response.content.decode()
    assert content.count('class="variant card"') == VARIANTS_PAGE_SIZE
    assert "50 of 50 done" in content  # the progress counts every variant, not the page
    assert counts[0] == counts[1]


def test_brief_detail_pages_through_the_variants_and_polls_its_own_page(client) -> None:
    brief = _brief_with_variants(VARIANTS_PAGE_SIZE + 2)
    client.force_login(MembershipFactory(campaign=brief.campaign).user)
    JobFactory(variant=brief.variants.get(position=VARIANTS_PAGE_SIZE + 1), attempt=3)

    last = client.get(brief.get_absolute_url(), {"page": 2}).content.decode()
    assert last.count('class="variant card"') == 2
    assert f'id="variant-{VARIANTS_PAGE_SIZE + 1}"' in last
    assert 'id="variant-1"' not in last
    assert f'hx-get="{brief.get_absolute_url()}?page=2"' in last  # the poll keeps its page
    assert f"1 of {VARIANTS_PAGE_SIZE + 2} done" not in last
    assert f"{VARIANTS_PAGE_SIZE + 1} of {VARIANTS_PAGE_SIZE + 2} done" in last
    assert 'aria-label="Variant pages"' in last


def test_brief_progress_counts_each_variants_latest_attempt_in_sql(django_assert_num_queries):
    """Same rules as the page always had: generating or analysing is active, a ready clip is
    ready, a failed job or clip is failed, a variant without a job only counts in the total."""
    brief = BriefFactory()

    def variant(position, *attempts):
        made = VariantFactory(brief=brief, position=position)
        for attempt, (status, clip) in enumerate(attempts, start=1):
            if status == "succeeded":
                job = JobFactory(variant=made, attempt=attempt, succeeded=True)
            else:
                job = JobFactory(variant=made, attempt=attempt, status=status)
            if clip:
                ClipFactory(job=job, status=clip)
        return made

    variant(1, ("failed", None), ("queued", None))  # a retry running: active
    variant(2, ("succeeded", None))  # no clip yet: active
    variant(3, ("succeeded", "processing"))  # analysing: active
    variant(4, ("failed", None), ("succeeded", "ready"))  # ready
    variant(5, ("succeeded", "ready"), ("failed", None))  # the latest failed: failed
    variant(6, ("succeeded", "failed"))  # the clip failed: failed
    variant(7)  # nothing queued

    with django_assert_num_queries(2):
        progress = selectors.brief_progress(brief=brief)

    assert progress == {"total": 7, "active": 3, "ready": 1, "failed": 2, "done": 4}


def test_language_versions_link_across_variant_pages(client) -> None:
    brief = _brief_with_variants(VARIANTS_PAGE_SIZE + 1)
    source = brief.variants.get(position=1)
    version = brief.variants.get(position=VARIANTS_PAGE_SIZE + 1)
    version.source_job = source.jobs.order_by("-attempt").first()
    version.language = "ja"
    version.save()
    client.force_login(MembershipFactory(campaign=brief.campaign).user)

    first = client.get(brief.get_absolute_url()).content.decode()
    second = client.get(brief.get_absolute_url(), {"page": 2}).content.decode()

    position = VARIANTS_PAGE_SIZE + 1
    assert f'href="?page=2#variant-{position}">#{position} (ja)</a>' in first
    assert 'ja version of <a href="?page=1#variant-1">#1</a>' in second


def test_a_hosted_model_without_credentials_is_shown_and_refused_as_not_configured(
    client, settings
) -> None:
    settings.FAL_KEY = ""
    campaign = CampaignFactory()
    client.force_login(_member(campaign))
    url = reverse("generation:brief_create", args=[campaign.slug])

    page = client.get(url).content.decode()
    assert "fal.ai — not configured" in page

    response = client.post(url, _form(model="fal:alibaba/happy-horse/text-to-video"))
    assert response.status_code == 400
    assert "is not configured on this Greenlight" in response.context["form"].errors["model"][0]
    assert not Brief.objects.exists()

    settings.FAL_KEY = "key-id:key-secret"
    assert "fal.ai — not configured" not in client.get(url).content.decode()
