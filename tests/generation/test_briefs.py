"""Brief services: draft, plan (preview), launch, and new versions that differ."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from generation import services
from generation.matrix import Axis, MatrixError, TemplateError, matrix_cells
from generation.models import AuditEvent, Brief, GenerationJob, Membership, Variant
from generation.providers.base import ProviderError, RequestRejected
from tests.factories import CampaignFactory, JobFactory, MembershipFactory, UserFactory
from tests.providers import ScriptedProvider, install

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_provider(monkeypatch):
    provider = type("Fake", (ScriptedProvider,), {"submit_calls": [], "cancel_calls": []})
    install(monkeypatch, provider)
    return provider


def _creator(campaign):
    return MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user


def _input(**overrides) -> services.BriefInput:
    data = services.BriefInput(
        title="Spring",
        prompt="{hook} in the {scene}, {aspect_ratio}",
        script="",
        scripts={"en": "Fresh: {hook}", "ja": "新鮮：{hook}"},
        shots="Fresh\nBright",
        hooks=[],
        axes=(Axis("hook", ("Wake up", "Good night")), Axis("scene", ("kitchen", "beach"))),
        aspect_ratios=["16:9"],
        durations=[3],
        languages=["en", "ja"],
        resolution="720p",
        provider="animatic",
    )
    return replace(data, **overrides)


def _draft(campaign=None, **overrides) -> tuple[Brief, object]:
    campaign = campaign or CampaignFactory(name="Launch")
    user = _creator(campaign)
    return services.brief_draft_save(campaign=campaign, user=user, data=_input(**overrides)), user


def test_draft_save_stores_the_brief_and_makes_nothing() -> None:
    brief, user = _draft()

    assert brief.status == Brief.Status.DRAFT
    assert brief.axes == [
        {"name": "hook", "values": ["Wake up", "Good night"]},
        {"name": "scene", "values": ["kitchen", "beach"]},
    ]
    assert brief.scripts == {"en": "Fresh: {hook}", "ja": "新鮮：{hook}"}
    assert brief.model == "animatic-v1"
    assert not Variant.objects.exists() and not GenerationJob.objects.exists()
    assert AuditEvent.objects.filter(action="brief.create", object_id=str(brief.pk)).exists()


def test_draft_save_edits_a_draft_but_not_a_launched_brief(no_enqueue) -> None:
    brief, user = _draft()

    edited = services.brief_draft_save(
        campaign=brief.campaign, user=user, data=_input(title="Summer"), brief=brief
    )
    assert (edited.pk, edited.title) == (brief.pk, "Summer")

    services.brief_launch(brief=brief, user=user)
    with pytest.raises(services.BriefNotReady):
        services.brief_draft_save(
            campaign=brief.campaign, user=user, data=_input(title="Autumn"), brief=brief
        )
    assert Brief.objects.get().title == "Summer"


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"languages": []}, MatrixError),
        ({"prompt": "{offer}"}, TemplateError),
        ({"scripts": {"ja": "{hook.x}"}}, TemplateError),
        ({"provider": "nope"}, ProviderError),
        ({"model": "animatic-v9"}, RequestRejected),
        ({"languages": ["en", "xx"]}, RequestRejected),
    ],
)
def test_draft_save_refuses_what_cannot_be_made(overrides, error) -> None:
    with pytest.raises(error):
        _draft(**overrides)

    assert not Brief.objects.exists()


def test_draft_save_needs_the_creator_role() -> None:
    campaign = CampaignFactory()
    reviewer = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user

    with pytest.raises(services.PermissionDenied):
        services.brief_draft_save(campaign=campaign, user=reviewer, data=_input())


def test_plan_counts_samples_and_prices_without_writing(fake_provider) -> None:
    brief, _user = _draft(provider="fake", model="fake-1")

    plan = services.brief_plan(brief=brief)

    assert (plan.count, plan.total_cells, plan.cap) == (8, 8, 100)
    # 8 variants x 3 s x $0.50.
    assert plan.estimate_usd == Decimal("12.0000")
    assert plan.per_model == [("fake-1", 8, Decimal("12.0000"))]
    assert [(s.language, s.prompt, s.script) for s in plan.samples] == [
        ("en", "Wake up in the kitchen, 16:9", "Fresh: Wake up"),
        ("en", "Wake up in the beach, 16:9", "Fresh: Wake up"),
        ("ja", "Wake up in the kitchen, 16:9", "新鮮：Wake up"),
        ("ja", "Wake up in the beach, 16:9", "新鮮：Wake up"),
    ]
    assert plan.missing_scripts == [] and plan.problems == []
    assert not Variant.objects.exists()


def test_launch_makes_the_chosen_variants_with_their_own_scripts_and_seeds(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    brief, user = _draft()
    cells = [c for c, _on in services.brief_plan(brief=brief).cells]
    dropped = cells[1]

    with django_capture_on_commit_callbacks(execute=True):
        services.brief_launch(brief=brief, user=user, exclude=[dropped.key])

    brief.refresh_from_db()
    assert brief.status == Brief.Status.LAUNCHED and brief.launched_at is not None
    assert brief.excluded_cells == [dropped.key]
    variants = list(brief.variants.order_by("position"))
    assert len(variants) == 7
    assert dropped.key not in {v.cell_key for v in variants}
    ja = next(v for v in variants if v.language == "ja")
    assert ja.script == "新鮮：" + ja.axis_values["hook"]
    assert ja.hook == ja.axis_values["hook"]
    assert len({v.seed for v in variants}) == 7
    jobs = GenerationJob.objects.filter(variant__brief=brief).order_by("variant__position")
    assert [j.request["seed"] for j in jobs] == [v.seed for v in variants]
    assert len(no_enqueue) == 7
    assert AuditEvent.objects.filter(action="brief.launch", object_id=str(brief.pk)).exists()


def test_a_hook_of_exactly_300_characters_is_stored_whole(no_enqueue) -> None:
    """The variant's hook column holds 300; the form and the matrix refuse anything longer,
    so PostgreSQL never sees a value it would refuse with a DataError."""
    hook = "h" * 300
    brief, user = _draft(axes=(Axis("hook", (hook,)),), prompt="{hook}", languages=["en"])

    services.brief_launch(brief=brief, user=user)

    assert Variant.objects.get().hook == hook
    with pytest.raises(MatrixError, match="301 characters"):
        _draft(axes=(Axis("hook", (hook + "h",)),), prompt="{hook}")


def test_launch_twice_is_refused(no_enqueue) -> None:
    brief, user = _draft()
    services.brief_launch(brief=brief, user=user)

    with pytest.raises(services.BriefNotReady, match="already launched"):
        services.brief_launch(brief=brief, user=user)

    assert Variant.objects.count() == 8


def test_a_language_without_a_script_cannot_be_launched(no_enqueue) -> None:
    brief, user = _draft(scripts={"en": "Hello"})

    assert services.brief_plan(brief=brief).missing_script_names == ["Japanese"]
    with pytest.raises(services.BriefNotReady) as excinfo:
        services.brief_launch(brief=brief, user=user)

    assert str(excinfo.value) == "write a voice-over script for Japanese before launching"
    assert not Variant.objects.exists()


def test_the_per_brief_cap_refuses_a_launch_with_a_clear_message(settings, no_enqueue) -> None:
    settings.GREENLIGHT_BRIEF_MAX_VARIANTS = 5
    brief, user = _draft()

    with pytest.raises(services.BriefNotReady) as excinfo:
        services.brief_launch(brief=brief, user=user)

    assert str(excinfo.value) == (
        "8 variants are chosen; one brief may launch at most 5. Untick 3 or use fewer values."
    )
    keys = [c.key for c, _on in services.brief_plan(brief=brief).cells]
    services.brief_launch(brief=brief, user=user, exclude=keys[:3])
    assert Variant.objects.count() == 5


def test_nothing_ticked_cannot_be_launched(no_enqueue) -> None:
    brief, user = _draft()
    keys = [
        c.key
        for c in matrix_cells(
            axes=brief.axis_list,
            aspect_ratios=brief.aspect_ratios,
            durations=brief.durations,
            languages=brief.languages,
        )
    ]

    with pytest.raises(services.BriefNotReady, match="every variant is unticked"):
        services.brief_launch(brief=brief, user=user, exclude=keys)


def test_launch_over_budget_writes_nothing(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("5.00"))
    brief, user = _draft(campaign, provider="fake", model="fake-1")

    with pytest.raises(services.BudgetExceeded):
        services.brief_launch(brief=brief, user=user)

    brief.refresh_from_db()
    assert brief.status == Brief.Status.DRAFT
    assert not Variant.objects.exists()


def test_launch_needs_the_creator_role(no_enqueue) -> None:
    brief, _user = _draft()
    approver = MembershipFactory(campaign=brief.campaign, role=Membership.Role.APPROVER).user

    with pytest.raises(services.PermissionDenied):
        services.brief_launch(brief=brief, user=approver)


# --- versions that differ ------------------------------------------------------------------


def test_job_create_takes_a_new_seed_unless_one_is_pinned(no_enqueue) -> None:
    first = JobFactory(status="failed", variant__seed=11, request={"seed": 11})

    second = services.job_create(variant=first.variant)
    assert second.request["seed"] not in (None, 11)
    second.status = "failed"
    second.save()

    third = services.job_create(variant=first.variant, seed=second.request["seed"])
    assert third.request["seed"] == second.request["seed"]


def test_variant_revise_edits_and_queues_the_next_version(no_enqueue) -> None:
    first = JobFactory(status="failed", variant__seed=7)
    variant = first.variant
    user = _creator(variant.brief.campaign)

    job = services.variant_revise(
        variant=variant,
        user=user,
        prompt="A brighter kitchen",
        script="Brighter.",
        shots="One\nTwo\nThree",
        notes="Too dark",
    )

    variant.refresh_from_db()
    assert (job.attempt, job.notes, job.requested_by) == (2, "Too dark", user)
    assert job.request["prompt"] == "A brighter kitchen"
    assert job.request["script"] == "Brighter."
    assert job.request["shots"] == ["One", "Two", "Three"]
    assert job.request["seed"] == variant.seed != 7
    assert AuditEvent.objects.filter(action="variant.revise", object_id=str(variant.pk)).exists()


def test_variant_revise_can_pin_the_seed(no_enqueue) -> None:
    first = JobFactory(status="failed", variant__seed=7)
    user = _creator(first.variant.brief.campaign)

    job = services.variant_revise(
        variant=first.variant, user=user, prompt="p", script="s", shots="", pin_seed=True
    )

    assert job.request["seed"] == 7


def test_variant_revise_needs_the_creator_role(no_enqueue) -> None:
    first = JobFactory(status="failed")

    with pytest.raises(services.PermissionDenied):
        services.variant_revise(
            variant=first.variant, user=UserFactory(), prompt="p", script="", shots=""
        )


# --- campaigns that launch only approved briefs ------------------------------------------------


def test_a_campaign_needing_approval_refuses_the_launch_until_an_approver_approves(
    no_enqueue,
) -> None:
    campaign = CampaignFactory(name="Careful", briefs_need_approval=True)
    brief, creator = _draft(campaign)
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user

    with pytest.raises(services.BriefNotReady) as excinfo:
        services.brief_launch(brief=brief, user=creator)
    assert str(excinfo.value) == (
        "Careful launches only approved briefs: an approver must approve this one first"
    )
    with pytest.raises(services.PermissionDenied):
        services.brief_approve(brief=brief, user=creator)

    services.brief_approve(brief=brief, user=approver)
    with pytest.raises(services.BriefNotReady, match="already approved"):
        services.brief_approve(brief=brief, user=approver)
    services.brief_launch(brief=brief, user=creator)

    brief.refresh_from_db()
    assert (brief.status, brief.approved_by) == (Brief.Status.LAUNCHED, approver)
    assert AuditEvent.objects.filter(action="brief.approve", object_id=str(brief.pk)).exists()


def test_editing_an_approved_draft_needs_approving_again(no_enqueue) -> None:
    campaign = CampaignFactory(briefs_need_approval=True)
    brief, creator = _draft(campaign)
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    services.brief_approve(brief=brief, user=approver)

    services.brief_draft_save(
        campaign=campaign, user=creator, data=_input(title="Changed"), brief=brief
    )

    brief.refresh_from_db()
    assert brief.approved_at is None and brief.awaits_approval
    with pytest.raises(services.BriefNotReady):
        services.brief_launch(brief=brief, user=creator)


def test_a_campaign_without_the_option_launches_unapproved_briefs(no_enqueue) -> None:
    brief, creator = _draft()

    assert not brief.awaits_approval
    services.brief_launch(brief=brief, user=creator)


# --- multi-shot ------------------------------------------------------------------------------


def test_multi_shot_makes_one_clip_per_shot_sharing_the_cell_seed(no_enqueue) -> None:
    brief, user = _draft(multi_shot=True, shots="Wake\nPour\nSip", languages=["en"])

    plan = services.brief_plan(brief=brief)
    assert (plan.total_cells, plan.count) == (4, 12)
    services.brief_launch(brief=brief, user=user)

    variants = list(brief.variants.order_by("position"))
    assert [v.shot_index for v in variants[:3]] == [1, 2, 3]
    assert [v.shot_list for v in variants[:3]] == [["Wake"], ["Pour"], ["Sip"]]
    assert variants[1].prompt.endswith("Shot 2 of 3: Pour")
    assert "shot 2" in variants[1].label
    seeds = [v.seed for v in variants]
    assert seeds[0] == seeds[1] == seeds[2] and len(set(seeds)) == 4
    job = variants[2].jobs.get()
    assert (job.request["shots"], job.request["seed"]) == (["Sip"], seeds[2])
