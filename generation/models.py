from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
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
    briefs_need_approval = models.BooleanField(
        "briefs need an approver",
        default=False,
        help_text="A brief launches only after an approver on the campaign approves it.",
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="campaigns", blank=True
    )
    # The loudness window QC holds this campaign's clips to (assets.services.delivery_spec);
    # blank means the GREENLIGHT_LOUDNESS_* / GREENLIGHT_TRUE_PEAK_MAX_DBTP setting.
    loudness_target_lufs = models.FloatField(
        "loudness target (LUFS)",
        null=True,
        blank=True,
        validators=[MinValueValidator(-40.0), MaxValueValidator(-5.0)],
        help_text="Integrated loudness (EBU R128) clips should reach, from -40 to -5 LUFS, "
        "e.g. -14 for social, -23 for broadcast. Blank: the platform default.",
    )
    loudness_tolerance_lu = models.FloatField(
        "loudness tolerance (LU)",
        null=True,
        blank=True,
        validators=[MinValueValidator(0.5), MaxValueValidator(10.0)],
        help_text="How far either side of the target is still in the window, from 0.5 to 10 "
        "LU. Blank: the platform default.",
    )
    true_peak_max_dbtp = models.FloatField(
        "maximum true peak (dBTP)",
        null=True,
        blank=True,
        validators=[MinValueValidator(-12.0), MaxValueValidator(0.0)],
        help_text="Highest true peak allowed, from -12 to 0 dBTP, e.g. -1 for social, -2 for "
        "broadcast. Blank: the platform default.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # The same ranges as the validators, so a write that skips the form is refused too.
            models.CheckConstraint(
                condition=Q(loudness_target_lufs__isnull=True)
                | Q(loudness_target_lufs__gte=-40.0, loudness_target_lufs__lte=-5.0),
                name="campaign_loudness_target_range",
            ),
            models.CheckConstraint(
                condition=Q(loudness_tolerance_lu__isnull=True)
                | Q(loudness_tolerance_lu__gte=0.5, loudness_tolerance_lu__lte=10.0),
                name="campaign_loudness_tolerance_range",
            ),
            models.CheckConstraint(
                condition=Q(true_peak_max_dbtp__isnull=True)
                | Q(true_peak_max_dbtp__gte=-12.0, true_peak_max_dbtp__lte=0.0),
                name="campaign_true_peak_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("generation:campaign_detail", args=[self.slug])

    def clean(self) -> None:
        super().clean()
        values = (self.loudness_target_lufs, self.loudness_tolerance_lu, self.true_peak_max_dbtp)
        if all(v is None for v in values) or any(isinstance(v, str) for v in values):
            return  # nothing set, or a field already failed to parse
        target = _or_default(self.loudness_target_lufs, "GREENLIGHT_LOUDNESS_TARGET_LUFS")
        tolerance = _or_default(self.loudness_tolerance_lu, "GREENLIGHT_LOUDNESS_TOLERANCE_LU")
        peak = _or_default(self.true_peak_max_dbtp, "GREENLIGHT_TRUE_PEAK_MAX_DBTP")
        # A window that starts above the peak limit asks for sound no clip can deliver:
        # integrated loudness sits below the true peak.
        if target - tolerance > peak:
            raise ValidationError(
                {
                    "loudness_target_lufs": f"the window starts at {target - tolerance:g} LUFS, "
                    f"above the {peak:g} dBTP true-peak limit: no clip could meet both"
                }
            )


def _or_default(value: float | None, setting: str) -> float:
    return float(getattr(settings, setting)) if value is None else float(value)


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
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        LAUNCHED = "launched", "Launched"

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="briefs")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    prompt = models.TextField(
        help_text="Prompt template; may use the brief's axes by name, {language}, "
        "{aspect_ratio}, {duration}, {title} and {campaign}."
    )
    script = models.TextField(
        blank=True, help_text="Voice-over template for a language without its own script."
    )
    scripts = models.JSONField(
        default=dict, blank=True, help_text="Voice-over template per language code."
    )
    shots = models.TextField(blank=True, help_text="One shot per line: the text shown on screen.")
    # Named axes of variation: [{"name": "hook", "values": ["…", "…"]}, …] in the order given.
    axes = models.JSONField(default=list, blank=True)
    # The classic single axis; kept for briefs written before named axes.
    hooks = models.JSONField(default=list, blank=True)
    aspect_ratios = models.JSONField(default=list)
    durations = models.JSONField(default=list)
    languages = models.JSONField(default=list)
    multi_shot = models.BooleanField(
        "each shot its own clip",
        default=False,
        help_text="Shots of one variant become separate clips sharing the seed and references.",
    )
    # Keys of matrix cells unticked in the preview (see generation.matrix.Cell.key).
    excluded_cells = models.JSONField(default=list, blank=True)
    resolution = models.CharField(max_length=10, default="720p")
    provider = models.CharField(max_length=40)
    model = models.CharField(max_length=120, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="briefs"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    launched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=["draft", "launched"]), name="brief_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("generation:brief_detail", args=[self.pk])

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def awaits_approval(self) -> bool:
        """A draft its campaign will not launch until an approver approves it."""
        return self.is_draft and self.campaign.briefs_need_approval and self.approved_at is None

    @property
    def shot_list(self) -> list[str]:
        return [line.strip() for line in self.shots.splitlines() if line.strip()]

    @property
    def axis_list(self):
        """The named axes as `generation.matrix.Axis`, the classic hooks first."""
        from generation.matrix import Axis, axes_from

        axes = axes_from(self.axes)
        if self.hooks and not any(a.name == "hook" for a in axes):
            axes = (Axis(name="hook", values=tuple(self.hooks)), *axes)
        return axes

    def script_for(self, language: str) -> str:
        return self.scripts.get(language) or self.script


class Variant(models.Model):
    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="variants")
    position = models.PositiveIntegerField()
    cell_key = models.CharField(max_length=32, blank=True)
    hook = models.CharField(max_length=300, blank=True)
    axis_values = models.JSONField(default=dict, blank=True)
    aspect_ratio = models.CharField(max_length=10)
    duration_s = models.PositiveSmallIntegerField()
    language = models.CharField(max_length=12)
    resolution = models.CharField(max_length=10)
    prompt = models.TextField()
    script = models.TextField(blank=True)
    # On-screen shots of this variant when edited for a new version; empty means the brief's.
    shots = models.TextField(blank=True)
    seed = models.BigIntegerField(null=True, blank=True)
    # Multi-shot briefs: which shot of its cell this variant is (1-based); the cell's shots
    # share one seed and are reviewed one by one.
    shot_index = models.PositiveSmallIntegerField(null=True, blank=True)
    # Multi-shot briefs: the cut of one cell (its approved shots joined in order). Each of its
    # jobs is one assembly by the local `sequence` provider; `SequencePart` rows say which
    # shot versions it joined. `cell_key` is the cell's key (the shots carry `<key>-<n>`).
    is_cut = models.BooleanField(default=False, editable=False)
    # A language version: the job whose clip it localizes (same picture prompt, seed and
    # references, this language's script).
    source_job = models.ForeignKey(
        "GenerationJob",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="language_versions",
    )

    class Meta:
        ordering = ["brief", "position"]
        constraints = [
            models.UniqueConstraint(fields=["brief", "position"], name="variant_unique_position"),
            # One cut per cell: every later assembly is a new version (job) of it.
            models.UniqueConstraint(
                fields=["brief", "cell_key"],
                condition=Q(is_cut=True),
                name="variant_one_cut_per_cell",
            ),
            models.CheckConstraint(
                condition=Q(is_cut=False) | Q(shot_index__isnull=True),
                name="variant_cut_is_not_a_shot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.brief} #{self.position} ({self.label})"

    @property
    def label(self) -> str:
        parts = [self.aspect_ratio, f"{self.duration_s}s", self.language, self.resolution]
        named = [v for v in (self.axis_values or {}).values() if v]
        if not named and self.hook:
            named = [self.hook]
        if self.shot_index:
            parts.append(f"shot {self.shot_index}")
        if self.is_cut:
            parts.append("cut")
        return " · ".join([*named, *parts])

    @property
    def shot_list(self) -> list[str]:
        if self.shots.strip():
            return [line.strip() for line in self.shots.splitlines() if line.strip()]
        return self.brief.shot_list


class ReferenceImage(models.Model):
    """An image a brief (or one variant) gives the model: validated, re-encoded, stripped."""

    brief = models.ForeignKey(Brief, on_delete=models.CASCADE, related_name="references")
    variant = models.ForeignKey(
        Variant, null=True, blank=True, on_delete=models.CASCADE, related_name="references"
    )
    image = models.FileField(upload_to="references/", max_length=300)
    format = models.CharField(max_length=10)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    original_name = models.CharField(max_length=255, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brief", "pk"]

    def __str__(self) -> str:
        return f"{self.original_name or self.image.name} ({self.width}×{self.height})"


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


class SequencePart(models.Model):
    """One shot version a cut joined, at its place in the cut (1-based).

    `cut` is the assembly (a job of the `sequence` provider on the cell's cut variant); `shot`
    is the exact version of the shot joined, so a later version of a shot never changes a cut
    already made. The shot's clip is `shot.clip`.
    """

    cut = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="sequence_parts")
    position = models.PositiveSmallIntegerField()
    shot = models.ForeignKey(GenerationJob, on_delete=models.PROTECT, related_name="used_in_cuts")

    class Meta:
        ordering = ["cut", "position"]
        constraints = [
            models.UniqueConstraint(fields=["cut", "position"], name="sequence_part_unique"),
            models.CheckConstraint(condition=Q(position__gte=1), name="sequence_part_from_one"),
        ]

    def __str__(self) -> str:
        return f"part {self.position} of job {self.cut_id}: job {self.shot_id}"


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
