"""Reads for review: the queue and a clip's review with its stages and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from assets.models import Clip
from assets.selectors import CLIP_CAMPAIGN
from generation.models import AuditEvent, Brief, Campaign, GenerationJob
from generation.selectors import visible_to
from review.models import Decision, Notification, Review, Stage, StageStep
from review.services import DECIDING_ROLES, stage_deciders, step_verdicts

REVIEW_CAMPAIGN = f"clip__{CLIP_CAMPAIGN}"


def review_queue(*, user: Any) -> QuerySet[Review]:
    """Open reviews in the user's campaigns where they review or approve, oldest first."""
    qs = Review.objects.filter(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign", "clip__job"
    )
    qs = visible_to(qs, user=user, campaign=REVIEW_CAMPAIGN, roles=DECIDING_ROLES)
    return qs.order_by("created_at", "pk")


def recently_decided(*, user: Any, limit: int = 10) -> QuerySet[Review]:
    """The latest closed reviews in the user's campaigns, for the queue page's history."""
    qs = Review.objects.exclude(status__in=Review.OPEN).select_related(
        "stage", "clip__variant__brief__campaign"
    )
    qs = visible_to(qs, user=user, campaign=REVIEW_CAMPAIGN)
    return qs.order_by("-decided_at", "-pk")[:limit]


def review_for_clip(*, clip: Clip) -> Review | None:
    """The clip's review with its stage; None before the clip is ready."""
    return Review.objects.filter(clip=clip).select_related("stage").first()


@dataclass
class StageRow:
    stage: Stage
    step: StageStep | None
    decisions: list[Decision] = field(default_factory=list)


@dataclass
class Panel:
    """What the decision panel shows one user: every stage, who decides, who is still due."""

    review: Review
    rows: list[StageRow]
    step: StageStep | None
    deciders: list[Any]
    waiting_for: list[Any]
    mine: Decision | None
    can_decide: bool
    decisions: list[Decision]


def review_panel(*, review: Review, user: Any) -> Panel:
    """The review's stages (passed, open, still to come) and decisions, in fixed queries."""
    campaign_id = review.clip.variant.brief.campaign_id
    stages = list(Stage.objects.filter(campaign_id=campaign_id).order_by("position"))
    steps = {s.stage_id: s for s in review.steps.all()}
    decisions = list(
        Decision.objects.filter(review=review)
        .select_related("user", "stage", "reason")
        .order_by("created_at", "pk")
    )
    rows = []
    for stage in stages:
        step = steps.get(stage.pk)
        step_decisions = [d for d in decisions if step is not None and d.step_id == step.pk]
        rows.append(StageRow(stage=stage, step=step, decisions=step_decisions))
    step = next((s for s in steps.values() if s.is_open), None)
    deciders: list[Any] = []
    waiting_for: list[Any] = []
    mine = None
    if step is not None:
        step.stage = next(s for s in stages if s.pk == step.stage_id)
        deciders = list(stage_deciders(stage=step.stage))
        verdicts = step_verdicts(step=step)
        waiting_for = [u for u in deciders if u.pk not in verdicts]
        mine = verdicts.get(user.pk)
    named = any(u.pk == user.pk for u in deciders)
    can_decide = step is not None and review.is_open and mine is None and named
    return Panel(
        review=review,
        rows=rows,
        step=step,
        deciders=deciders,
        waiting_for=waiting_for,
        mine=mine,
        can_decide=can_decide,
        decisions=decisions,
    )


def campaign_audit_events(*, campaign: Campaign) -> QuerySet[AuditEvent]:
    """Every audit row about the campaign and what it holds, oldest first.

    Audit rows name their object by type and id (a string), so each kind of object is matched
    through a subquery of the campaign's ids cast to text: one query, however long the trail.
    """

    def ids(qs: QuerySet) -> Any:
        return qs.annotate(text_id=Cast("pk", CharField())).values("text_id")

    kinds = {
        "generation.campaign": ids(Campaign.objects.filter(pk=campaign.pk)),
        "generation.brief": ids(Brief.objects.filter(campaign=campaign)),
        "generation.generationjob": ids(
            GenerationJob.objects.filter(variant__brief__campaign=campaign)
        ),
        "assets.clip": ids(Clip.objects.filter(variant__brief__campaign=campaign)),
        "review.review": ids(Review.objects.filter(clip__variant__brief__campaign=campaign)),
    }
    match = Q()
    for object_type, object_ids in kinds.items():
        match |= Q(object_type=object_type, object_id__in=object_ids)
    return AuditEvent.objects.filter(match).select_related("actor").order_by("created_at", "pk")


def notifications_for(*, user: Any) -> QuerySet[Notification]:
    """The user's notifications, newest first, with their clip for the link text."""
    return Notification.objects.filter(recipient=user).order_by("-created_at", "-pk")
