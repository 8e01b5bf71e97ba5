"""Writes for reviews: opening, deciding, archiving.

Every change of `Review.status` goes through these services: atomic, row locked with
`select_for_update()`, checked against `Review.TRANSITIONS`, audited. Decisions are appended,
never changed.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from assets.models import Clip
from assets.services import clip_archive
from generation.audit import audit_record
from generation.models import Campaign, Membership
from generation.sequences import cut_parts
from review import notifications, reads
from review.models import (
    ClipTag,
    Comment,
    Decision,
    Guest,
    MemberRoles,
    Notification,
    RejectReason,
    Review,
    Rule,
    ShareLink,
    Stage,
    StageStep,
    StageTemplate,
    Tag,
    TagPolicy,
)

DECIDING_ROLES = (Membership.Role.REVIEWER, Membership.Role.APPROVER)
ALREADY_DECIDED = "already decided at this stage"
STEP_STATUS = {
    Decision.Outcome.APPROVE: StageStep.Status.PASSED,
    Decision.Outcome.REJECT: StageStep.Status.REJECTED,
    Decision.Outcome.REQUEST_CHANGES: StageStep.Status.CHANGES_REQUESTED,
}


class ReviewError(Exception):
    """A decision that cannot be taken; the message says why, for the reviewer."""


class ReviewClosed(ReviewError):
    pass


class NotAllowed(ReviewError):
    pass


# --- stages -----------------------------------------------------------------------------------


def campaign_stages(*, campaign: Campaign) -> list[Stage]:
    """The campaign's stages in order, copied from the templates when it has none yet."""
    stages = list(Stage.objects.filter(campaign=campaign).order_by("position"))
    if not stages:
        stages = stages_copy_templates(campaign=campaign)
    return stages


@transaction.atomic
def stages_copy_templates(*, campaign: Campaign) -> list[Stage]:
    """Give a campaign a copy of the stage templates (a "Creative review" if there are none).

    Does nothing when the campaign has stages already. Locks the campaign row so two first
    clips of a new campaign cannot both copy.
    """
    Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    existing = list(Stage.objects.filter(campaign=campaign).order_by("position"))
    if existing:
        return existing
    templates = list(StageTemplate.objects.prefetch_related("decider_groups"))
    if not templates:
        templates = [
            StageTemplate(
                name="Creative review",
                position=1,
                description="Does the clip follow the brief, and is it good enough to ship?",
                member_roles=MemberRoles.BOTH,
            )
        ]
    stages = []
    for template in templates:
        stage = Stage.objects.create(
            campaign=campaign,
            name=template.name,
            position=template.position,
            description=template.description,
            rule=template.rule,
            quorum=template.quorum,
            due_after=template.due_after,
            member_roles=template.member_roles,
        )
        if template.pk is not None:
            stage.decider_groups.set(template.decider_groups.all())
        stages.append(stage)
    audit_record(action="campaign.stages", obj=campaign, stages=[stage.name for stage in stages])
    return stages


def stage_add(
    *,
    campaign: Campaign,
    name: str,
    rule: str = Rule.ANY,
    quorum: int = 1,
    member_roles: str = "",
    deciders: Iterable[Any] = (),
    due_after: timedelta | None = None,
) -> Stage:
    """Append a stage to the end of a campaign's stages."""
    stages = campaign_stages(campaign=campaign)
    stage = Stage.objects.create(
        campaign=campaign,
        name=name,
        position=(stages[-1].position + 1) if stages else 1,
        rule=rule,
        quorum=quorum,
        member_roles=member_roles,
        due_after=due_after,
    )
    stage.deciders.set(list(deciders))
    return stage


def stage_deciders(*, stage: Stage) -> QuerySet:
    """Users who decide at `stage`: campaign members named, in a named group or in a role."""
    # Named deciders by a join on the through table rather than a subquery: the same rows,
    # and a cheaper query to build on every decision.
    who = Q(deciding_stages=stage) | Q(groups__in=stage.decider_groups.all())
    if stage.roles:
        who |= Q(memberships__role__in=stage.roles)
    # One filter() so the role applies to the same membership row as the campaign.
    return (
        get_user_model()
        .objects.filter(Q(memberships__campaign_id=stage.campaign_id) & who)
        .distinct()
        .order_by("username")
    )


def step_verdicts(
    *, step: StageStep, decisions: Iterable[Decision] | None = None
) -> dict[int, Decision]:
    """Each user's standing decision at a step: their last row, unless it was a retraction.

    `decisions` are the step's rows when the caller has them already (saves a query).
    """
    rows = step.decisions.all() if decisions is None else decisions
    latest: dict[int, Decision] = {}
    for decision in sorted(rows, key=lambda d: (d.created_at, d.pk)):
        latest[decision.user_id] = decision
    return {u: d for u, d in latest.items() if d.outcome != Decision.Outcome.RETRACT}


def _step_outcome(
    *, step: StageStep, decider_ids: set[int], decisions: list[Decision]
) -> str | None:
    """The outcome that closes the step now, or None while it stays open.

    The worst standing decision wins: one rejection rejects, one change request asks for
    changes; otherwise the stage passes once enough deciders approve for its rule.
    """
    verdicts = step_verdicts(step=step, decisions=decisions)
    outcomes = {d.outcome for d in verdicts.values()}
    for worst in (Decision.Outcome.REJECT, Decision.Outcome.REQUEST_CHANGES):
        if worst in outcomes:
            return worst
    # Everyone with a standing verdict was allowed to decide when they did (a named decider,
    # or a guest where the stage lets guests decide): their approvals count towards any one
    # and N of M; "all" means every named decider.
    approvals = {u for u, d in verdicts.items() if d.outcome == Decision.Outcome.APPROVE}
    stage = step.stage
    if stage.rule == Rule.ALL:
        passed = bool(decider_ids) and decider_ids <= approvals
    elif stage.rule == Rule.QUORUM:
        passed = len(approvals) >= max(1, min(stage.quorum, len(decider_ids) or 1))
    else:
        passed = bool(approvals)
    return Decision.Outcome.APPROVE if passed else None


def _step_open(*, review: Review, stage: Stage) -> StageStep:
    now = timezone.now()
    due_at = now + stage.due_after if stage.due_after else None
    return StageStep.objects.create(review=review, stage=stage, due_at=due_at)


def can_decide(*, user: Any, review: Review, step: StageStep | None = None) -> bool:
    """True when `user` is one of the deciders of the review's open step."""
    if not user.is_authenticated or not review.is_open:
        return False
    stage = step.stage if step is not None else review.stage
    return stage_deciders(stage=stage).filter(pk=user.pk).exists()


def open_step(*, review: Review) -> StageStep | None:
    return review.steps.filter(status=StageStep.Status.OPEN).select_related("stage").first()


# --- reviews ----------------------------------------------------------------------------------


@transaction.atomic
def review_open(*, clip: Clip) -> Review:
    """Open the review of a ready clip at the campaign's first stage (idempotent)."""
    stages = campaign_stages(campaign=clip.variant.brief.campaign)
    review, created = Review.objects.get_or_create(clip=clip, defaults={"stage": stages[0]})
    if created:
        step = _step_open(review=review, stage=stages[0])
        audit_record(
            action="review.open",
            obj=review,
            to_state=review.status,
            clip=str(clip.uuid),
            stage=stages[0].name,
        )
        notifications.notify_step_opened(step=step)
    return review


@transaction.atomic
def review_decide(
    *,
    review_id: int | None = None,
    clip_id: int | None = None,
    clip: Clip | None = None,
    user: Any,
    outcome: str,
    step_id: int,
    note: str = "",
    reason: RejectReason | None = None,
    clip_uuid: Any = None,
) -> Decision:
    """Record a decision at the review's open stage step and move the review.

    Locks the review row, so decisions on one review are serialised. `step_id` is the step the
    reviewer saw (the form carries it); a step that is no longer open, or one this user has
    already decided at, refuses with "already decided at this stage" and writes nothing, so a
    double-clicked Approve can never count at the next stage. `step_id` is required for that
    reason: "whatever stage is open now" is exactly the bug it prevents. Raises NotAllowed for
    users the stage does not name, ReviewClosed for a closed review or step, ReviewError for
    bad input. Approval at the last stage queues the archive copy after commit. The review is
    named by `review_id`, by its `clip_id`, by the `clip` itself when the caller has it with its
    variant, brief and campaign (a guest's page does), or by `clip_uuid`, among the clips the user
    may see as a campaign member (the clip page: `reads.review_to_decide` checks the
    membership, locks the review and reads its clip and the user's campaign role as
    `member_role` in one query; Review.DoesNotExist when there is none).

    The decision is taken from what this transaction read after the lock and wrote; the
    review carries it for the caller's panel (`campaign_stages`, `panel_steps`,
    `panel_decisions`, and `panel_deciders` on open steps), so the panel reads nothing again.
    """
    if clip_uuid is not None:
        review = reads.review_to_decide(clip_uuid=clip_uuid, user=user)
    elif clip is not None:
        # The caller fetched the clip with its variant, brief and campaign: lock the narrow
        # review row alone.
        review = Review.objects.select_for_update().get(clip_id=clip.pk)
        review.clip = clip
    else:
        lookup = {"pk": review_id} if review_id is not None else {"clip_id": clip_id}
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("clip__variant__brief__campaign", "clip__variant__brief__created_by")
            .get(**lookup)
        )
    if outcome not in Decision.Outcome.values:
        raise ReviewError(f"unknown decision {outcome!r}")
    note = note.strip()
    if outcome in (Decision.Outcome.REJECT, Decision.Outcome.REQUEST_CHANGES) and not note:
        raise ReviewError("say why: a rejection or change request needs a reason")
    # The campaign's stages serve the step lookup, the move to the next stage and the panel.
    stages = reads.campaign_stages(campaign_id=review.clip.variant.brief.campaign_id)
    by_id = {s.pk: s for s in stages}
    steps = reads.review_steps(review_id=review.pk)
    for each in steps:
        if each.stage_id in by_id:
            each.stage = by_id[each.stage_id]
    step = next((s for s in steps if s.pk == step_id), None)
    if step is None:
        raise ReviewError("that stage is not part of this review")
    if not step.is_open or not review.is_open:
        raise ReviewClosed(ALREADY_DECIDED)
    if step.stage.rule == Rule.ANY and getattr(review, "member_role", None) in step.stage.roles:
        # At an "any one" stage only this user's right to decide counts, and the lock query
        # read the user's campaign role: a member in one of the stage's roles decides there.
        deciders = {user.pk}
    else:
        step.panel_deciders = list(stage_deciders(stage=step.stage))
        deciders = {u.pk for u in step.panel_deciders}
    as_guest = (
        user.pk not in deciders
        and step.stage.guests_decide
        and is_guest_for(user=user, clip=review.clip)
    )
    if user.pk not in deciders and not as_guest:
        raise NotAllowed(f"only the deciders named for {step.stage.name} may decide there")
    everything = reads.review_decisions(review_id=review.pk)
    earlier = [d for d in everything if d.step_id == step.pk]
    standing = step_verdicts(step=step, decisions=earlier).get(user.pk)
    if outcome == Decision.Outcome.RETRACT:
        if standing is None:
            raise ReviewError("you have no decision at this stage to retract")
    elif standing is not None:
        raise ReviewClosed(ALREADY_DECIDED)

    stage = step.stage
    if outcome not in (Decision.Outcome.REJECT, Decision.Outcome.REQUEST_CHANGES):
        reason = None  # a reason from the list explains a rejection or change request only
    decision = Decision.objects.create(
        review=review, step=step, stage=stage, user=user, outcome=outcome, note=note, reason=reason
    )
    previous = review.status
    closing = _step_outcome(step=step, decider_ids=deciders, decisions=[*earlier, decision])
    next_step = None
    if closing is not None:
        step.status = STEP_STATUS[closing]
        step.closed_at = timezone.now()
        step.save(update_fields=["status", "closed_at"])
        if closing == Decision.Outcome.APPROVE:
            next_stage = next((s for s in stages if s.position > stage.position), None)
            if next_stage is not None:
                if review.status == Review.S.PENDING:
                    review.transition(Review.S.IN_REVIEW)
                review.stage = next_stage
                next_step = _step_open(review=review, stage=next_stage)
            else:
                review.transition(Review.S.APPROVED)
        elif closing == Decision.Outcome.REJECT:
            review.transition(Review.S.REJECTED)
        else:
            review.transition(Review.S.CHANGES_REQUESTED)
    elif review.status == Review.S.PENDING and outcome != Decision.Outcome.RETRACT:
        review.transition(Review.S.IN_REVIEW)
    if not review.is_open:
        review.decided_at = timezone.now()
    if review.stage_id == stage.pk:
        review.stage = stage
    review.save(update_fields=["status", "stage", "decided_at", "updated_at"])
    # What the caller's panel shows, as just written: no second read.
    review.campaign_stages = stages
    review.panel_steps = [*steps, next_step] if next_step is not None else steps
    review.panel_decisions = [*everything, decision]
    audit_record(
        action=f"review.{outcome}",
        obj=review,
        actor=user,
        from_state=previous,
        to_state=review.status,
        stage=stage.name,
        step=step.pk,
        note=note,
        reason=reason.label if reason else "",
    )
    notifications.notify_decided(decision=decision)
    if next_step is not None:
        next_step.panel_deciders = list(stage_deciders(stage=next_step.stage))
        notifications.notify_step_opened(step=next_step, recipients=next_step.panel_deciders)
    if review.status == Review.S.APPROVED:
        from review.tasks import archive_review

        transaction.on_commit(partial(archive_review.delay, review.pk))
    return decision


def review_approve(*, review_id: int, user: Any, note: str = "", **kw: Any) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="approve", note=note, **kw)


def review_reject(*, review_id: int, user: Any, note: str, **kw: Any) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="reject", note=note, **kw)


def review_request_changes(*, review_id: int, user: Any, note: str, **kw: Any) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="request_changes", note=note, **kw)


def review_retract(*, review_id: int, user: Any, **kw: Any) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="retract", **kw)


def review_provenance(*, review: Review) -> dict[str, Any]:
    """Everything the archive sidecar records: what was asked, who made it, who approved it."""
    clip = review.clip
    job = clip.job
    variant = clip.variant
    brief = variant.brief
    decisions = review.decisions.select_related("user", "stage").order_by("created_at", "pk")
    provenance = {
        "schema": "greenlight.archive/1",
        "campaign": {"slug": brief.campaign.slug, "name": brief.campaign.name},
        "brief": {
            "id": brief.pk,
            "title": brief.title,
            "prompt_template": brief.prompt,
            "script_template": brief.script,
            "shots": brief.shot_list,
            "created_by": brief.created_by.get_username() if brief.created_by else None,
        },
        "variant": {
            "position": variant.position,
            "hook": variant.hook,
            "aspect_ratio": variant.aspect_ratio,
            "duration_s": variant.duration_s,
            "language": variant.language,
            "resolution": variant.resolution,
            "prompt": variant.prompt,
            "script": variant.script,
        },
        "generation": {
            "provider": job.provider,
            "model": job.model,
            "attempt": job.attempt,
            "parameters": job.request,
            "provider_request_id": job.provider_request_id,
            "cost_usd": str(job.cost_usd) if job.cost_usd is not None else None,
            "submitted_at": job.submitted_at,
            "finished_at": job.finished_at,
        },
        "decisions": [
            {
                "stage": d.stage.name,
                "user": d.user.get_username(),
                "outcome": d.outcome,
                "note": d.note,
                "at": d.created_at,
            }
            for d in decisions
        ],
        "approved_at": review.decided_at,
        "tags": sorted(ClipTag.objects.filter(clip=clip).values_list("tag__name", flat=True)),
    }
    if variant.is_cut:
        provenance["sequence"] = _sequence_provenance(job=job)
    return provenance


def _sequence_provenance(*, job) -> dict[str, Any]:
    """The shot clips a cut joined, in order, and how they were joined."""
    join = (job.result or {}).get("raw", {}).get("join", {})
    return {
        "join": join.get("mode", ""),
        "differences": join.get("differences", []),
        "parts": [
            {
                "position": part.position,
                "shot": part.shot.variant.shot_index,
                "variant": part.shot.variant.position,
                "version": part.shot.attempt,
                "clip": str(part.shot.clip.uuid),
                "sha256": part.shot.clip.sha256,
                "duration_s": part.shot.clip.duration_s,
                "provider": part.shot.provider,
                "model": part.shot.model,
                "approved": part.shot.clip.review.status in ("approved", "archived"),
            }
            for part in cut_parts(job=job)
        ],
    }


def review_archive(*, review_id: int) -> Review | None:
    """Copy an approved clip into the archive, then mark the review archived (idempotent)."""
    review = Review.objects.select_related(
        "clip__job", "clip__variant__brief__campaign", "clip__variant__brief__created_by"
    ).get(pk=review_id)
    if review.status != Review.S.APPROVED:
        return None
    approver = (
        review.decisions.filter(outcome=Decision.Outcome.APPROVE)
        .select_related("user")
        .order_by("-created_at", "-pk")
        .first()
    )
    clip_archive(
        clip_id=review.clip_id,
        actor=approver.user if approver else None,
        provenance=review_provenance(review=review),
    )
    with transaction.atomic():
        review = Review.objects.select_for_update().get(pk=review_id)
        if review.status != Review.S.APPROVED:
            return review
        previous = review.transition(Review.S.ARCHIVED)
        review.save(update_fields=["status", "updated_at"])
        audit_record(
            action="review.archive", obj=review, from_state=previous, to_state=review.status
        )
    return review


# --- tags -------------------------------------------------------------------------------------


class TagError(ReviewError):
    pass


def can_tag(*, user: Any, campaign_id: int) -> bool:
    """Reviewers, approvers and creators of the campaign tag its clips."""
    return (
        user.is_authenticated
        and Membership.objects.filter(campaign_id=campaign_id, user=user).exists()
    )


def _tag_for(*, campaign: Campaign, name: str, user: Any) -> Tag:
    name = " ".join(name.split())
    if not name:
        raise TagError("a tag needs a name")
    if len(name) > 40:
        raise TagError("a tag has at most 40 characters")
    tag = Tag.objects.filter(campaign=campaign, name__iexact=name).first()
    if tag is not None:
        return tag
    policy = TagPolicy.objects.filter(campaign=campaign).first()
    if policy is None or not policy.free_tags:
        raise TagError(f"“{name}” is not in this campaign's tags; ask ops to add it")
    tag, _ = Tag.objects.get_or_create(
        campaign=campaign,
        name__iexact=name,
        defaults={"name": name, "controlled": False, "created_by": user},
    )
    return tag


@transaction.atomic
def clips_tag(*, clips: Iterable[Clip], user: Any, name: str) -> Tag:
    """Put one tag on clips of one campaign (a bulk action from the queue, or one clip).

    The tag must be in the campaign's vocabulary unless the campaign allows free tags. Raises
    TagError for an unknown tag or clips from several campaigns, NotAllowed for non-members.
    """
    clips = list(clips)
    campaign_ids = {clip.variant.brief.campaign_id for clip in clips}
    if len(campaign_ids) != 1:
        raise TagError("choose clips of one campaign to tag together")
    campaign = clips[0].variant.brief.campaign
    if not can_tag(user=user, campaign_id=campaign.pk):
        raise NotAllowed("only members of the campaign tag its clips")
    tag = _tag_for(campaign=campaign, name=name, user=user)
    existing = set(
        ClipTag.objects.filter(tag=tag, clip__in=clips).values_list("clip_id", flat=True)
    )
    new = [ClipTag(clip=c, tag=tag, added_by=user) for c in clips if c.pk not in existing]
    ClipTag.objects.bulk_create(new)
    for row in new:
        audit_record(action="clip.tag", obj=row.clip, actor=user, tag=tag.name)
    return tag


@transaction.atomic
def clip_untag(*, clip: Clip, user: Any, tag_id: int) -> None:
    """Take a tag off a clip (nothing happens when it is not on it)."""
    if not can_tag(user=user, campaign_id=clip.variant.brief.campaign_id):
        raise NotAllowed("only members of the campaign tag its clips")
    row = ClipTag.objects.filter(clip=clip, tag_id=tag_id).select_related("tag").first()
    if row is not None:
        row.delete()
        audit_record(action="clip.untag", obj=clip, actor=user, tag=row.tag.name)


# --- comments ---------------------------------------------------------------------------------

MENTION = re.compile(r"(?<![\w@])@([\w.+-]{1,150})")


DRAWING_KINDS = ("pen", "arrow")
COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


def drawing_clean(drawing: Any) -> list[dict]:
    """Check a drawing made on a paused frame: at most 50 shapes, each a pen stroke (2–500
    points) or an arrow (2 points), coordinates as fractions of the frame (0–1), a colour.

    Raises ReviewError naming what is wrong; returns the shapes with rounded coordinates.
    """
    if drawing in (None, ""):
        return []
    if not isinstance(drawing, list) or len(drawing) > 50:
        raise ReviewError("a drawing is a list of at most 50 shapes")
    shapes = []
    for shape in drawing:
        if not isinstance(shape, dict) or shape.get("kind") not in DRAWING_KINDS:
            raise ReviewError("each shape is a pen stroke or an arrow")
        points = shape.get("points")
        limits = (2, 2) if shape["kind"] == "arrow" else (2, 500)
        if not isinstance(points, list) or not limits[0] <= len(points) <= limits[1]:
            raise ReviewError(f"a {shape['kind']} has {limits[0]}–{limits[1]} points")
        clean = []
        for point in points:
            if (
                not isinstance(point, list)
                or len(point) != 2
                or not all(isinstance(v, int | float) and 0 <= v <= 1 for v in point)
            ):
                raise ReviewError("drawing points are [x, y] fractions of the frame")
            clean.append([round(float(point[0]), 4), round(float(point[1]), 4)])
        colour = shape.get("colour", "#e53e3e")
        if not isinstance(colour, str) or not COLOUR.match(colour):
            raise ReviewError("a shape's colour looks like #e53e3e")
        shapes.append({"kind": shape["kind"], "colour": colour, "points": clean})
    return shapes


def can_comment(*, user: Any, clip: Clip) -> bool:
    """Members of the clip's campaign comment (comment-only reviewers must be members too),
    and guests whose live link holds the clip."""
    return can_tag(user=user, campaign_id=clip.variant.brief.campaign_id) or is_guest_for(
        user=user, clip=clip
    )


@transaction.atomic
def comment_add(
    *,
    clip: Clip,
    user: Any,
    body: str,
    at_s: float | None = None,
    end_s: float | None = None,
    parent_id: int | None = None,
    drawing: list | None = None,
) -> Comment:
    """Comment on a clip at a time, over a range, or on the whole clip; or reply to a comment.

    Times in seconds are turned into frames at the clip's frame rate (25 when unknown), so a
    comment sticks to one exact frame. @username mentions of campaign members notify them.
    Raises NotAllowed for non-members and ReviewError for empty text or a bad range.
    """
    if not can_comment(user=user, clip=clip):
        raise NotAllowed("only members of the campaign comment on its clips")
    body = body.strip()
    if not body:
        raise ReviewError("write something to comment")
    fps = clip.fps or 25.0
    duration = clip.duration_s or 0
    parent = None
    if parent_id is not None:
        parent = Comment.objects.filter(pk=parent_id, clip=clip).first()
        if parent is None:
            raise ReviewError("that comment is not on this clip")
        if parent.parent_id is not None:
            parent = parent.parent  # replies stay one level deep
        at_s = end_s = None
    if end_s is not None and at_s is None:
        raise ReviewError("a range needs a start")
    drawing = drawing_clean(drawing)
    if drawing and at_s is None:
        raise ReviewError("a drawing belongs to a frame: comment at the current frame")
    for value in (at_s, end_s):
        if value is not None and (value < 0 or (duration and value > duration + 1 / fps)):
            raise ReviewError("that time is outside the clip")
    # A video shows frame N from N/fps until (N+1)/fps: the frame on screen is the floor.
    start_frame = math.floor(at_s * fps + 1e-6) if at_s is not None else None
    end_frame = math.floor(end_s * fps + 1e-6) if end_s is not None else None
    if end_frame is not None and end_frame <= start_frame:
        raise ReviewError("a range must end after it starts")
    comment = Comment.objects.create(
        clip=clip,
        author=user,
        parent=parent,
        body=body,
        start_frame=start_frame,
        end_frame=end_frame,
        fps=fps,
        drawing=drawing,
    )
    audit_record(action="comment.add", obj=clip, actor=user, comment=comment.pk)
    _notify_mentions(comment=comment)
    return comment


def _notify_mentions(*, comment: Comment) -> None:
    names = {m.lower() for m in MENTION.findall(comment.body)}
    if not names:
        return
    User = get_user_model()
    campaign_id = comment.clip.variant.brief.campaign_id
    mentioned = [
        u
        for u in User.objects.filter(memberships__campaign_id=campaign_id).distinct()
        if u.get_username().lower() in names and u.pk != comment.author_id
    ]
    clip = comment.clip
    who = comment.author.get_full_name() or comment.author.get_username()
    where = f" at {comment.start_tc}" if comment.start_frame is not None else ""
    title = notifications.clip_title(clip)
    notifications.notifications_queue(
        recipients=mentioned,
        kind=Notification.Kind.MENTION,
        clip=clip,
        subject=f"{who} mentioned you on {title}",
        body=f"{who} wrote{where}: {comment.body}",
        url=notifications.absolute_url(f"{clip.get_absolute_url()}#comment-{comment.pk}"),
        reply_to=comment.author.email,
    )


@transaction.atomic
def comment_resolve(*, comment_id: int, user: Any, resolved: bool = True) -> Comment:
    """Resolve (or reopen) a top-level comment; replies follow their thread."""
    comment = (
        Comment.objects.select_for_update(of=("self",))
        .select_related("clip__variant__brief")
        .get(pk=comment_id)
    )
    if not can_comment(user=user, clip=comment.clip):
        raise NotAllowed("only members of the campaign resolve its comments")
    if comment.parent_id is not None:
        raise ReviewError("resolve the thread, not a reply")
    if resolved and comment.resolved_at is None:
        comment.resolved_at, comment.resolved_by = timezone.now(), user
    elif not resolved:
        comment.resolved_at, comment.resolved_by = None, None
    comment.save(update_fields=["resolved_at", "resolved_by"])
    action = "comment.resolve" if resolved else "comment.reopen"
    audit_record(action=action, obj=comment.clip, actor=user, comment=comment.pk)
    return comment


# --- external review links --------------------------------------------------------------------


class LinkGone(ReviewError):
    """A share link that expired or was revoked."""


def can_share(*, user: Any, campaign_id: int) -> bool:
    """Creators and approvers of a campaign hand out external review links."""
    return Membership.objects.filter(
        campaign_id=campaign_id,
        user=user,
        role__in=(Membership.Role.CREATOR, Membership.Role.APPROVER),
    ).exists()


@transaction.atomic
def share_link_create(
    *,
    clips: Iterable[Clip],
    user: Any,
    expires_at: Any,
    password: str = "",
    label: str = "",
) -> ShareLink:
    """Make an external review link to clips of one campaign; raises NotAllowed or TagError-
    like ReviewError for clips of several campaigns or an expiry in the past."""
    clips = list(clips)
    campaigns = {clip.variant.brief.campaign_id for clip in clips}
    if len(campaigns) != 1:
        raise ReviewError("a link holds clips of one campaign")
    campaign_id = campaigns.pop()
    if not can_share(user=user, campaign_id=campaign_id):
        raise NotAllowed("only creators and approvers of the campaign share its clips")
    if expires_at <= timezone.now():
        raise ReviewError("a link must expire in the future")
    link = ShareLink.objects.create(
        campaign_id=campaign_id,
        label=label.strip()[:120],
        password=make_password(password) if password else "",
        created_by=user,
        expires_at=expires_at,
    )
    link.clips.set(clips)
    audit_record(
        action="share.create",
        obj=link,
        actor=user,
        clips=[str(c.uuid) for c in clips],
        expires_at=expires_at.isoformat(),
        password=bool(password),
    )
    return link


@transaction.atomic
def share_link_revoke(*, link_id: int, user: Any, by_ops: bool = False) -> ShareLink:
    """Revoke a link at once; its guests can do nothing more. `by_ops` is the admin action,
    whose check is Django's change permission rather than campaign membership."""
    link = ShareLink.objects.select_for_update().get(pk=link_id)
    if not by_ops and not can_share(user=user, campaign_id=link.campaign_id):
        raise NotAllowed("only creators and approvers of the campaign revoke its links")
    if link.revoked_at is None:
        link.revoked_at = timezone.now()
        link.save(update_fields=["revoked_at"])
        audit_record(action="share.revoke", obj=link, actor=user)
    return link


@transaction.atomic
def guest_enter(*, link: ShareLink, name: str, email: str, password: str = "") -> Guest:
    """Let someone in through a live link under the name and email they give.

    Raises LinkGone for an expired or revoked link and ReviewError for a wrong password or a
    missing name. The guest gets a user of their own with no usable password.
    """
    if not link.is_live():
        raise LinkGone("this link has expired or was revoked")
    if link.password and not check_password(password, link.password):
        raise ReviewError("that password is not right")
    name = " ".join(name.split())[:120]
    if not name or not email:
        raise ReviewError("give your name and email")
    User = get_user_model()
    user = User(username=f"guest-{secrets.token_hex(6)}", email=email, is_active=True)
    first, _, last = name.partition(" ")
    user.first_name, user.last_name = first[:150], last[:150]
    user.set_unusable_password()
    user.save()
    guest = Guest.objects.create(link=link, user=user, name=name, email=email)
    audit_record(action="share.enter", obj=link, actor=user, guest=name, email=email)
    return guest


def guest_link(*, user: Any) -> ShareLink | None:
    """The live link a guest user came through, or None (not a guest, or the link is gone)."""
    guest = getattr(user, "guest", None) if user.is_authenticated else None
    if guest is None or not guest.link.is_live():
        return None
    return guest.link


def is_guest_for(*, user: Any, clip: Clip) -> bool:
    """True for a guest whose live link holds `clip`."""
    link = guest_link(user=user)
    return link is not None and link.clips.filter(pk=clip.pk).exists()
