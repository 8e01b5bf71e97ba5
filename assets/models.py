from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from generation.models import GenerationJob, Variant
from generation.statemachine import StatusMachine


class Clip(StatusMachine, models.Model):
    """A generated video as it arrived, with what ingest learned about it."""

    class Status(models.TextChoices):
        PROCESSING = "processing", "Processing"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    TRANSITIONS = {
        Status.PROCESSING: frozenset({Status.READY, Status.FAILED}),
        Status.READY: frozenset(),
        Status.FAILED: frozenset(),
    }

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    job = models.OneToOneField(GenerationJob, on_delete=models.PROTECT, related_name="clip")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="clips")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROCESSING)
    file = models.FileField(max_length=300)
    poster = models.FileField(max_length=300, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    video_codec = models.CharField(max_length=40, blank=True)
    audio_codec = models.CharField(max_length=40, blank=True)
    has_audio = models.BooleanField(default=False)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    qc = models.JSONField(default=list, blank=True, help_text="QC findings shown to reviewers.")
    # What the single analysis decode made and measured (see assets.media.analyse).
    sprite = models.FileField(max_length=300, blank=True, help_text="Thumbnail sprite sheet.")
    thumbnails = models.FileField(
        max_length=300, blank=True, help_text="WebVTT thumbnails track into the sprite."
    )
    waveform = models.FileField(max_length=300, blank=True)
    loudness_lufs = models.FloatField(
        "integrated loudness (LUFS)", null=True, blank=True, help_text="EBU R128."
    )
    loudness_range_lu = models.FloatField("loudness range (LU)", null=True, blank=True)
    true_peak_dbtp = models.FloatField("true peak (dBTP)", null=True, blank=True)
    analysis = models.JSONField(
        default=dict, blank=True, help_text="Segments (black, silence, freeze), sprite layout."
    )
    analysed_at = models.DateTimeField(null=True, blank=True)
    # {code: severity} of `qc`, kept beside it so lists can filter by finding on every
    # database (`qc_flags__has_key`): SQLite has no JSON containment lookup for the list.
    qc_flags = models.JSONField(default=dict, blank=True, editable=False)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["variant", "version"], name="clip_unique_version"),
            models.CheckConstraint(
                condition=Q(status__in=["processing", "ready", "failed"]), name="clip_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="ready") | ~Q(sha256=""),
                name="clip_ready_has_sha256",
            ),
        ]
        indexes = [models.Index(fields=["status", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.variant} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("review:clip_detail", args=[self.uuid])

    @property
    def video_url(self) -> str:
        return reverse("assets:clip_video", args=[self.uuid])

    @property
    def poster_url(self) -> str:
        return reverse("assets:clip_poster", args=[self.uuid]) if self.poster else ""

    @property
    def sprite_url(self) -> str:
        return reverse("assets:clip_sprite", args=[self.uuid]) if self.sprite else ""

    @property
    def thumbnails_url(self) -> str:
        return reverse("assets:clip_thumbnails", args=[self.uuid]) if self.thumbnails else ""

    @property
    def waveform_url(self) -> str:
        return reverse("assets:clip_waveform", args=[self.uuid]) if self.waveform else ""

    @property
    def qc_warnings(self) -> list[dict]:
        return [f for f in self.qc if f.get("severity") == "warning"]

    @property
    def qc_segments(self) -> list[dict]:
        """Black, silent and frozen stretches for the player's timeline, in time order."""
        duration = self.duration_s or 0.0
        segments = []
        for kind, label in (("black", "Black"), ("silence", "Silent"), ("freeze", "Frozen")):
            for start, end in (self.analysis or {}).get(kind) or []:
                segments.append(
                    {
                        "kind": kind,
                        "label": label,
                        "start": start,
                        "end": end,
                        # Where the timeline draws it, in percent of the clip.
                        "left": round(100 * start / duration, 3) if duration else 0,
                        "width": round(100 * (end - start) / duration, 3) if duration else 0,
                    }
                )
        return sorted(segments, key=lambda s: (s["start"], s["kind"]))

    def set_qc(self, findings: list[dict]) -> None:
        """Replace the QC findings and the flags lists filter on."""
        self.qc = findings
        self.qc_flags = {f["code"]: f.get("severity", "warning") for f in findings}

    def derived_names(self) -> list[str]:
        """Names of the stored files ingest derived from the video (poster, sprite, ...)."""
        files = (self.poster, self.sprite, self.thumbnails, self.waveform)
        return [f.name for f in files if f.name]


class ArchiveRecord(models.Model):
    """An approved clip's immutable copy in archive storage, with its provenance sidecar."""

    clip = models.OneToOneField(Clip, on_delete=models.PROTECT, related_name="archive_record")
    video_path = models.CharField(max_length=400)
    sidecar_path = models.CharField(max_length=400)
    sha256 = models.CharField(max_length=64)
    size_bytes = models.BigIntegerField()
    provenance = models.JSONField()
    archived_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    archived_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-archived_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=~Q(sha256=""), name="archive_has_sha256"),
        ]

    def __str__(self) -> str:
        return self.video_path

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("archive records are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("archive records are immutable")
