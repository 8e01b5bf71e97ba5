"""The brief pages: edit a draft, preview it (htmx recount), untick cells, launch, revise."""

from __future__ import annotations

import pytest
from django.urls import reverse

from generation.models import Brief, GenerationJob, Membership, Variant
from review.models import Decision, Review
from tests.factories import (
    CampaignFactory,
    JobFactory,
    MembershipFactory,
    ReviewFactory,
    brief_form_data,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

HTMX = {"HX-Request": "true"}


def _form(**overrides) -> dict:
    values = {
        "prompt": "{hook} at the {scene}",
        "axis_1_name": "hook",
        "axis_1_values": "Wake up\nGood night",
        "axis_2_name": "scene",
        "axis_2_values": "kitchen\nbeach",
        "aspect_ratios": ["16:9"],
        "languages": ["en", "ja"],
        "script_en": "Fresh: {hook}",
        "script_ja": "新鮮な朝",
    }
    return brief_form_data(**{**values, **overrides})


@pytest.fixture
def creator_client(client):
    campaign = CampaignFactory(slug="launch")
    user = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    client.force_login(user)
    client.campaign = campaign
    return client


def _draft(client, **overrides) -> Brief:
    response = client.post(reverse("generation:brief_create", args=["launch"]), _form(**overrides))
    assert response.status_code == 302, response.content[:2000]
    return Brief.objects.latest("pk")


def test_preview_shows_count_cost_samples_per_language_and_the_matrix(creator_client) -> None:
    brief = _draft(creator_client)

    response = creator_client.get(reverse("generation:brief_preview", args=[brief.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert '<span class="big" data-testid="plan-count">8</span>' in content
    assert 'data-testid="plan-cost">$0.00</span>' in content
    assert "Animatic v1" in content
    assert "Wake up at the kitchen" in content
    assert "新鮮な朝" in content
    assert content.count('name="cell"') == 8
    assert not Variant.objects.exists()


def test_preview_htmx_recount_returns_only_the_summary(creator_client) -> None:
    brief = _draft(creator_client)
    plan = creator_client.get(reverse("generation:brief_preview", args=[brief.pk])).context["plan"]
    keys = [c.key for c, _on in plan.cells]

    response = creator_client.post(
        reverse("generation:brief_preview", args=[brief.pk]),
        {"cells-shown": "1", "cell": keys[:5]},
        headers=HTMX,
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<div id="plan-summary">')
    assert "<html" not in content
    assert '<span class="big" data-testid="plan-count">5</span>' in content


def test_launch_with_unticked_cells_makes_the_right_variants(
    creator_client, django_capture_on_commit_callbacks, no_enqueue
) -> None:
    brief = _draft(creator_client)
    plan = creator_client.get(reverse("generation:brief_preview", args=[brief.pk])).context["plan"]
    cells = [c for c, _on in plan.cells]
    kept = [c for c in cells if not (c.values["scene"] == "beach" and c.language == "ja")]

    with django_capture_on_commit_callbacks(execute=True):
        response = creator_client.post(
            reverse("generation:brief_launch", args=[brief.pk]),
            {"cells-shown": "1", "cell": [c.key for c in kept]},
        )

    assert response.status_code == 302
    assert response["Location"] == brief.get_absolute_url()
    made = {
        (v.axis_values["hook"], v.axis_values["scene"], v.language)
        for v in Variant.objects.filter(brief=brief)
    }
    assert made == {(c.values["hook"], c.values["scene"], c.language) for c in kept}
    assert len(made) == 6
    assert GenerationJob.objects.filter(variant__brief=brief).count() == 6
    page = creator_client.get(brief.get_absolute_url()).content.decode()
    assert "Wake up · kitchen · 16:9 · 3s · ja · 720p" in page
    assert "Draft" not in page


def test_launch_refuses_a_language_without_a_script(creator_client, no_enqueue) -> None:
    brief = _draft(creator_client, script_ja="")

    preview = creator_client.get(reverse("generation:brief_preview", args=[brief.pk]))
    assert "No Japanese script yet" in preview.content.decode()
    response = creator_client.post(reverse("generation:brief_launch", args=[brief.pk]))

    assert response.status_code == 400
    assert "write a voice-over script for Japanese before launching" in response.content.decode()
    assert not Variant.objects.exists()


def test_launch_over_the_cap_is_refused_with_the_number_to_untick(
    creator_client, settings, no_enqueue
) -> None:
    settings.GREENLIGHT_BRIEF_MAX_VARIANTS = 6
    brief = _draft(creator_client)

    preview = creator_client.get(reverse("generation:brief_preview", args=[brief.pk]))
    assert "Untick 2 or use fewer values." in preview.content.decode()
    response = creator_client.post(reverse("generation:brief_launch", args=[brief.pk]))

    assert response.status_code == 400
    assert "8 variants are chosen; one brief may launch at most 6. Untick 2" in (
        response.content.decode()
    )


def test_edit_a_draft_prefills_and_saves(creator_client) -> None:
    brief = _draft(creator_client)
    url = reverse("generation:brief_edit", args=[brief.pk])

    page = creator_client.get(url).content.decode()
    assert "Wake up\nGood night</textarea>" in page
    assert "新鮮な朝</textarea>" in page

    response = creator_client.post(url, _form(title="Renamed", axis_2_values="kitchen"))

    assert response.status_code == 302
    brief.refresh_from_db()
    assert brief.title == "Renamed"
    assert brief.axes[1] == {"name": "scene", "values": ["kitchen"]}
    assert Brief.objects.count() == 1


def test_a_launched_brief_cannot_be_edited_or_previewed(creator_client, no_enqueue) -> None:
    brief = _draft(creator_client)
    creator_client.post(reverse("generation:brief_launch", args=[brief.pk]))

    edit = creator_client.get(reverse("generation:brief_edit", args=[brief.pk]))
    preview = creator_client.get(reverse("generation:brief_preview", args=[brief.pk]))
    again = creator_client.post(reverse("generation:brief_launch", args=[brief.pk]))

    assert edit.status_code == preview.status_code == again.status_code == 302
    assert Variant.objects.count() == 8


def test_a_reviewer_may_preview_but_not_launch(client, no_enqueue) -> None:
    campaign = CampaignFactory(slug="launch")
    creator = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    reviewer = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
    client.force_login(creator)
    brief = _draft(client)
    client.force_login(reviewer)

    preview = client.get(reverse("generation:brief_preview", args=[brief.pk]))
    assert preview.status_code == 200
    assert 'data-testid="launch"' not in preview.content.decode()
    assert client.post(reverse("generation:brief_launch", args=[brief.pk])).status_code == 403
    assert client.get(reverse("generation:brief_edit", args=[brief.pk])).status_code == 403


def test_draft_brief_page_shows_the_template_slots_not_literal_braces(creator_client) -> None:
    brief = _draft(creator_client)

    page = creator_client.get(brief.get_absolute_url()).content.decode()

    assert '<span class="slot">hook</span> at the <span class="slot">scene</span>' in page
    assert "{hook}" not in page
    assert "Preview and launch" in page


def test_an_approver_approves_on_the_preview_then_the_creator_launches(client, no_enqueue) -> None:
    campaign = CampaignFactory(slug="launch", briefs_need_approval=True)
    creator = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    client.force_login(creator)
    brief = _draft(client)
    preview_url = reverse("generation:brief_preview", args=[brief.pk])

    waiting = client.get(preview_url).content.decode()
    assert 'data-testid="awaits-approval"' in waiting
    assert "Approve this brief" not in waiting
    assert 'data-testid="launch" disabled' in waiting
    refused = client.post(reverse("generation:brief_launch", args=[brief.pk]))
    assert refused.status_code == 400
    assert client.post(reverse("generation:brief_approve", args=[brief.pk])).status_code == 403

    client.force_login(approver)
    assert "Approve this brief" in client.get(preview_url).content.decode()
    approved = client.post(reverse("generation:brief_approve", args=[brief.pk]))
    assert approved.status_code == 302 and approved["Location"] == preview_url

    client.force_login(creator)
    page = client.get(preview_url).content.decode()
    assert 'data-testid="approved"' in page and 'data-testid="launch" disabled' not in page
    assert client.post(reverse("generation:brief_launch", args=[brief.pk])).status_code == 302
    assert Variant.objects.filter(brief=brief).count() == 8


# --- a new version with edits ----------------------------------------------------------------


@pytest.fixture
def changes_requested(no_enqueue):
    review = ReviewFactory(status=Review.Status.CHANGES_REQUESTED)
    campaign = review.clip.variant.brief.campaign
    reviewer = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER)
    Decision.objects.create(
        review=review,
        step=review.steps.get(),
        stage=review.stage,
        user=reviewer.user,
        outcome="request_changes",
        note="Make the kitchen brighter",
    )
    return review


def test_revise_page_prefills_the_variant_and_shows_reviewer_notes(
    client, changes_requested
) -> None:
    variant = changes_requested.clip.variant
    creator = MembershipFactory(campaign=variant.brief.campaign, role=Membership.Role.CREATOR).user
    client.force_login(creator)

    response = client.get(reverse("generation:variant_revise", args=[variant.pk]))

    assert response.status_code == 200
    content = response.content.decode()
    assert "Generate version 2 of #" in content
    assert f"{variant.prompt}</textarea>" in content
    assert "Make the kitchen brighter" in content
    assert response.context["form"].initial["notes"] == "Make the kitchen brighter"


def test_revise_post_queues_an_edited_version_with_a_new_seed(
    client, changes_requested, no_enqueue
) -> None:
    variant = changes_requested.clip.variant
    variant.seed = 5
    variant.save()
    creator = MembershipFactory(campaign=variant.brief.campaign, role=Membership.Role.CREATOR).user
    client.force_login(creator)

    response = client.post(
        reverse("generation:variant_revise", args=[variant.pk]),
        {"prompt": "Brighter kitchen", "script": "Bright!", "shots": "A\nB", "notes": "brighter"},
    )

    assert response.status_code == 302
    job = GenerationJob.objects.get(variant=variant, attempt=2)
    assert job.request["prompt"] == "Brighter kitchen"
    assert job.request["shots"] == ["A", "B"]
    assert job.request["seed"] != 5
    assert job.notes == "brighter"


def test_revise_refuses_too_many_shots_and_a_version_in_progress(client, no_enqueue) -> None:
    job = JobFactory(status="running", provider_request_id="r-1")
    creator = MembershipFactory(
        campaign=job.variant.brief.campaign, role=Membership.Role.CREATOR
    ).user
    client.force_login(creator)
    url = reverse("generation:variant_revise", args=[job.variant.pk])

    too_many = client.post(url, {"prompt": "p", "shots": "\n".join("abcdefg")})
    in_progress = client.post(url, {"prompt": "p", "shots": "a"})

    assert too_many.status_code == in_progress.status_code == 400
    assert "7 shots do not fit in a 3 s clip" in too_many.content.decode()
    assert "version 1 of this variant is still in progress" in in_progress.content.decode()


# --- language versions of a clip ------------------------------------------------------------


def _reviewed(status, **variant):
    review = ReviewFactory(
        status=status, **{f"clip__job__variant__{k}": v for k, v in variant.items()}
    )
    job = review.clip.job
    job.request = {
        "prompt": "A green bottle",
        "duration_s": 3,
        "language": "en",
        "script": "Fresh.",
        "shots": ["Fresh"],
        "seed": 42,
        "image_url": "http://testserver/media/references/1/a.png",
    }
    job.save()
    return review


def test_language_versions_keep_the_picture_and_seed_and_speak_their_own_script(
    client, no_enqueue
) -> None:
    review = _reviewed(Review.Status.PENDING, seed=42)
    job = review.clip.job
    brief = job.variant.brief
    creator = MembershipFactory(campaign=brief.campaign, role=Membership.Role.CREATOR).user
    client.force_login(creator)
    url = reverse("generation:job_localize", args=[job.pk])

    page = client.get(url)
    assert page.status_code == 200
    assert 'name="script_ja"' in page.content.decode()
    assert 'name="script_en"' not in page.content.decode()
    response = client.post(url, {"script_ja": "新鮮です。", "script_yue": "好新鮮。"})

    assert response.status_code == 302
    made = {v.language: v for v in Variant.objects.filter(source_job=job)}
    assert set(made) == {"ja", "yue"}
    for language, variant in made.items():
        version = variant.jobs.get()
        assert version.request["prompt"] == "A green bottle"
        assert version.request["seed"] == 42
        assert version.request["image_url"].endswith("/references/1/a.png")
        assert version.request["language"] == language
        assert version.request["script"] == variant.script
    assert made["ja"].script == "新鮮です。"

    detail = client.get(brief.get_absolute_url()).content.decode()
    assert "Language versions:" in detail
    assert f'ja version of <a href="#variant-{job.variant.position}">' in detail
    again = client.post(url, {"script_ja": "もう一度"})
    assert again.status_code == 400
    assert Variant.objects.filter(source_job=job).count() == 2


@pytest.mark.parametrize("status", [Review.Status.REJECTED, Review.Status.CHANGES_REQUESTED])
def test_no_language_versions_of_a_rejected_clip(client, status, no_enqueue) -> None:
    review = _reviewed(status)
    job = review.clip.job
    creator = MembershipFactory(
        campaign=job.variant.brief.campaign, role=Membership.Role.CREATOR
    ).user
    client.force_login(creator)

    response = client.post(
        reverse("generation:job_localize", args=[job.pk]), {"script_ja": "新鮮です。"}
    )

    assert response.status_code == 400
    assert "approved or in review" in response.content.decode()
    assert not Variant.objects.filter(source_job=job).exists()


def test_language_versions_need_a_script_and_the_creator_role(client, no_enqueue) -> None:
    review = _reviewed(Review.Status.APPROVED)
    job = review.clip.job
    campaign = job.variant.brief.campaign
    client.force_login(MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user)
    url = reverse("generation:job_localize", args=[job.pk])
    assert client.get(url).status_code == 403

    client.force_login(MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user)
    empty = client.post(url, {"script_ja": "  "})
    assert empty.status_code == 400
    assert "write the script of at least one language" in empty.content.decode()


def test_the_demo_brief_page_shows_no_literal_slot(client, settings, tmp_path, no_enqueue) -> None:
    """Seen by a new user: the demo brief's page showed `{hook}` as written."""
    from io import StringIO

    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    call_command("greenlight_demo", stdout=StringIO())
    brief = Brief.objects.get(title="Meet the Spring range")
    client.force_login(brief.created_by)

    page = client.get(brief.get_absolute_url()).content.decode()
    template = page.split('data-testid="prompt-template">', 1)[1].split("</dd>", 1)[0]

    assert "{" not in template and "}" not in template
    assert '<span class="slot">aspect_ratio</span>' in template
    assert all("{" not in v.prompt for v in brief.variants.all())


def test_preview_query_count_does_not_grow_with_the_matrix(creator_client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small = _draft(creator_client, axis_1_values="a", axis_2_values="b")
    large = _draft(
        creator_client,
        axis_1_values="\n".join(f"h{n}" for n in range(8)),
        axis_2_values="\n".join(f"s{n}" for n in range(8)),
    )
    counts = []
    for brief in (small, large):
        with CaptureQueriesContext(connection) as queries:
            response = creator_client.get(reverse("generation:brief_preview", args=[brief.pk]))
        assert response.status_code == 200
        counts.append(len(queries))

    assert response.context["plan"].total_cells == 128
    assert counts[0] == counts[1]
