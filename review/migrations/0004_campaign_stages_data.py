"""Give every campaign its own copy of the global stages, and every review its stage steps.

The global stages become the stage templates ops manage. Their deciders were, until now, every
reviewer and approver of the campaign, so the copies say exactly that. Each review gets one
step per stage it has decisions at (closed with the outcome of its last decision there) and an
open step at its current stage while it is open; decisions are re-pointed at the copies.
"""

from django.db import migrations

BOTH = "reviewer,approver"
REASONS = [
    "Does not follow the brief",
    "Off brand (logo, colour, tone)",
    "Claims or legal wording",
    "Picture or sound quality",
    "Wrong language or subtitles",
]
STEP_FOR = {"approve": "passed", "reject": "rejected", "request_changes": "changes_requested"}


def forwards(apps, schema_editor):
    Stage = apps.get_model("review", "Stage")
    StageTemplate = apps.get_model("review", "StageTemplate")
    StageStep = apps.get_model("review", "StageStep")
    Review = apps.get_model("review", "Review")
    Decision = apps.get_model("review", "Decision")
    Campaign = apps.get_model("generation", "Campaign")

    globals_ = list(Stage.objects.filter(campaign__isnull=True).order_by("position"))
    if not globals_:
        globals_ = [
            Stage.objects.create(
                name="Creative review",
                position=1,
                description="Does the clip follow the brief, and is it good enough to ship?",
            )
        ]
    if not StageTemplate.objects.exists():
        for stage in globals_:
            StageTemplate.objects.create(
                name=stage.name,
                position=stage.position,
                description=stage.description,
                member_roles=BOTH,
            )

    copies = {}  # (campaign id, global stage id) -> campaign stage
    for campaign in Campaign.objects.all():
        for stage in globals_:
            copies[campaign.pk, stage.pk] = Stage.objects.create(
                campaign=campaign,
                name=stage.name,
                position=stage.position,
                description=stage.description,
                member_roles=BOTH,
            )

    reviews = Review.objects.select_related("clip__variant__brief")
    for review in reviews:
        campaign_id = review.clip.variant.brief.campaign_id
        steps = {}
        for decision in Decision.objects.filter(review=review).order_by("created_at", "pk"):
            stage = copies[campaign_id, decision.stage_id]
            step = steps.get(stage.pk)
            if step is None:
                step = steps[stage.pk] = StageStep.objects.create(
                    review=review, stage=stage, status="passed", closed_at=decision.created_at
                )
            step.status = STEP_FOR.get(decision.outcome, step.status)
            step.closed_at = decision.created_at
            step.save(update_fields=["status", "closed_at"])
            Decision.objects.filter(pk=decision.pk).update(stage=stage, step=step)
        if review.stage_id is not None:
            current = copies[campaign_id, review.stage_id]
            Review.objects.filter(pk=review.pk).update(stage=current)
            if review.status in ("pending", "in_review"):
                StageStep.objects.update_or_create(
                    review=review, stage=current, defaults={"status": "open", "closed_at": None}
                )

    Stage.objects.filter(campaign__isnull=True).delete()

    RejectReason = apps.get_model("review", "RejectReason")
    for position, label in enumerate(REASONS, start=1):
        RejectReason.objects.get_or_create(label=label, defaults={"position": position})


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0001_initial"),
        ("review", "0003_campaign_stages"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
