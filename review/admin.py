from django.contrib import admin
from django.utils.html import format_html

from generation.admin import ViewOnlyAdmin
from review.models import (
    Decision,
    Guest,
    Notification,
    NotificationPreference,
    RejectReason,
    Review,
    ShareLink,
    Stage,
    StageStep,
    StageTemplate,
    Tag,
    TagPolicy,
)

STAGE_FIELDS = [
    "name",
    "position",
    "description",
    "rule",
    "quorum",
    "due_after",
    "member_roles",
    "decider_groups",
]


@admin.register(StageTemplate)
class StageTemplateAdmin(admin.ModelAdmin):
    """The stages every new campaign starts with (a copy; editing them changes no campaign)."""

    list_display = ["position", "name", "rule", "member_roles", "due_after"]
    list_display_links = ["name"]
    search_fields = ["name"]
    list_filter = ["rule"]
    fields = STAGE_FIELDS
    filter_horizontal = ["decider_groups"]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["campaign", "position", "name", "rule", "quorum", "member_roles", "due_after"]
    list_display_links = ["name"]
    search_fields = ["name", "campaign__name"]
    list_filter = ["rule", "campaign"]
    list_select_related = ["campaign"]
    fields = ["campaign", *STAGE_FIELDS, "deciders", "commenters"]
    filter_horizontal = ["decider_groups", "deciders", "commenters"]

    def has_delete_permission(self, request, obj=None) -> bool:
        # A stage that reviews have passed through is history; PROTECT would refuse anyway.
        if obj is not None and obj.steps.exists():
            return False
        return super().has_delete_permission(request, obj)


@admin.register(RejectReason)
class RejectReasonAdmin(admin.ModelAdmin):
    list_display = ["label", "position", "active"]
    list_editable = ["position", "active"]
    list_filter = ["active"]
    search_fields = ["label"]


class StepInline(admin.TabularInline):
    model = StageStep
    extra = 0
    fields = ["stage", "status", "opened_at", "due_at", "closed_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    readonly_fields = ["stage", "user", "outcome", "reason", "note", "created_at"]
    fields = readonly_fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Reviews change only through decisions; deleting one would strand its ready clip, which
    could then never be reviewed again, so nobody may."""

    list_display = ["clip", "status", "stage", "created_at", "decided_at"]
    list_filter = ["status", "created_at"]
    search_fields = ["clip__uuid", "clip__variant__brief__title"]
    list_select_related = ["clip__variant__brief", "stage"]
    readonly_fields = ["clip", "status", "stage", "created_at", "updated_at", "decided_at"]
    inlines = [StepInline, DecisionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Decision)
class DecisionAdmin(ViewOnlyAdmin):
    list_display = ["review", "stage", "user", "outcome", "created_at"]
    list_filter = ["outcome", "created_at"]
    search_fields = ["note", "user__username", "review__clip__uuid"]
    list_select_related = ["review__clip__variant__brief", "stage", "user"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    """A campaign's tag vocabulary (and the free tags reviewers added where allowed)."""

    list_display = ["name", "campaign", "swatch", "controlled"]
    list_filter = ["controlled", "campaign"]
    search_fields = ["name", "campaign__name"]
    list_select_related = ["campaign"]
    fields = ["campaign", "name", "colour", "controlled", "created_by"]
    readonly_fields = ["created_by"]

    @admin.display(description="colour")
    def swatch(self, obj: Tag) -> str:
        return format_html(
            '<span style="display:inline-block;width:14px;height:14px;border-radius:50%;'
            'background:{};vertical-align:middle"></span> {}',
            obj.colour,
            obj.colour,
        )


@admin.register(TagPolicy)
class TagPolicyAdmin(admin.ModelAdmin):
    list_display = ["campaign", "free_tags"]
    list_filter = ["free_tags"]
    search_fields = ["campaign__name"]


@admin.register(Notification)
class NotificationAdmin(ViewOnlyAdmin):
    """What was sent to whom; failed sends are retried by the worker, never deleted."""

    list_display = ["created_at", "recipient", "kind", "delivery", "status", "attempts", "subject"]
    list_filter = ["status", "kind", "delivery", "created_at"]
    search_fields = ["subject", "recipient__username", "recipient__email"]
    list_select_related = ["recipient"]


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email"]
    list_filter = ["email"]
    search_fields = ["user__username", "user__email"]


class GuestInline(admin.TabularInline):
    model = Guest
    extra = 0
    fields = ["name", "email", "created_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """External review links; revoke rather than delete, so guests' actions keep their link."""

    list_display = ["__str__", "campaign", "created_by", "created_at", "expires_at", "revoked_at"]
    list_filter = ["campaign", "created_at"]
    search_fields = ["label", "campaign__name"]
    list_select_related = ["campaign", "created_by"]
    fields = ["campaign", "label", "clips", "expires_at", "revoked_at", "created_by"]
    readonly_fields = ["campaign", "clips", "created_by", "revoked_at"]
    inlines = [GuestInline]
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # links are made on the clip page, where the clips are chosen

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Revoke selected links", permissions=["change"])
    def revoke(self, request, queryset):
        from review import services

        for link in queryset:
            # The admin's change permission is the check here, not campaign membership.
            services.share_link_revoke(link_id=link.pk, user=request.user, by_ops=True)
        self.message_user(request, f"Revoked {queryset.count()} link(s).")
