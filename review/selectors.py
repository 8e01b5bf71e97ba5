"""Reads for review: the queue and a clip's review with its stages and decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.paginator import Paginator
from django.db.models import CharField, Count, F, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Cast

from assets.models import Clip
from assets.selectors import CLIP_CAMPAIGN
from generation.models import AuditEvent, Brief, Campaign, GenerationJob
from generation.selectors import visible_to
from review import reads
from review.models import ClipTag, Comment, Decision, Notification, Review, Stage, StageStep, Tag
from review.services import is_guest_for, stage_deciders, step_verdicts

REVIEW_CAMPAIGN = f"clip__{CLIP_CAMPAIGN}"


@dataclass(frozen=True)
class QueueFilters:
    """What the queue page asks for; every field is optional except the scope."""

    scope: str = "mine"  # "mine": waiting for my decision; "all": open in my campaigns
    campaign: str = ""
    brief: int | None = None
    stage: str = ""
    tag: str = ""
    language: str = ""
    aspect: str = ""
    qc: str = ""  # "findings" or "passed"
    sort: str = "oldest"


SORTS = {
    "oldest": ("created_at", "pk"),
    "newest": ("-created_at", "-pk"),
    "due": (F("due_at").asc(nulls_last=True), "created_at", "pk"),
    "campaign": ("clip__variant__brief__campaign__name", "created_at", "pk"),
}


def deciding_stages(*, user: Any) -> QuerySet[Stage]:
    """Stages where `user` decides: named, in a named group or in a named campaign role.

    One filter() so the role condition applies to the user's own membership row.
    """
    return Stage.objects.filter(
        Q(campaign__memberships__user=user)
        & (
            Q(deciders=user)
            | Q(decider_groups__user=user)
            | Q(campaign__memberships__role="reviewer", member_roles__contains="reviewer")
            | Q(campaign__memberships__role="approver", member_roles__contains="approver")
        )
    ).values("pk")


def decided_reviews(*, user: Any) -> list[int]:
    """Open reviews where `user` has a standing decision at the open step (last row is not a
    retraction). Few: they wait only in all / N-of-M stages for the other deciders."""
    rows = (
        Decision.objects.filter(user=user, step__status=StageStep.Status.OPEN)
        .order_by("created_at", "pk")
        .values_list("review_id", "outcome")
    )
    standing = dict(rows)  # the last row per review wins
    return [pk for pk, outcome in standing.items() if outcome != Decision.Outcome.RETRACT]


def waiting_for(qs: QuerySet[Review], *, user: Any) -> QuerySet[Review]:
    """Narrow open reviews to those whose current stage waits for `user`'s decision."""
    return qs.filter(stage_id__in=deciding_stages(user=user)).exclude(
        pk__in=decided_reviews(user=user)
    )


def open_reviews_visible_to(*, user: Any) -> QuerySet[Review]:
    """Open reviews in the user's campaigns.

    An open review always stands at a stage (a constraint) and stages belong to campaigns, so
    visibility is checked on the few stages rather than joined through clip, variant and
    brief for every review: the queue's count and page stay cheap with 10,000 clips.
    """
    stages = visible_to(Stage.objects.all(), user=user, campaign="campaign").values("pk")
    return Review.objects.filter(status__in=Review.OPEN, stage_id__in=stages)


def review_queue(*, user: Any, filters: QueueFilters | None = None) -> QuerySet[Review]:
    """Open reviews for the queue: waiting for `user` (scope "mine") or all open ones in the
    user's campaigns, filtered and sorted; rows carry their clip, stage, due time and tags."""
    filters = filters or QueueFilters()
    open_step = StageStep.objects.filter(review=OuterRef("pk"), status=StageStep.Status.OPEN)
    qs = open_reviews_visible_to(user=user)
    if filters.scope != "all":
        qs = waiting_for(qs, user=user)
    if filters.campaign:
        qs = qs.filter(stage__campaign__slug=filters.campaign)
    if filters.brief:
        qs = qs.filter(clip__variant__brief_id=filters.brief)
    if filters.stage:
        qs = qs.filter(stage__name=filters.stage)
    if filters.tag:
        qs = qs.filter(clip__clip_tags__tag__name__iexact=filters.tag)
    if filters.language:
        qs = qs.filter(clip__variant__language=filters.language)
    if filters.aspect:
        qs = qs.filter(clip__variant__aspect_ratio=filters.aspect)
    if filters.qc == "findings":
        qs = qs.exclude(clip__qc=[])
    elif filters.qc == "passed":
        qs = qs.filter(clip__qc=[])
    elif filters.qc:
        # One kind of finding (black, loudness, ...): the clip's flags are keyed by code.
        qs = qs.filter(clip__qc_flags__has_key=filters.qc)
    if filters.sort == "due":
        qs = qs.annotate(due_at=Subquery(open_step.values("due_at")[:1]))
    return qs.order_by(*SORTS.get(filters.sort, SORTS["oldest"]))


def queue_rows(*, ids: list[int]) -> list[Review]:
    """The queue page's rows, in the order of `ids`, with clip, stage, due time and tags.

    The queue sorts and counts narrow review rows; only the page's rows are joined to their
    clips, so the page costs the same with 100 or 10,000 clips waiting.
    """
    open_step = StageStep.objects.filter(review=OuterRef("pk"), status=StageStep.Status.OPEN)
    tags = Prefetch("clip__clip_tags", queryset=ClipTag.objects.select_related("tag"))
    rows = (
        Review.objects.filter(pk__in=ids)
        .annotate(due_at=Subquery(open_step.values("due_at")[:1]))
        .select_related("stage", "clip__variant__brief__campaign")
        .prefetch_related(tags)
    )
    by_id = {row.pk: row for row in rows}
    return [by_id[pk] for pk in ids if pk in by_id]


def queue_choices(*, user: Any) -> dict[str, list]:
    """The values the queue's filters offer: the user's campaigns, their stages and tags."""
    campaigns = visible_to(Campaign.objects.all(), user=user)
    return {
        "campaigns": list(campaigns.values_list("slug", "name").order_by("name")),
        "stages": sorted(
            set(Stage.objects.filter(campaign__in=campaigns).values_list("name", flat=True))
        ),
        "tags": list(
            Tag.objects.filter(campaign__in=campaigns)
            .order_by("name")
            .values_list("name", flat=True)
            .distinct()
        ),
    }


def queue_neighbours(*, user: Any, review: Review) -> tuple[Review | None, Review | None]:
    """The reviews before and after `review` in the user's waiting queue (oldest first)."""
    qs = waiting_for(open_reviews_visible_to(user=user), user=user).select_related("clip")
    key = Q(created_at=review.created_at)
    before = (
        qs.filter(Q(created_at__lt=review.created_at) | (key & Q(pk__lt=review.pk)))
        .order_by("-created_at", "-pk")
        .first()
    )
    after = (
        qs.filter(Q(created_at__gt=review.created_at) | (key & Q(pk__gt=review.pk)))
        .order_by("created_at", "pk")
        .first()
    )
    return before, after


def clip_tags(*, clip: Clip) -> list[ClipTag]:
    return list(ClipTag.objects.filter(clip=clip).select_related("tag").order_by("tag__name"))


def campaign_tag_names(*, campaign_ids: Any) -> list[Tag]:
    """Tags to offer for autocomplete: the vocabulary first, then free tags."""
    return list(Tag.objects.filter(campaign_id__in=campaign_ids).order_by("-controlled", "name"))


def filter_by_tag(qs: QuerySet, *, clip: str, tag: str) -> QuerySet:
    """Narrow any queryset that reaches a clip through `clip` (e.g. "clip" for archive
    records) to clips carrying the tag `tag` (case-insensitive); used by the archive list."""
    if not tag:
        return qs
    return qs.filter(**{f"{clip}__clip_tags__tag__name__iexact": tag})


def recently_decided(*, user: Any, limit: int = 10) -> QuerySet[Review]:
    """The latest closed reviews in the user's campaigns, for the queue page's history."""
    qs = Review.objects.filter(decided_at__isnull=False).select_related(
        "stage", "clip__variant__brief__campaign"
    )
    qs = visible_to(qs, user=user, campaign=REVIEW_CAMPAIGN)
    return qs.order_by("-decided_at", "-pk")[:limit]


def review_for_clip(*, clip: Clip) -> Review | None:
    """The clip's review with its stage; None before the clip is ready."""
    review = Review.objects.filter(clip=clip).select_related("stage").first()
    if review is not None:
        review.clip = clip  # with the variant, brief and campaign the caller fetched
    return review


@dataclass
class StageRow:
    stage: Stage
    step: StageStep | None
    decisions: list[Decision] = field(default_factory=list)


DECISIONS_PAGE_SIZE = 20


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
    decision_page: Any = None


def review_panel(*, review: Review, user: Any, page: Any = None) -> Panel:
    """The review's stages (passed, open, still to come) and one page of its decisions
    (`page`, oldest first, DECISIONS_PAGE_SIZE a page), grouped by stage, in fixed queries.

    The review's decisions are read in one query (or come from the decision just taken): the
    open step's verdicts need its rows, and one review's rows are few (its deciders × its
    stages, plus retractions); only the page's rows are rendered.
    """
    stages = getattr(review, "campaign_stages", None)
    if stages is None:
        campaign_id = review.clip.variant.brief.campaign_id
        stages = reads.campaign_stages(campaign_id=campaign_id)
    written = getattr(review, "panel_steps", None)
    if written is None:
        written = reads.review_steps(review_id=review.pk)
    steps = {s.stage_id: s for s in written}
    decisions = getattr(review, "panel_decisions", None)
    if decisions is None:
        decisions = reads.review_decisions(review_id=review.pk)
    by_id = {stage.pk: stage for stage in stages}
    for decision in decisions:
        if decision.stage_id in by_id:
            decision.stage = by_id[decision.stage_id]
    decision_page = Paginator(decisions, DECISIONS_PAGE_SIZE).get_page(page)
    shown = list(decision_page.object_list)
    rows = []
    for stage in stages:
        step = steps.get(stage.pk)
        step_decisions = [d for d in shown if step is not None and d.step_id == step.pk]
        rows.append(StageRow(stage=stage, step=step, decisions=step_decisions))
    step = next((s for s in steps.values() if s.is_open), None)
    deciders: list[Any] = []
    waiting_for: list[Any] = []
    mine = None
    if step is not None:
        step.stage = next(s for s in stages if s.pk == step.stage_id)
        deciders = getattr(step, "panel_deciders", None)
        if deciders is None:
            deciders = list(stage_deciders(stage=step.stage))
        # `decisions` are every row of the review: the step's verdicts need no query of their own.
        own = [d for d in decisions if d.step_id == step.pk]
        verdicts = step_verdicts(step=step, decisions=own)
        waiting_for = [u for u in deciders if u.pk not in verdicts]
        mine = verdicts.get(user.pk)
    named = any(u.pk == user.pk for u in deciders)
    if not named and step is not None and step.stage.guests_decide:
        named = is_guest_for(user=user, clip=review.clip)
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
        decision_page=decision_page,
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


def clip_comments(*, clip: Clip) -> QuerySet[Comment]:
    """The clip's threads (top-level comments, oldest first) with authors and replies."""
    replies = Comment.objects.select_related("author").order_by("created_at", "pk")
    return (
        Comment.objects.filter(clip=clip, parent__isnull=True)
        .select_related("author", "resolved_by")
        .prefetch_related(Prefetch("replies", queryset=replies))
        .order_by("created_at", "pk")
    )


def comment_pages(*, clip: Clip, per_page: int) -> dict[int, int]:
    """Thread id → the page of the clip's comment list (oldest first) that shows it."""
    order = Comment.objects.filter(clip=clip, parent__isnull=True).order_by("created_at", "pk")
    return {pk: n // per_page + 1 for n, pk in enumerate(order.values_list("pk", flat=True))}


def comment_markers(*, clip: Clip, per_page: int) -> list[Comment]:
    """Every timecoded thread of the clip, light enough for the lane under the video, each
    with `page_number`: the page of the comment list (`per_page` threads, oldest first) that
    shows it, so a marker links to its thread wherever the list is paged.

    The lane shows every marker whatever page of the list is open: the player draws them on
    the timeline and a drawing shows on its frame (two queries at any number of comments).
    """
    pages = comment_pages(clip=clip, per_page=per_page)
    markers = list(
        Comment.objects.filter(clip=clip, parent__isnull=True, start_frame__isnull=False)
        .only("pk", "start_frame", "end_frame", "fps", "resolved_at", "body", "clip_id", "drawing")
        .order_by("start_frame", "pk")
    )
    for marker in markers:
        marker.page_number = pages.get(marker.pk, 1)
    return markers


def earlier_versions(*, clip: Clip) -> list[Clip]:
    """The other versions of the clip's variant, newest first, each with its review, the
    decisions taken on it and its count of comment threads — shown beside a new version."""
    decisions = Prefetch(
        "review__decisions",
        queryset=Decision.objects.select_related("user", "stage", "reason").order_by(
            "created_at", "pk"
        ),
    )
    return list(
        Clip.objects.filter(variant_id=clip.variant_id)
        .exclude(pk=clip.pk)
        .select_related("review")
        .prefetch_related(decisions)
        .annotate(threads=Count("comments", filter=Q(comments__parent__isnull=True)))
        .order_by("-version")
    )
