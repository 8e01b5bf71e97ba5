from django.contrib import admin, messages

from generation import jobs, leases, services
from generation.models import (
    AuditEvent,
    Brief,
    Campaign,
    GenerationJob,
    Lease,
    Membership,
    SequencePart,
    Variant,
    WebhookDelivery,
)
from generation.providers.base import ProviderError
from generation.statemachine import InvalidTransition


class ViewOnlyAdmin(admin.ModelAdmin):
    """For append-only records (audit events, decisions, archive records): ops may look, and
    nobody adds, edits or deletes through the admin."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "budget_usd", "created_at"]
    search_fields = ["name", "slug", "description"]
    list_filter = ["created_at"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "slug", "description", "created_by"]}),
        ("Generation", {"fields": ["budget_usd", "briefs_need_approval"]}),
        (
            "Loudness window (QC)",
            {
                "fields": ["loudness_target_lufs", "loudness_tolerance_lu", "true_peak_max_dbtp"],
                "description": "What QC holds this campaign's clips to. Leave a field blank "
                "for the platform default (-14 LUFS ±2 LU, true peak at most -1 dBTP for "
                "social unless ops changed it). New values apply to clips analysed from now "
                "on; re-analyse a clip to check it again.",
            },
        ),
    ]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["campaign", "user", "role"]
    list_filter = ["role", "campaign"]
    search_fields = ["campaign__name", "user__username", "user__email"]
    autocomplete_fields = ["user", "campaign"]


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 0
    fields = ["position", "hook", "aspect_ratio", "duration_s", "language", "resolution"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Brief)
class BriefAdmin(admin.ModelAdmin):
    list_display = ["title", "campaign", "provider", "model", "created_by", "created_at"]
    list_filter = ["provider", "resolution", "campaign", "created_at"]
    search_fields = ["title", "prompt", "script", "campaign__name"]
    readonly_fields = ["created_at"]
    inlines = [VariantInline]


@admin.register(Variant)
class VariantAdmin(admin.ModelAdmin):
    list_display = ["brief", "position", "aspect_ratio", "duration_s", "language", "resolution"]
    list_filter = ["aspect_ratio", "language", "resolution", "is_cut"]
    search_fields = ["brief__title", "prompt", "hook"]
    list_select_related = ["brief"]


class SequencePartInline(admin.TabularInline):
    """The shot versions a cut joined, in order (recorded when it was assembled)."""

    model = SequencePart
    fk_name = "cut"
    extra = 0
    fields = ["position", "shot"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "variant",
        "attempt",
        "provider",
        "status",
        "cost_estimate_usd",
        "cost_usd",
        "updated_at",
    ]
    list_filter = ["status", "provider", "model", "created_at"]
    search_fields = ["provider_request_id", "variant__brief__title", "error"]
    list_select_related = ["variant__brief"]
    # Status moves only through services, so the form shows it but cannot change it.
    readonly_fields = [
        "status",
        "key",
        "provider_request_id",
        "submission",
        "submit_started_at",
        "cancel_requested_at",
        "progress",
        "queue_position",
        "retries",
        "cost_usd",
        "seed",
        "result",
        "output",
        "error",
        "error_code",
        "submitted_at",
        "finished_at",
        "deadline_at",
        "created_at",
        "updated_at",
    ]
    actions = ["cancel_jobs", "retry_jobs"]
    inlines = [SequencePartInline]

    @admin.action(description="Cancel selected jobs", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        done = 0
        for job in queryset:
            try:
                jobs.job_cancel(job_id=job.pk, actor=request.user)
                done += 1
            except InvalidTransition as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(
            request,
            f"Canceled {done} job(s); any with a request at the provider end once it confirms.",
        )

    @admin.action(
        description="Queue a new attempt of the selected jobs' variants", permissions=["change"]
    )
    def retry_jobs(self, request, queryset):
        queued = 0
        for variant in {job.variant for job in queryset.select_related("variant__brief")}:
            try:
                services.job_create(variant=variant, requested_by=request.user)
                queued += 1
            except (services.VersionInProgress, services.BudgetExceeded, ProviderError) as exc:
                # A cut refuses (it is assembled again from its shots, on the brief page).
                self.message_user(request, f"{variant}: {exc}", messages.WARNING)
        self.message_user(request, f"Queued {queued} new attempt(s).")


@admin.register(AuditEvent)
class AuditEventAdmin(ViewOnlyAdmin):
    list_display = ["created_at", "actor", "action", "object_type", "object_id", "to_state"]
    list_filter = ["action", "object_type", "created_at"]
    search_fields = ["object_id", "action", "actor__username"]
    date_hierarchy = "created_at"


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    """Background work and who drives it: stalled and given-up work is found here."""

    list_display = ["kind", "object_id", "done", "gave_up_at", "redrives", "failures", "expires_at"]
    list_filter = ["kind", "done", ("gave_up_at", admin.EmptyFieldListFilter)]
    search_fields = ["object_id", "last_error"]
    readonly_fields = [f.name for f in Lease._meta.fields]
    actions = ["redrive"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Re-drive now (clears the failure counts of given-up work)")
    def redrive(self, request, queryset):
        from assets.tasks import ingest_clip
        from generation.jobs import job_redrive
        from review.tasks import archive_review

        # A job's message goes to its provider's queue, as every other drive message does.
        send = {
            Lease.Kind.JOB: job_redrive,
            Lease.Kind.INGEST: ingest_clip.delay,
            Lease.Kind.ARCHIVE: archive_review.delay,
        }
        sent = 0
        for lease in queryset:
            Lease.objects.filter(pk=lease.pk, gave_up_at__isnull=False).update(
                done=False, gave_up_at=None, failures=0, redrives=0
            )
            token = leases.lease_kick(kind=lease.kind, object_id=lease.object_id)
            if token is not None:
                send[lease.kind](lease.object_id, token)
                sent += 1
        self.message_user(request, f"Re-drove {sent} piece(s) of work.")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ViewOnlyAdmin):
    list_display = ["received_at", "provider", "request_id", "delivery_id"]
    list_filter = ["provider"]
    search_fields = ["request_id", "delivery_id"]
