from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse

from generation.statemachine import StatusMachine


class Campaign(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    budget_usd = models.DecimalField(
        "budget (USD)",
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Spending cap for generation; empty means no cap.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="campaigns", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("generation:campaign_detail", args=[self.slug])


class Membership(models.Model):
    class Role(models.TextChoices):
        CREATOR = "creator", "Creator"
        REVIEWER = "reviewer", "Reviewer"
        APPROVER = "approver", "Approver"

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=Q(role__in=["creator", "reviewer", "approver"]),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} on {self.campaign}"


class Brief(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="briefs")
    title = models.CharField(max_length=200)
    prompt = models.TextField(
        help_text="Prompt template; may use {hook}, {language}, {aspect_ratio}, {duration}, "
        "{title} and {campaign}."
    )
    script = models.TextField(
        blank=True, help_text="Voice-over template, spoken in each variant's language."
    )
    shots = models.TextField(blank=True, help_text="One shot per line: the text shown on screen.")
    hooks = models.JSONField(default=list, blank=True)
    aspect_ratios = models.JSONField(default=list)
    durations = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    resolution = models.CharField(max_length=10, default="720p")
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="briefs"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("generation:brief_detail", args=[self.pk])

    @property
    def shot_list(self) -> list[str]:
        return [line.strip() for line in self.shots.splitlines() if line.strip()]


class Variant(models.Model):
    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveIntegerField()
    hook = models.CharField(max_length=300, blank=True)
    aspect_ratio = models.CharField(max_length=10)
    duration_s = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=12)
    resolution = models.CharField(max_length=10)
    prompt = models.TextField()
    script = models.TextField(blank=True)

    class Meta:
        ordering = ["brief", "position"]
        constraints = [
            models.UniqueConstraint(fields=["brief", "position"], name="variant_unique_position"),
        ]

    def __str__(self) -> str:
        return f"{self.brief} #{self.position} ({self.label})"

    @property
    def label(self) -> str:
        parts = [self.aspect_ratio, f"{self.duration_s}s", self.language, self.resolution]
        if self.hook:
            parts.insert(0, self.hook)
        return " · ".join(parts)


class GenerationJob(StatusMachine, models.Model):
    """One attempt at generating one variant; a new attempt is a new version of the variant."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SUBMITTED = "submitted", "Submitted"
        RUNNING = "running", "Running"
        DOWNLOADING = "downloading", "Downloading"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    S = Status
    TRANSITIONS = {
        S.QUEUED: frozenset({S.SUBMITTED, S.FAILED, S.CANCELED}),
        S.SUBMITTED: frozenset({S.RUNNING, S.DOWNLOADING, S.FAILED, S.CANCELED}),
        S.RUNNING: frozenset({S.DOWNLOADING, S.FAILED, S.CANCELED}),
        S.DOWNLOADING: frozenset({S.SUCCEEDED, S.FAILED}),
        S.SUCCEEDED: frozenset(),
        S.FAILED: frozenset(),
        S.CANCELED: frozenset(),
    }
    ACTIVE = (S.QUEUED, S.SUBMITTED, S.RUNNING, S.DOWNLOADING)

    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="jobs")
    attempt = models.PositiveSmallIntegerField(default=1)
    # The idempotency key sent with the submit is derived from this; it never changes.
    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    request = models.JSONField(default=dict)
    provider_request_id = models.CharField(max_length=200, blank=True)
    submission = models.JSONField(
        default=dict, blank=True, help_text="What the provider's submit gave back (handles)."
    )
    submit_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a worker started sending the request; set before the provider call.",
    )
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    progress = models.FloatField(null=True, blank=True)
    queue_position = models.IntegerField(null=True, blank=True)
    cost_estimate_usd = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    cost_usd = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    output = models.FileField(upload_to="jobs/", max_length=300, blank=True)
    error = models.TextField(blank=True)
    error_code = models.CharField(max_length=80, blank=True)
    retries = models.PositiveIntegerField(
        default=0, help_text="Transient provider errors retried so far."
    )
    seed = models.BigIntegerField(null=True, blank=True, help_text="The seed the provider used.")
    result = models.JSONField(
        default=dict, blank=True, help_text="The provider's raw result and usage, as returned."
    )
    notes = models.TextField(blank=True, help_text="Reviewer notes that led to this attempt.")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(
        null=True, blank=True, help_text="The job fails if it has not finished by then."
    )

    class Meta:
        ordering = ["variant", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "attempt"], name="job_unique_attempt"),
            models.UniqueConstraint(
                fields=["provider", "provider_request_id"],
                condition=~Q(provider_request_id=""),
                name="job_unique_provider_request",
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=[
                        "queued",
                        "submitted",
                        "running",
                        "downloading",
                        "succeeded",
                        "failed",
                        "canceled",
                    ]
                ),
                name="job_status_valid",
            ),
            # Once past queued, a job always carries the provider's id (it was stored in the
            # same transaction that marked it submitted), so it is never submitted twice.
            models.CheckConstraint(
                condition=Q(status__in=["queued", "failed", "canceled"])
                | ~Q(provider_request_id=""),
                name="job_submitted_has_request_id",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"Job {self.pk} ({self.provider}, {self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"greenlight-{self.key}"


class Lease(models.Model):
    """Who may drive a piece of background work next: one row per job, ingest or archive.

    Every message that drives the work carries a token; only a message whose token matches
    the row may take it (a conditional UPDATE), so duplicate, late and redelivered-after-handoff
    messages do nothing. A worker holding the lease renews `expires_at` while it works; when
    it stops without handing over (killed, message lost), the reconciler sees the lease
    expire, rotates the token and sends one new message. See generation/leases.py.
    """

    class Kind(models.TextChoices):
        JOB = "job", "Generation job"
        INGEST = "ingest", "Clip ingest"
        ARCHIVE = "archive", "Archive copy"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_id = models.BigIntegerField()
    token = models.CharField(max_length=32, blank=True)
    owner = models.CharField(max_length=255, blank=True, help_text="Task id holding the lease.")
    expires_at = models.DateTimeField(null=True, blank=True)
    taken_at = models.DateTimeField(null=True, blank=True, help_text="When a worker last took it.")
    redrives = models.PositiveIntegerField(
        default=0, help_text="Times the reconciler re-sent lost work."
    )
    failures = models.PositiveIntegerField(
        default=0, help_text="Attempts that ended in an error and were retried."
    )
    last_error = models.TextField(blank=True)
    done = models.BooleanField(default=False)
    gave_up_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "object_id"], name="lease_unique_work"),
        ]
        indexes = [models.Index(fields=["kind", "done", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.object_id}"


class WebhookDelivery(models.Model):
    """One provider callback that verified; a second delivery with the same id is a replay."""

    provider = models.CharField(max_length=40)
    delivery_id = models.CharField(max_length=200)
    request_id = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True)
    payload = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "delivery_id"], name="webhook_delivery_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.delivery_id}"


class AuditEvent(models.Model):
    """An append-only record of who did what to which object, from any app.

    It lives in the lowest app of the chain so every app can write it without importing
    backwards.
    """

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=80)
    object_type = models.CharField(max_length=80)
    object_id = models.CharField(max_length=64)
    from_state = models.CharField(max_length=40, blank=True)
    to_state = models.CharField(max_length=40, blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")
