from functools import partial

from django.contrib import admin, messages
from django.db import transaction

from assets.models import ArchiveRecord, Clip
from generation.admin import ViewOnlyAdmin


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = [
        "uuid",
        "variant",
        "version",
        "status",
        "duration_s",
        "width",
        "height",
        "loudness_lufs",
        "qc_codes",
    ]
    list_filter = ["status", "has_audio", "video_codec", "created_at"]
    search_fields = ["uuid", "sha256", "variant__brief__title"]
    list_select_related = ["variant__brief"]
    readonly_fields = [f.name for f in Clip._meta.fields]
    actions = ["reanalyse"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="QC")
    def qc_codes(self, clip: Clip) -> str:
        return ", ".join(f["code"] for f in clip.qc) or "—"

    @admin.action(description="Re-analyse (sprite, waveform, loudness, QC)")
    def reanalyse(self, request, queryset) -> None:
        # A full decode per clip: the worker does it (media queue), not this request.
        from assets.tasks import reanalyse_clip

        queued = 0
        for clip in queryset.order_by("pk"):
            if clip.status != Clip.Status.READY:
                self.message_user(
                    request, f"clip {clip.uuid} is {clip.status}, not ready", messages.ERROR
                )
                continue
            transaction.on_commit(partial(reanalyse_clip.delay, clip.pk, request.user.pk))
            queued += 1
        if queued:
            self.message_user(
                request,
                f"Queued {queued} clip(s) for re-analysis; the worker replaces their derived "
                "files and QC in a moment.",
                messages.SUCCESS,
            )


@admin.register(ArchiveRecord)
class ArchiveRecordAdmin(ViewOnlyAdmin):
    list_display = ["clip", "video_path", "sha256", "archived_by", "archived_at"]
    list_filter = ["archived_at"]
    search_fields = ["video_path", "sha256", "clip__uuid"]
    list_select_related = ["clip__variant__brief", "archived_by"]
    readonly_fields = [f.name for f in ArchiveRecord._meta.fields]
