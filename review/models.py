from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from assets.models import Clip
from generation.models import Campaign
from generation.statemachine import StatusMachine


class Rule(models.TextChoices):
    ANY = "any", "Any one of the deciders"
    ALL = "all", "All of the deciders"
    QUORUM = "quorum", "N of the deciders"


class MemberRoles(models.TextChoices):
    """Campaign roles whose members decide at a stage, beside the people and groups named."""

    NONE = "", "Only the people and groups named"
    REVIEWERS = "reviewer", "The campaign's reviewers"
    APPROVERS = "approver", "The campaign's approvers"
    BOTH = "reviewer,approver", "The campaign's reviewers and approvers"


class StageFields(models.Model):
    """What a stage template and a campaign's stage share."""

    name = models.CharField(max_length=80)
    position = models.PositiveSmallIntegerField()
    description = models.TextField(blank=True)
    rule = models.CharField(max_length=10, choices=Rule.choices, default=Rule.ANY)
    quorum = models.PositiveSmallIntegerField(
        default=1, help_text="For the N-of-M rule: how many approvals pass the stage."
    )
    due_after = models.DurationField(
        null=True, blank=True, help_text="Time the deciders have once a clip reaches the stage."
    )
    member_roles = models.CharField(
        "campaign roles that decide",
        max_length=30,
        choices=MemberRoles.choices,
        default=MemberRoles.NONE,
        blank=True,
    )
    decider_groups = models.ManyToManyField(
        Group, blank=True, related_name="+", help_text="Members of these groups decide here."
    )

    class Meta:
        abstract = True
        ordering = ["position"]

    def __str__(self) -> str:
        return self.name

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r for r in self.member_roles.split(",") if r)


class StageTemplate(StageFields):
    """The default stages ops manage; each new campaign gets a copy of them, in order."""

    class Meta(StageFields.Meta):
        constraints = [
            models.UniqueConstraint(fields=["position"], name="stagetemplate_unique_position"),
            models.UniqueConstraint(fields=["name"], name="stagetemplate_unique_name"),
        ]


class Stage(StageFields):
    """A review gate of one campaign (creative, brand, legal…); clips pass them in order.

    Who decides: the people named, members of the groups named and campaign members with the
    roles named — always only members of the campaign, since nobody else can see its clips.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="stages")
    deciders = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="deciding_stages"
    )
    commenters = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="commenting_stages",
        help_text="Comment-only reviewers: asked for their view, but they do not decide.",
    )
    guests_decide = models.BooleanField(
        default=False,
        help_text="Guests with an external review link may decide at this stage too.",
    )

    class Meta(StageFields.Meta):
        ordering = ["campaign", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "position"], name="stage_unique_campaign_position"
            ),
            models.UniqueConstraint(fields=["campaign", "name"], name="stage_unique_campaign_name"),
        ]


class RejectReason(models.Model):
    """A reason ops offer reviewers when they reject or ask for changes."""

    label = models.CharField(max_length=120, unique=True)
    position = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "label"]

    def __str__(self) -> str:
        return self.label


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
        indexes = [
            models.Index(fields=["status", "updated_at"]),
            # The queue: open reviews at the user's stages, oldest first.
            models.Index(fields=["stage", "status", "created_at"]),
            models.Index(fields=["created_at", "id"]),
            models.Index(fields=["decided_at"]),
        ]

    def __str__(self) -> str:
        return f"Review of {self.clip} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN


class StageStep(models.Model):
    """One stage a review passes through (Wagtail's TaskState beside its WorkflowState).

    Decisions name their step; only the open step takes them, and a review has at most one
    open step (a conditional unique constraint, not only code).
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PASSED = "passed", "Passed"
        REJECTED = "rejected", "Rejected"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="steps")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="steps")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    reminded_before_at = models.DateTimeField(null=True, blank=True)
    reminded_after_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["opened_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["review"],
                condition=Q(status="open"),
                name="stagestep_one_open_per_review",
            ),
            models.UniqueConstraint(fields=["review", "stage"], name="stagestep_once_per_stage"),
            models.CheckConstraint(
                condition=Q(status__in=["open", "passed", "rejected", "changes_requested"]),
                name="stagestep_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="open") | Q(closed_at__isnull=False),
                name="stagestep_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.review} at {self.stage} ({self.get_status_display()})"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class Decision(models.Model):
    """One reviewer's verdict at one stage step. Append-only: never updated, never deleted.

    A retraction is a row too: it cancels the same user's earlier verdict at the same step.
    """

    class Outcome(models.TextChoices):
        APPROVE = "approve", "Approve"
        REJECT = "reject", "Reject"
        REQUEST_CHANGES = "request_changes", "Request changes"
        RETRACT = "retract", "Retract"

    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="decisions")
    step = models.ForeignKey(StageStep, on_delete=models.PROTECT, related_name="decisions")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="decisions")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="decisions"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    reason = models.ForeignKey(
        RejectReason, null=True, blank=True, on_delete=models.PROTECT, related_name="decisions"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["approve", "reject", "request_changes", "retract"]),
                name="decision_outcome_valid",
            ),
            # A rejection or change request must say why.
            models.CheckConstraint(
                condition=Q(outcome__in=["approve", "retract"]) | ~Q(note=""),
                name="decision_reason_required",
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


class NotificationPreference(models.Model):
    """How a user wants review email: each message at once, a digest per burst, or none.

    The in-app list shows everything either way.
    """

    class Email(models.TextChoices):
        IMMEDIATE = "immediate", "Each message at once"
        DIGEST = "digest", "One digest per burst"
        OFF = "off", "No email (in-app only)"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="review_preference"
    )
    email = models.CharField(max_length=10, choices=Email.choices, default=Email.DIGEST)

    def __str__(self) -> str:
        return f"{self.user}: {self.get_email_display()}"


class Notification(models.Model):
    """One thing a user was told, in the app and (by preference) by email.

    Written in the transaction of the change it reports, so it cannot be lost; the worker
    sends it, and a failed or forgotten send is retried from this row.
    """

    class Kind(models.TextChoices):
        WAITING = "waiting", "Waiting for you"
        REMINDER = "reminder", "Due soon"
        OVERDUE = "overdue", "Overdue"
        DECISION = "decision", "Decision"
        MENTION = "mention", "Mention"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SENDING = "sending", "Sending"
        SENT = "sent", "Emailed"
        FAILED = "failed", "Failed, will retry"
        IN_APP = "in_app", "In the app only"

    class Delivery(models.TextChoices):
        IMMEDIATE = "immediate", "At once"
        DIGEST = "digest", "In a digest"
        NONE = "none", "Not emailed"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    delivery = models.CharField(max_length=10, choices=Delivery.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    clip = models.ForeignKey(
        Clip, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    subject = models.CharField(max_length=200)
    body = models.TextField()
    url = models.URLField(max_length=500)
    reply_to = models.EmailField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["recipient", "status", "delivery"])]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="notification_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient}: {self.subject}"


class TagPolicy(models.Model):
    """Per-campaign tagging rules: whether reviewers may add tags outside the vocabulary."""

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="tag_policy")
    free_tags = models.BooleanField(
        default=False, help_text="Reviewers may add tags that are not in the vocabulary."
    )

    class Meta:
        verbose_name_plural = "tag policies"

    def __str__(self) -> str:
        return f"{self.campaign}: {'free tags allowed' if self.free_tags else 'vocabulary only'}"


class Tag(models.Model):
    """A label for clips in one campaign: the vocabulary ops manage, or a free tag."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=40)
    colour = models.CharField(
        max_length=7,
        default="#718096",
        validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f9d55.")],
    )
    controlled = models.BooleanField(
        default=True, help_text="Part of the vocabulary ops manage (not added by a reviewer)."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "campaign", name="tag_unique_name_per_campaign"),
        ]

    def __str__(self) -> str:
        return self.name


class ClipTag(models.Model):
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="clip_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="clip_tags")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tag__name"]
        constraints = [models.UniqueConstraint(fields=["clip", "tag"], name="cliptag_unique")]

    def __str__(self) -> str:
        return f"{self.tag} on {self.clip}"


class Comment(models.Model):
    """A remark on a clip, at a frame or over a range of frames, or on the whole clip.

    Times are stored as frame numbers at the clip's frame rate, so they are exact and shown as
    HH:MM:SS:FF; replies hang under a top-level comment; resolving is reversible.
    """

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_comments"
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies"
    )
    body = models.TextField(max_length=4000)
    start_frame = models.PositiveIntegerField(null=True, blank=True)
    end_frame = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(default=25.0)
    drawing = models.JSONField(default=list, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["clip", "parent", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_frame__isnull=True)
                | Q(start_frame__isnull=False, end_frame__gt=F("start_frame")),
                name="comment_range_ordered",
            ),
            models.CheckConstraint(condition=Q(fps__gt=0), name="comment_fps_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.author} on {self.clip}: {self.body[:40]}"

    @staticmethod
    def timecode(frame: int, fps: float) -> str:
        rate = max(1, round(fps))
        seconds, ff = divmod(frame, rate)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{ff:02d}"

    @property
    def start_s(self) -> float | None:
        return None if self.start_frame is None else self.start_frame / self.fps

    @property
    def end_s(self) -> float | None:
        return None if self.end_frame is None else self.end_frame / self.fps

    @property
    def start_tc(self) -> str:
        return "" if self.start_frame is None else self.timecode(self.start_frame, self.fps)

    @property
    def end_tc(self) -> str:
        return "" if self.end_frame is None else self.timecode(self.end_frame, self.fps)


def new_share_token() -> str:
    return secrets.token_urlsafe(24)


class ShareLink(models.Model):
    """An external review link: a secret token for one clip or a set of clips of a campaign,
    expiring, optionally password-protected, revocable."""

    token = models.CharField(max_length=64, unique=True, default=new_share_token, editable=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="share_links")
    clips = models.ManyToManyField(Clip, related_name="share_links")
    label = models.CharField(max_length=120, blank=True)
    password = models.CharField(max_length=128, blank=True, help_text="A hash, never the text.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.label or f"Link {self.token[:6]}… to {self.campaign}"

    def is_live(self, now: Any = None) -> bool:
        from django.utils import timezone

        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class Guest(models.Model):
    """Someone outside Greenlight who opened a share link and gave a name and email.

    Each guest is backed by an inactive-password user of their own, so comments, decisions
    and audit rows name them like anyone else; guests belong to no campaign and see only
    their link's clips.
    """

    link = models.ForeignKey(ShareLink, on_delete=models.PROTECT, related_name="guests")
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="guest"
    )
    name = models.CharField(max_length=120)
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}> (guest)"
