from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from assets.models import Clip
from generation.statemachine import StatusMachine


class Stage(models.Model):
    """A review gate (creative, brand, legal…); clips pass them in `position` order."""

    name = models.CharField(max_length=80, unique=True)
    position = models.PositiveSmallIntegerField(unique=True)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name


class Review(StatusMachine, models.Model):
    """The judgment of one clip version; decisions are rows beside it, never overwritten."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        ARCHIVED = "archived", "Archived"

    S = Status
    TRANSITIONS = {
        S.PENDING: frozenset({S.IN_REVIEW, S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED}),
        S.IN_REVIEW: frozenset({S.APPROVED, S.REJECTED, S.CHANGES_REQUESTED}),
        S.APPROVED: frozenset({S.ARCHIVED}),
        S.REJECTED: frozenset(),
        S.CHANGES_REQUESTED: frozenset(),
        S.ARCHIVED: frozenset(),
    }
    OPEN = (S.PENDING, S.IN_REVIEW)

    clip = models.OneToOneField(Clip, on_delete=models.PROTECT, related_name="review")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stage = models.ForeignKey(
        Stage, null=True, blank=True, on_delete=models.PROTECT, related_name="reviews"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "pending",
                        "in_review",
                        "approved",
                        "rejected",
                        "changes_requested",
                        "archived",
                    ]
                ),
                name="review_status_valid",
            ),
            # An open review always stands at a stage.
            models.CheckConstraint(
                condition=~Q(status__in=["pending", "in_review"]) | Q(stage__isnull=False),
                name="review_open_has_stage",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"Review of {self.clip} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class Decision(models.Model):
    """One reviewer's verdict at one stage. Append-only: never updated, never deleted."""

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        REQUEST_CHANGES = "request_changes", "Request changes"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="decisions")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["approve", "reject", "request_changes"]),
                name="decision_outcome_valid",
            ),
            # A rejection or change request must say why.
            models.CheckConstraint(
                condition=Q(outcome="approve") | ~Q(note=""), name="decision_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.outcome} at {self.stage}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("decisions are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("decisions are append-only")
