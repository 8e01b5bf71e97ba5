"""Writes for reviews: opening, deciding, archiving.

Every change of `Review.status` goes through these services: atomic, row locked with
`select_for_update()`, checked against `Review.TRANSITIONS`, audited. Decisions are appended,
never changed.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from assets.models import Clip
from assets.services import clip_archive
from generation.audit import audit_record
from generation.models import Membership
from review.models import Decision, Review, Stage

DECIDING_ROLES = (Membership.Role.REVIEWER, Membership.Role.APPROVER)


class ReviewError(Exception):
    """A decision that cannot be taken; the message says why, for the reviewer."""


class ReviewClosed(ReviewError):
    pass


class NotAllowed(ReviewError):
    pass


def can_decide(*, user: Any, review: Review) -> bool:
    """True for staff and for reviewers or approvers on the clip's campaign."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    campaign_id = review.clip.variant.brief.campaign_id
    return Membership.objects.filter(
        campaign_id=campaign_id, user=user, role__in=DECIDING_ROLES
    ).exists()


def first_stage() -> Stage:
    stage = Stage.objects.order_by("position").first()
    if stage is None:
        # The data migration creates one; an ops user may have deleted them all.
        stage = Stage.objects.create(name="Creative review", position=1)
    return stage


@transaction.atomic
def review_open(*, clip: Clip) -> Review:
    """Open the review of a ready clip at the first stage (idempotent)."""
    review, created = Review.objects.get_or_create(clip=clip, defaults={"stage": first_stage()})
    if created:
        audit_record(action="review.open", obj=review, to_state=review.status, clip=str(clip.uuid))
    return review


@transaction.atomic
def review_decide(*, review_id: int, user: Any, outcome: str, note: str = "") -> Decision:
    """Record a decision and move the review.

    Locks the review row, so two reviewers deciding at once are serialised: both decisions are
    recorded when they agree (the second concurs with a review already closed by the same
    outcome at the same stage); a decision that disagrees with one that has just closed the
    review raises ReviewClosed and writes nothing. Approval at the last stage queues the
    archive copy after commit. Raises NotAllowed for users who may not decide and ReviewError
    for a rejection or change request without a reason.
    """
    review = (
        Review.objects.select_for_update(of=("self",))
        .select_related("clip__variant__brief", "stage")
        .get(pk=review_id)
    )
    if outcome not in Decision.Outcome.values:
        raise ReviewError(f"unknown decision {outcome!r}")
    note = note.strip()
    if outcome != Decision.Outcome.APPROVE and not note:
        raise ReviewError("say why: a rejection or change request needs a reason")
    if not can_decide(user=user, review=review):
        raise NotAllowed("only reviewers and approvers on this campaign may decide")

    if not review.is_open:
        last = review.decisions.order_by("-created_at", "-pk").first()
        if last is not None and last.outcome == outcome and review.status != Review.S.ARCHIVED:
            decision = Decision.objects.create(
                review=review, stage=last.stage, user=user, outcome=outcome, note=note
            )
            audit_record(action="review.concur", obj=review, actor=user, outcome=outcome)
            return decision
        raise ReviewClosed(f"this clip was already {review.get_status_display().lower()}")

    stage = review.stage
    decision = Decision.objects.create(
        review=review, stage=stage, user=user, outcome=outcome, note=note
    )
    previous = review.status
    if outcome == Decision.Outcome.APPROVE:
        next_stage = Stage.objects.filter(position__gt=stage.position).order_by("position").first()
        if next_stage is not None:
            if review.status == Review.S.PENDING:
                review.transition(Review.S.IN_REVIEW)
            review.stage = next_stage
        else:
            review.transition(Review.S.APPROVED)
    elif outcome == Decision.Outcome.REJECT:
        review.transition(Review.S.REJECTED)
    else:
        review.transition(Review.S.CHANGES_REQUESTED)
    if not review.is_open:
        review.decided_at = timezone.now()
    review.save(update_fields=["status", "stage", "decided_at", "updated_at"])
    audit_record(
        action=f"review.{outcome}",
        obj=review,
        actor=user,
        from_state=previous,
        to_state=review.status,
        stage=stage.name,
        note=note,
    )
    if review.status == Review.S.APPROVED:
        from review.tasks import archive_review

        transaction.on_commit(partial(archive_review.delay, review.pk))
    return decision


def review_approve(*, review_id: int, user: Any, note: str = "") -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="approve", note=note)


def review_reject(*, review_id: int, user: Any, note: str) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="reject", note=note)


def review_request_changes(*, review_id: int, user: Any, note: str) -> Decision:
    return review_decide(review_id=review_id, user=user, outcome="request_changes", note=note)


def review_provenance(*, review: Review) -> dict[str, Any]:
    """Everything the archive sidecar records: what was asked, who made it, who approved it."""
    clip = review.clip
    job = clip.job
    variant = clip.variant
    brief = variant.brief
    decisions = review.decisions.select_related("user", "stage").order_by("created_at", "pk")
    return {
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
