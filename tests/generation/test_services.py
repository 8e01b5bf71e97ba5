from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from generation import services
from generation.matrix import MatrixError, TemplateError
from generation.models import AuditEvent, Brief, GenerationJob, Membership, Variant
from generation.providers.base import (
    ProviderError,
)
from tests.factories import (
    CampaignFactory,
    JobFactory,
    MembershipFactory,
    UserFactory,
    VariantFactory,
)
from tests.providers import ScriptedProvider, install

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

Status = GenerationJob.Status
DRIVE = "generation.tasks.drive_job"


FakeProvider = ScriptedProvider


@pytest.fixture
def fake_provider(monkeypatch) -> type[ScriptedProvider]:
    provider = type("Fake", (ScriptedProvider,), {"submit_calls": [], "cancel_calls": []})
    install(monkeypatch, provider)
    return provider


def _creator(campaign):
    return MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user


def _input(**overrides) -> services.BriefInput:
    data = services.BriefInput(
        title="Spring",
        prompt="{hook} bottle, {aspect_ratio}, {duration}s",
        script="Fresh in {language}",
        shots="Fresh\nBright",
        hooks=["Wake up"],
        aspect_ratios=["16:9", "9:16"],
        durations=[3],
        languages=["en", "fr"],
        resolution="720p",
        provider="animatic",
    )
    return replace(data, **overrides)


def _audit(job) -> list[tuple[str, str, str]]:
    rows = AuditEvent.objects.filter(
        object_type="generation.generationjob", object_id=str(job.pk)
    ).order_by("pk")
    return list(rows.values_list("action", "from_state", "to_state"))


def _nothing_written() -> bool:
    return not (
        Brief.objects.exists() or Variant.objects.exists() or GenerationJob.objects.exists()
    )


# --- brief_create ------------------------------------------------------------------------------


def test_brief_create_makes_variants_and_jobs_and_enqueues_on_commit(
    django_capture_on_commit_callbacks, no_enqueue
) -> None:
    campaign = CampaignFactory(name="Launch")
    user = _creator(campaign)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        brief = services.brief_create(campaign=campaign, user=user, data=_input())
        assert no_enqueue == []

    variants = list(brief.variants.order_by("position"))
    assert len(variants) == 4
    assert variants[0].prompt == "Wake up bottle, 16:9, 3s"
    assert variants[0].script == "Fresh in en"
    assert brief.model == "animatic-v1"
    assert brief.created_by == user
    jobs = list(GenerationJob.objects.filter(variant__brief=brief).order_by("pk"))
    assert len(jobs) == 4
    assert {(j.status, j.attempt, j.provider, j.model) for j in jobs} == {
        (Status.QUEUED, 1, "animatic", "animatic-v1")
    }
    assert jobs[0].request["shots"] == ["Fresh", "Bright"]
    assert jobs[0].request["title"] == "Spring"
    assert {j.requested_by for j in jobs} == {user}
    assert len(callbacks) == 4
    assert no_enqueue == [(DRIVE, (j.pk, "")) for j in jobs]
    assert AuditEvent.objects.filter(action="brief.create", object_id=str(brief.pk)).exists()


def test_brief_create_by_staff_without_membership(no_enqueue) -> None:
    campaign = CampaignFactory()
    staff = UserFactory(is_staff=True)

    brief = services.brief_create(campaign=campaign, user=staff, data=_input())

    assert brief.variants.count() == 4


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.APPROVER, None])
def test_brief_create_needs_the_creator_role(role, no_enqueue) -> None:
    campaign = CampaignFactory()
    user = MembershipFactory(campaign=campaign, role=role).user if role else UserFactory()

    with pytest.raises(services.PermissionDenied):
        services.brief_create(campaign=campaign, user=user, data=_input())

    assert _nothing_written()


def test_brief_create_over_budget_writes_nothing(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("5.00"))
    user = _creator(campaign)

    # 4 variants x 3 s x $0.50 = $6.00.
    with pytest.raises(services.BudgetExceeded) as excinfo:
        services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    assert str(excinfo.value) == (
        f"this needs $6.00 but {campaign} has $5.00 left of its $5.00 budget"
    )
    assert _nothing_written()
    assert not AuditEvent.objects.filter(action="brief.create").exists()


def test_brief_create_counts_money_already_committed(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("10.00"))
    user = _creator(campaign)
    services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    with pytest.raises(services.BudgetExceeded):
        services.brief_create(campaign=campaign, user=user, data=_input(provider="fake"))

    assert Brief.objects.count() == 1
    assert services.campaign_spend(campaign=campaign) == Decimal("6.00")


def test_brief_create_unknown_provider(no_enqueue) -> None:
    campaign = CampaignFactory()

    with pytest.raises(ProviderError) as excinfo:
        services.brief_create(
            campaign=campaign, user=_creator(campaign), data=_input(provider="nope")
        )

    assert excinfo.value.code == "unknown_provider"
    assert _nothing_written()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [({"languages": []}, MatrixError), ({"prompt": "{offer}"}, TemplateError)],
)
def test_brief_create_bad_axes_or_template(overrides, error, no_enqueue) -> None:
    campaign = CampaignFactory()

    with pytest.raises(error):
        services.brief_create(campaign=campaign, user=_creator(campaign), data=_input(**overrides))

    assert _nothing_written()


# --- job_create ------------------------------------------------------------------------------


def test_job_create_queues_the_next_attempt(django_capture_on_commit_callbacks, no_enqueue) -> None:
    first = JobFactory(status=Status.FAILED)
    JobFactory(variant=first.variant, attempt=2, status=Status.CANCELED)
    user = UserFactory()

    with django_capture_on_commit_callbacks(execute=True):
        job = services.job_create(variant=first.variant, requested_by=user, notes="brighter")

    assert (job.attempt, job.status, job.notes, job.requested_by) == (
        3,
        Status.QUEUED,
        "brighter",
        user,
    )
    assert job.request["duration_s"] == first.variant.duration_s
    assert no_enqueue == [(DRIVE, (job.pk, ""))]
    assert _audit(job) == [("job.create", "", "")]
    assert first.variant.jobs.count() == 3


def test_job_create_respects_the_budget(fake_provider, no_enqueue) -> None:
    campaign = CampaignFactory(budget_usd=Decimal("1.00"))
    variant = VariantFactory(
        brief__campaign=campaign, brief__provider="fake", brief__model="fake-1", duration_s=3
    )

    with pytest.raises(services.BudgetExceeded):
        services.job_create(variant=variant)

    assert not GenerationJob.objects.exists()


# --- spend ---------------------------------------------------------------------------------


def test_campaign_spend_counts_spent_and_committed_money() -> None:
    campaign = CampaignFactory()
    other = CampaignFactory()

    def job(status, estimate, cost=None, campaign=campaign, **kwargs):
        return JobFactory(
            variant__brief__campaign=campaign,
            status=status,
            cost_estimate_usd=Decimal(estimate),
            cost_usd=cost,
            **kwargs,
        )

    assert services.campaign_spend(campaign=campaign) == Decimal("0")
    job(Status.SUCCEEDED, "9", Decimal("1.25"), provider_request_id="a")
    job(Status.QUEUED, "2")
    job(Status.RUNNING, "0.5", provider_request_id="b")
    job(Status.DOWNLOADING, "0.25", provider_request_id="c")
    job(Status.FAILED, "10")
    job(Status.CANCELED, "10")
    job(Status.QUEUED, "100", campaign=other)

    assert services.campaign_spend(campaign=campaign) == Decimal("4.00")
