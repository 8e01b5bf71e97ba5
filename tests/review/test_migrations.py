"""The data migration gives existing campaigns the global stages and reviews their steps."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _migrate(target: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


@pytest.fixture
def back_to_latest():
    yield
    executor = MigrationExecutor(connection)
    _migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("back_to_latest")
def test_existing_campaigns_get_the_global_stages_and_reviews_get_steps() -> None:
    old = _migrate(
        [
            ("review", "0002_default_stage"),
            ("assets", "0001_initial"),
            ("generation", "0001_initial"),
        ]
    )
    User = old.get_model("auth", "User")
    Campaign = old.get_model("generation", "Campaign")
    Brief = old.get_model("generation", "Brief")
    Variant = old.get_model("generation", "Variant")
    Job = old.get_model("generation", "GenerationJob")
    Clip = old.get_model("assets", "Clip")
    Stage = old.get_model("review", "Stage")
    Review = old.get_model("review", "Review")
    Decision = old.get_model("review", "Decision")

    creative, _ = Stage.objects.get_or_create(position=1, defaults={"name": "Creative review"})
    brand = Stage.objects.create(name="Brand", position=2)
    user = User.objects.create(username="old-approver")
    reviews = []
    for n in range(2):
        campaign = Campaign.objects.create(name=f"C{n}", slug=f"c{n}")
        brief = Brief.objects.create(campaign=campaign, title="b", prompt="p")
        variant = Variant.objects.create(
            brief=brief,
            position=1,
            prompt="p",
            aspect_ratio="16:9",
            duration_s=3,
            language="en",
            resolution="720p",
        )
        job = Job.objects.create(
            variant=variant,
            provider="animatic",
            status="succeeded",
            provider_request_id=f"r{n}",
            output="x",
        )
        clip = Clip.objects.create(
            job=job, variant=variant, version=1, status="ready", file="f", sha256=f"{n:064d}"
        )
        reviews.append(Review.objects.create(clip=clip, stage=creative, status="pending"))
    # The second review passed creative review and waits at Brand.
    Decision.objects.create(review=reviews[1], stage=creative, user=user, outcome="approve")
    Review.objects.filter(pk=reviews[1].pk).update(stage=brand, status="in_review")

    new = _migrate([("review", "0005_campaign_stages_required")])
    Stage = new.get_model("review", "Stage")
    Review = new.get_model("review", "Review")
    StageTemplate = new.get_model("review", "StageTemplate")

    assert list(StageTemplate.objects.order_by("position").values_list("name", "member_roles")) == [
        ("Creative review", "reviewer,approver"),
        ("Brand", "reviewer,approver"),
    ]
    assert not Stage.objects.filter(campaign__isnull=True).exists()
    first, second = (Review.objects.get(pk=r.pk) for r in reviews)
    assert first.stage.campaign_id == first.clip.variant.brief.campaign_id
    assert [(s.stage.name, s.status) for s in first.steps.order_by("pk")] == [
        ("Creative review", "open")
    ]
    assert [(s.stage.name, s.status) for s in second.steps.order_by("pk")] == [
        ("Creative review", "passed"),
        ("Brand", "open"),
    ]
    decision = second.decisions.get()
    assert decision.step.stage.name == "Creative review"
    assert decision.stage.campaign_id == second.clip.variant.brief.campaign_id
