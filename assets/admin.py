from django.contrib import admin, messages

from assets import services
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
        done = 0
        for clip in queryset.order_by("pk"):
            try:
                services.clip_reanalyse(clip_id=clip.pk, actor=request.user)
            except services.ReanalyseError as exc:
                self.message_user(request, str(exc), messages.ERROR)
            else:
                done += 1
        if done:
            self.message_user(request, f"Re-analysed {done} clip(s).", messages.SUCCESS)


@admin.register(ArchiveRecord)
class ArchiveRecordAdmin(ViewOnlyAdmin):
    list_display = ["clip", "video_path", "sha256", "archived_by", "archived_at"]
    list_filter = ["archived_at"]
    search_fields = ["video_path", "sha256", "clip__uuid"]
    list_select_related = ["clip__variant__brief", "archived_by"]
    readonly_fields = [f.name for f in ArchiveRecord._meta.fields]
