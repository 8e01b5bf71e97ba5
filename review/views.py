from __future__ import annotations

import csv
import json
import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from assets.models import Clip
from assets.selectors import access_clip
from config.http import HtmxHttpRequest
from generation.models import Membership
from generation.selectors import access_campaign
from generation.services import can_create_brief
from review import notifications, selectors, services
from review.forms import DecisionForm, PreferenceForm
from review.models import Notification, NotificationPreference

PANEL = "review/decision_panel.html"
AUDIT_COLUMNS = ["at", "actor", "action", "object_type", "object_id", "from", "to", "data"]


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@login_required
def campaign_audit_csv(request: HtmxHttpRequest, slug: str) -> HttpResponseBase:
    """The campaign's audit trail as CSV, streamed; for its approvers and auditors (users with
    the audit event view permission). The trail itself is never editable."""
    campaign = access_campaign(user=request.user, slug=slug)
    is_approver = campaign.memberships.filter(
        user=request.user, role=Membership.Role.APPROVER
    ).exists()
    if not (is_approver or request.user.has_perm("generation.view_auditevent")):
        raise PermissionDenied("only approvers and auditors export the audit trail")
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(AUDIT_COLUMNS)
        for event in selectors.campaign_audit_events(campaign=campaign).iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    event.created_at.isoformat(),
                    event.actor.get_username() if event.actor else "",
                    event.action,
                    event.object_type,
                    event.object_id,
                    event.from_state,
                    event.to_state,
                    json.dumps(event.data, sort_keys=True, default=str),
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="audit-{campaign.slug}.csv"'
    return response


@login_required
def notification_list(request: HtmxHttpRequest) -> HttpResponse:
    """What the user was told, newest first, with how each one was delivered; the email
    preference is set here too (POST). Opening the list marks everything read."""
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    preference = NotificationPreference.objects.filter(user=request.user).first()
    form = PreferenceForm(
        request.POST or None,
        initial={"email": preference.email if preference else PreferenceForm.DEFAULT},
    )
    if request.method == "POST":
        if form.is_valid():
            notifications.preference_set(user=request.user, email=form.cleaned_data["email"])
            messages.success(request, "Email preference saved.")
            return redirect("review:notifications")
        status = 400
    else:
        status = 200
    page = Paginator(selectors.notifications_for(user=request.user), 25).get_page(
        request.GET.get("page")
    )
    rows = list(page.object_list)
    unread = {n.pk for n in rows if n.read_at is None}
    if unread:
        Notification.objects.filter(pk__in=unread).update(read_at=timezone.now())
    return render(
        request,
        "review/notifications.html",
        {"page": page, "rows": rows, "unread": unread, "form": form},
        status=status,
    )


@require_GET
@login_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    return render(
        request,
        "review/queue.html",
        {
            "reviews": selectors.review_queue(user=request.user),
            "decided": selectors.recently_decided(user=request.user),
        },
    )


def _clip_context(
    request: HtmxHttpRequest, clip: Clip, form: DecisionForm | None = None, error: str = ""
) -> dict:
    review = selectors.review_for_clip(clip=clip)
    panel = selectors.review_panel(review=review, user=request.user) if review else None
    closed_with_notes = review is not None and review.status in (
        review.Status.REJECTED,
        review.Status.CHANGES_REQUESTED,
    )
    decisions = panel.decisions if panel else []
    step_id = panel.step.pk if panel and panel.step else ""
    verdicts = [d for d in decisions if d.outcome != "retract"]
    return {
        "versions": list(
            Clip.objects.filter(variant_id=clip.variant_id)
            .select_related("review")
            .order_by("version")
        ),
        "can_regenerate": closed_with_notes
        and can_create_brief(user=request.user, campaign=clip.variant.brief.campaign),
        "regenerate_notes": verdicts[-1].note if closed_with_notes and verdicts else "",
        "clip": clip,
        "review": review,
        "panel": panel,
        "decisions": decisions,
        "can_decide": bool(panel and panel.can_decide),
        "form": form or DecisionForm(initial={"step": step_id}),
        "error": error,
    }


@require_GET
@login_required
def clip_detail(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    return render(request, "review/clip_detail.html", _clip_context(request, clip))


@require_GET
@login_required
def decision_panel(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """The decision panel alone; an approved clip's panel polls this until it is archived."""
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    return render(request, PANEL, _clip_context(request, clip))


@require_POST
@login_required
def clip_decide(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """Record a decision; htmx gets the decision panel back, a plain form post a redirect.

    Bad input is a 400 with the form's errors, a user the stage does not name a 403, a stage
    that is no longer open (double click, a colleague was quicker) a 409 saying so.
    """
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    form = DecisionForm(request.POST)
    error = ""
    status = 200
    if form.is_valid():
        review = selectors.review_for_clip(clip=clip)
        if review is None:
            error, status = "This clip is not open for review yet.", 409
        else:
            try:
                services.review_decide(
                    review_id=review.pk,
                    step_id=form.cleaned_data["step"],
                    user=request.user,
                    outcome=form.cleaned_data["outcome"],
                    note=form.cleaned_data["note"],
                    reason=form.cleaned_data["reason"],
                )
            except services.NotAllowed as exc:
                error, status = str(exc), 403
            except services.ReviewError as exc:
                error, status = str(exc), 409
            else:
                form = None
                if not request.htmx:
                    return redirect(clip)
    else:
        status = 400
    context = _clip_context(request, clip, form=form, error=error)
    if request.htmx:
        # htmx swaps only 2xx answers; the panel itself carries the error for the reviewer.
        return render(request, PANEL, context)
    return render(request, "review/clip_detail.html", context, status=status)
