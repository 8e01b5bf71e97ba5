from django.contrib import admin

from generation.admin import ViewOnlyAdmin
from review.models import Decision, Review, Stage


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["position", "name"]
    list_display_links = ["name"]
    search_fields = ["name"]
    list_filter = ["position"]


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    readonly_fields = ["stage", "user", "outcome", "note", "created_at"]
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["clip", "status", "stage", "created_at", "decided_at"]
    list_filter = ["status", "stage", "created_at"]
    search_fields = ["clip__uuid", "clip__variant__brief__title"]
    list_select_related = ["clip__variant__brief", "stage"]
    readonly_fields = ["clip", "status", "stage", "created_at", "updated_at", "decided_at"]
    inlines = [DecisionInline]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(Decision)
class DecisionAdmin(ViewOnlyAdmin):
    list_display = ["review", "stage", "user", "outcome", "created_at"]
    list_filter = ["outcome", "stage", "created_at"]
    search_fields = ["note", "user__username", "review__clip__uuid"]
    list_select_related = ["review__clip__variant__brief", "stage", "user"]
