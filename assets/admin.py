from django.contrib import admin

from assets.models import ArchiveRecord, Clip
from generation.admin import ViewOnlyAdmin


@admin.register(Clip)
class ClipAdmin(admin.ModelAdmin):
    list_display = ["uuid", "variant", "version", "status", "duration_s", "width", "height"]
    list_filter = ["status", "has_audio", "video_codec", "created_at"]
    search_fields = ["uuid", "sha256", "variant__brief__title"]
    list_select_related = ["variant__brief"]
    readonly_fields = [f.name for f in Clip._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ArchiveRecord)
class ArchiveRecordAdmin(ViewOnlyAdmin):
    list_display = ["clip", "video_path", "sha256", "archived_by", "archived_at"]
    list_filter = ["archived_at"]
    search_fields = ["video_path", "sha256", "clip__uuid"]
    list_select_related = ["clip__variant__brief", "archived_by"]
    readonly_fields = [f.name for f in ArchiveRecord._meta.fields]
