from __future__ import annotations

import csv
import dataclasses
import json
import uuid
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import (
    require_GET,
    require_http_methods,
    require_POST,
    require_safe,
)

from assets.models import Clip
from assets.selectors import access_clip, clips_visible_to
from assets.streaming import ranged_file_response
from config.http import HtmxHttpRequest
from generation.models import Membership
from generation.selectors import access_campaign, visible_to
from generation.services import LOCALIZABLE_REVIEW_STATES, can_create_brief
from review import notifications, selectors, services
from review.forms import (
    CommentForm,
    DecisionForm,
    GuestForm,
    PreferenceForm,
    QueueFilterForm,
    ShareForm,
    TagForm,
)
from review.models import (
    Comment,
    Guest,
    Notification,
    NotificationPreference,
    Review,
    ShareLink,
)

PANEL = "review/decision_panel.html"
TAGS = "review/tags_panel.html"
COMMENTS = "review/comments_panel.html"
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


QUEUE_PAGE_SIZE = 50


def _queue_filters(request: HtmxHttpRequest) -> tuple[QueueFilterForm, selectors.QueueFilters]:
    form = QueueFilterForm(request.GET)
    if not form.is_valid():
        return form, selectors.QueueFilters()
    data = {k: v for k, v in form.cleaned_data.items() if v not in ("", None)}
    return form, selectors.QueueFilters(**data)


@require_GET
@login_required
def queue(request: HtmxHttpRequest) -> HttpResponse:
    """The review queue: waiting for me by default, filtered, sorted and paginated.

    A bad filter value is a 400 with the form's error above an unfiltered list.
    """
    form, filters = _queue_filters(request)
    reviews = selectors.review_queue(user=request.user, filters=filters)
    page = Paginator(reviews.values_list("pk", flat=True), QUEUE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    other_scope = "all" if filters.scope == "mine" else "mine"
    counts = {
        filters.scope: page.paginator.count,
        other_scope: selectors.review_queue(
            user=request.user, filters=dataclasses.replace(filters, scope=other_scope)
        ).count(),
    }
    context = {
        "page": page,
        "reviews": selectors.queue_rows(ids=list(page.object_list)),
        "filters": filters,
        "form": form,
        "counts": counts,
        "choices": selectors.queue_choices(user=request.user),
        "query": query.urlencode(),
        "decided": selectors.recently_decided(user=request.user),
        "now": timezone.now(),
    }
    template = "review/queue.html#queue-list" if request.htmx else "review/queue.html"
    return render(request, template, context, status=200 if form.is_valid() else 400)


@require_POST
@login_required
def queue_bulk_tag(request: HtmxHttpRequest) -> HttpResponse:
    """Tag the clips ticked in the queue; back to the same queue page with a message."""
    form = TagForm(request.POST)
    back = request.POST.get("next", "")
    if not back.startswith("/review/"):
        back = reverse("review:queue")
    uuids = []
    for value in request.POST.getlist("clips"):
        try:
            uuids.append(uuid.UUID(value))
        except ValueError:
            return HttpResponseBadRequest("not a clip id")
    clips = list(
        clips_visible_to(user=request.user)
        .filter(uuid__in=uuids)
        .select_related("variant__brief__campaign")
    )
    if not form.is_valid() or not clips or len(clips) != len(set(uuids)):
        messages.error(request, "Tick the clips to tag and give a tag name.")
        return redirect(back)
    try:
        tag = services.clips_tag(clips=clips, user=request.user, name=form.cleaned_data["name"])
    except services.ReviewError as exc:
        messages.error(request, str(exc)[:1].upper() + str(exc)[1:] + ".")
    else:
        messages.success(request, f"Tagged {len(clips)} clip{pluralize(len(clips))} “{tag.name}”.")
    return redirect(back)


COMMENTS_PAGE_SIZE = 50


def _query_without(request: HtmxHttpRequest, param: str) -> str:
    """The request's query string without `param`: what one list's page links keep of the
    page's other lists (the clip page pages its comments and its decisions apart)."""
    query = request.GET.copy()
    query.pop(param, None)
    return query.urlencode()


def _comments_context(
    request: HtmxHttpRequest, clip: Clip, form: CommentForm | None = None, error: str = ""
) -> dict:
    page = Paginator(selectors.clip_comments(clip=clip), COMMENTS_PAGE_SIZE).get_page(
        request.GET.get("cpage")
    )
    return {
        "clip": clip,
        "comment_page": page,
        "comment_query": _query_without(request, "cpage"),
        "comments": list(page.object_list),
        "markers": selectors.comment_markers(clip=clip, per_page=COMMENTS_PAGE_SIZE),
        "comment_form": form or CommentForm(),
        "can_comment": services.can_comment(user=request.user, clip=clip),
        "can_resolve": True,
        "comment_url": reverse("review:clip_comment", args=[clip.uuid]),
        "comment_error": error,
    }


@require_POST
@login_required
def clip_comment(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """Add a comment or reply; htmx gets the comments panel, a plain post a redirect to it.

    Empty text, a time outside the clip or a range ending before it starts is a 400 with
    the message; a non-member never gets here (404 from access_clip).
    """
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    form = CommentForm(request.POST)
    error, status, comment = "", 200, None
    if not form.is_valid():
        error, status = "Write a comment (times are positive numbers, a drawing is JSON).", 400
    else:
        data = form.cleaned_data
        try:
            comment = services.comment_add(
                clip=clip,
                user=request.user,
                body=data["body"],
                at_s=data["at_s"],
                end_s=data["end_s"],
                parent_id=data["parent"],
                drawing=data["drawing"],
            )
        except services.NotAllowed as exc:
            error, status = str(exc), 403
        except services.ReviewError as exc:
            error, status = str(exc), 400
    if request.htmx:
        return render(
            request,
            COMMENTS,
            _comments_context(request, clip, form if error else None, error),
        )
    if error:
        return HttpResponse(error, status=status, content_type="text/plain; charset=utf-8")
    return redirect(_comment_url(clip, comment))


def _comment_url(clip: Clip, comment: Comment) -> str:
    """The clip page at the page of the comment list that shows `comment` (or its thread)."""
    pages = selectors.comment_pages(clip=clip, per_page=COMMENTS_PAGE_SIZE)
    page = pages.get(comment.parent_id or comment.pk, 1)
    return f"{clip.get_absolute_url()}?cpage={page}#comment-{comment.pk}"


@require_POST
@login_required
def comment_resolve(request: HtmxHttpRequest, comment_id: int, action: str) -> HttpResponse:
    """Resolve or reopen a thread (action is "resolve" or "reopen", anything else a 404)."""
    if action not in ("resolve", "reopen"):
        raise Http404("no such action")
    visible = clips_visible_to(user=request.user).values("pk")
    comment = Comment.objects.filter(pk=comment_id, clip_id__in=visible).first()
    if comment is None:
        raise Http404("no such comment")
    try:
        services.comment_resolve(
            comment_id=comment.pk, user=request.user, resolved=action == "resolve"
        )
    except services.NotAllowed as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    except services.ReviewError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    clip = access_clip(user=request.user, clip_uuid=comment.clip.uuid)
    if request.htmx:
        return render(request, COMMENTS, _comments_context(request, clip))
    return redirect(_comment_url(clip, comment))


def _tags_context(request: HtmxHttpRequest, clip: Clip, error: str = "") -> dict:
    return {
        "clip": clip,
        "clip_tags": selectors.clip_tags(clip=clip),
        "tag_options": selectors.campaign_tag_names(campaign_ids=[clip.variant.brief.campaign_id]),
        "can_tag": services.can_tag(user=request.user, campaign_id=clip.variant.brief.campaign_id),
        "tag_error": error,
    }


@require_POST
@login_required
def clip_tag(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """Add a tag to a clip; htmx gets the tags panel, a plain post a redirect.

    An unknown tag where free tags are off, or an empty name, is a 400 with the message.
    """
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    form = TagForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = "Give the tag a name (at most 40 characters).", 400
    else:
        try:
            services.clips_tag(clips=[clip], user=request.user, name=form.cleaned_data["name"])
        except services.NotAllowed as exc:
            error, status = str(exc), 403
        except services.ReviewError as exc:
            error, status = str(exc), 400
    if request.htmx:
        return render(request, TAGS, _tags_context(request, clip, error))
    if status != 200:
        return HttpResponse(error, status=status, content_type="text/plain; charset=utf-8")
    return redirect(clip)


@require_POST
@login_required
def clip_untag(request: HtmxHttpRequest, clip_uuid: uuid.UUID, tag_id: int) -> HttpResponse:
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    try:
        services.clip_untag(clip=clip, user=request.user, tag_id=tag_id)
    except services.NotAllowed as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    if request.htmx:
        return render(request, TAGS, _tags_context(request, clip))
    return redirect(clip)


def _panel_context(
    request: HtmxHttpRequest,
    clip: Clip,
    form: DecisionForm | None = None,
    error: str = "",
    review: Review | None = None,
) -> dict:
    """What the decision panel needs, and nothing more: an htmx decision renders only this.

    `review` is the review a decision has just written (not read again)."""
    just_decided = review is not None
    if review is None:
        review = selectors.review_for_clip(clip=clip)
    else:
        review.clip = clip
    panel = None
    if review is not None:
        page = request.GET.get("dpage")
        panel = selectors.review_panel(review=review, user=request.user, page=page)
    closed_with_notes = review is not None and review.status in (
        review.Status.REJECTED,
        review.Status.CHANGES_REQUESTED,
    )
    decisions = panel.decisions if panel else []
    step_id = panel.step.pk if panel and panel.step else ""
    verdicts = [d for d in decisions if d.outcome != "retract"]
    # Whether the user is a creator costs a query; the panel a decision returns (the approval
    # hot path) only needs it when the decision closed the review with notes.
    localizable = not just_decided and review is not None
    localizable = localizable and review.status in LOCALIZABLE_REVIEW_STATES
    # A cut is remade by assembling its shots again (the brief's Cuts panel), not edited or
    # voiced in another language.
    remakeable = (closed_with_notes or localizable) and not clip.variant.is_cut
    is_creator = remakeable and can_create_brief(
        user=request.user, campaign=clip.variant.brief.campaign
    )
    return {
        "can_regenerate": closed_with_notes and is_creator,
        # A clip pending, in review or approved can be made in other languages (issue 7).
        "can_localize": localizable and is_creator,
        "regenerate_notes": verdicts[-1].note if closed_with_notes and verdicts else "",
        "clip": clip,
        "review": review,
        "panel": panel,
        "decisions": decisions,
        "can_decide": bool(panel and panel.can_decide),
        # Only a panel that offers the decision renders the form (none after an approval).
        "form": form
        or (DecisionForm(initial={"step": step_id}) if panel and panel.can_decide else None),
        "error": error,
        "decide_url": reverse("review:clip_decide", args=[clip.uuid]),
        "panel_url": reverse("review:decision_panel", args=[clip.uuid]),
        "decision_query": _query_without(request, "dpage"),
    }


def _clip_context(
    request: HtmxHttpRequest, clip: Clip, form: DecisionForm | None = None, error: str = ""
) -> dict:
    return {
        **_tags_context(request, clip),
        **_comments_context(request, clip),
        **_panel_context(request, clip, form, error),
        **_share_context(request, clip),
        "earlier_versions": selectors.earlier_versions(clip=clip),
        "versions": list(
            Clip.objects.filter(variant_id=clip.variant_id)
            .select_related("review")
            .order_by("version")
        ),
    }


@require_GET
@login_required
def clip_compare(request: HtmxHttpRequest, clip_uuid: uuid.UUID, other_uuid: uuid.UUID):
    """Two clips side by side (two versions, or two variants), played and sought together,
    each side with its own sound toggle; the right-hand clip can be decided here."""
    left = access_clip(user=request.user, clip_uuid=other_uuid)
    right = access_clip(user=request.user, clip_uuid=clip_uuid)
    if left.pk == right.pk:
        return redirect(right)
    left_review = selectors.review_for_clip(clip=left)
    return render(
        request,
        "review/compare.html",
        {**_panel_context(request, right), "left": left, "left_review": left_review},
    )


@require_GET
@login_required
def queue_step(request: HtmxHttpRequest, clip_uuid: uuid.UUID, direction: str) -> HttpResponse:
    """Go to the clip before or after this one in the user's waiting queue (j / k).

    Worked out on click rather than on every page and panel render; at either end of the
    queue, back to the queue with a message.
    """
    if direction not in ("next", "previous"):
        raise Http404("no such direction")
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    review = selectors.review_for_clip(clip=clip)
    if review is not None:
        before, after = selectors.queue_neighbours(user=request.user, review=review)
        target = after if direction == "next" else before
        if target is not None:
            return redirect(target.clip)
    messages.info(request, "Nothing else is waiting for you there.")
    return redirect("review:queue")


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
    return render(request, PANEL, _panel_context(request, clip))


def _decide(
    request: HtmxHttpRequest, clip: Clip | None = None, clip_uuid: Any = None
) -> tuple[DecisionForm | None, Any, str, int]:
    """Validate the posted decision and record it for `request.user` (a member or a guest) on
    the review of `clip`, or of clip `clip_uuid` if the user may see it as a member.

    Returns (the form to show again or None once recorded, the decision or None, an error for
    the panel, the status): 400 for bad input, 403 for someone the stage does not name, 409 for
    a stage that is no longer open (a double click, a quicker colleague), a closed review, or
    no review (for `clip_uuid`, also a clip the user may not see: the caller checks that).
    """
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return form, None, "", 400
    try:
        decided = services.review_decide(
            clip=clip,
            clip_uuid=clip_uuid,
            step_id=form.cleaned_data["step"],
            user=request.user,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
            reason=form.cleaned_data["reason"],
        )
    except Review.DoesNotExist:
        return form, None, "This clip is not open for review yet.", 409
    except services.NotAllowed as exc:
        return form, None, str(exc), 403
    except services.ReviewError as exc:
        return form, None, str(exc), 409
    return None, decided, "", 200


@require_POST
@login_required
def clip_decide(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """Record a decision; htmx gets the decision panel back, a plain form post a redirect.

    Bad input is a 400 with the form's errors, a user the stage does not name a 403, a stage
    that is no longer open (double click, a colleague was quicker) a 409 saying so.
    """
    form, decided, error, status = _decide(request, clip_uuid=clip_uuid)
    if decided is not None:
        # The review was locked with the clip columns its panel shows (one query).
        review = decided.review
        if not request.htmx:
            return redirect(review.clip)
        return render(request, PANEL, _panel_context(request, review.clip, review=review))
    # Not recorded: a clip the user may not see is a 404 whatever was posted.
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    if request.htmx:
        # htmx swaps only 2xx answers; the panel itself carries the error for the reviewer.
        context = _panel_context(request, clip, form=form, error=error)
        return render(request, PANEL, context)
    context = _clip_context(request, clip, form=form, error=error)
    return render(request, "review/clip_detail.html", context, status=status)


# --- external review links (guests) -----------------------------------------------------------


def _share_context(request: HtmxHttpRequest, clip: Clip) -> dict:
    campaign_id = clip.variant.brief.campaign_id
    can_share = services.can_share(user=request.user, campaign_id=campaign_id)
    links = []
    if can_share:
        links = [
            link
            for link in clip.share_links.filter(revoked_at__isnull=True).order_by("-created_at")
            if link.is_live()
        ]
    return {"can_share": can_share, "share_links": links, "share_form": ShareForm()}


@require_POST
@login_required
def clip_share(request: HtmxHttpRequest, clip_uuid: uuid.UUID) -> HttpResponse:
    """Make an external review link to this clip (creators and approvers; else 403)."""
    clip = access_clip(user=request.user, clip_uuid=clip_uuid)
    form = ShareForm(request.POST)
    if not form.is_valid():
        return HttpResponse(
            "Choose how many days (1–30) the link works.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    data = form.cleaned_data
    try:
        link = services.share_link_create(
            clips=[clip],
            user=request.user,
            expires_at=timezone.now() + timedelta(days=data["days"]),
            password=data["password"],
            label=data["label"],
        )
    except services.NotAllowed as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    url = request.build_absolute_uri(reverse("review:guest_enter", args=[link.token]))
    messages.success(request, f"External review link (works {data['days']} days): {url}")
    return redirect(clip)


@require_POST
@login_required
def share_revoke(request: HtmxHttpRequest, link_id: int) -> HttpResponse:
    link = ShareLink.objects.filter(pk=link_id).first()
    if (
        link is None
        or not visible_to(
            ShareLink.objects.filter(pk=link_id), user=request.user, campaign="campaign"
        ).exists()
    ):
        raise Http404("no such link")
    try:
        services.share_link_revoke(link_id=link.pk, user=request.user)
    except services.NotAllowed as exc:
        return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
    messages.success(request, "The link is revoked.")
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/clips/") else "review:queue")


def _link_and_guest(request: HtmxHttpRequest, token: str) -> tuple[ShareLink, Guest | None]:
    link = ShareLink.objects.filter(token=token).select_related("campaign").first()
    if link is None:
        raise Http404("no such link")
    guest = None
    if request.user.is_authenticated:
        guest = Guest.objects.filter(user=request.user, link=link).first()
    return link, guest


def _gone(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "review/guest_gone.html", status=410)


@require_http_methods(["GET", "POST"])
def guest_enter(request: HtmxHttpRequest, token: str) -> HttpResponse:
    """The door of an external review link: name, email and (if set) the password.

    An unknown token is a 404, an expired or revoked link a 410, a wrong password or missing
    name a 400 with the message.
    """
    link, guest = _link_and_guest(request, token)
    if not link.is_live():
        return _gone(request)
    if guest is not None:
        return redirect("review:guest_home", token=token)
    form = GuestForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            data = form.cleaned_data
            try:
                guest = services.guest_enter(
                    link=link, name=data["name"], email=data["email"], password=data["password"]
                )
            except services.ReviewError as exc:
                form.add_error(None, str(exc)[:1].upper() + str(exc)[1:] + ".")
            else:
                login(request, guest.user, backend="django.contrib.auth.backends.ModelBackend")
                return redirect("review:guest_home", token=token)
    return render(request, "review/guest_enter.html", {"link": link, "form": form}, status=status)


def _guest_clip(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID):
    """(link, guest, clip) for a guest of this live link, or the response to give instead."""
    link, guest = _link_and_guest(request, token)
    if not link.is_live():
        return _gone(request)
    if guest is None:
        return redirect("review:guest_enter", token=token)
    if clip_uuid is None:
        return link, guest, None
    clip = (
        link.clips.filter(uuid=clip_uuid).select_related("job", "variant__brief__campaign").first()
    )
    if clip is None:
        raise Http404("no such clip in this link")
    return link, guest, clip


def _guest_context(request: HtmxHttpRequest, link: ShareLink, clip: Clip, **kw: Any) -> dict:
    args = [link.token, clip.uuid]
    return {
        **_comments_context(request, clip),
        **_panel_context(request, clip, **kw),
        "guest": True,
        "link": link,
        "can_resolve": False,
        "comment_url": reverse("review:guest_comment", args=args),
        "decide_url": reverse("review:guest_decide", args=args),
        "panel_url": reverse("review:guest_panel", args=args),
        "video_url": reverse("review:guest_video", args=args),
    }


@require_GET
def guest_home(request: HtmxHttpRequest, token: str) -> HttpResponse:
    found = _guest_clip(request, token, None)
    if isinstance(found, HttpResponseBase):
        return found
    link, guest, _clip = found
    clips = link.clips.select_related("variant__brief", "review").order_by("pk")
    return render(request, "review/guest_home.html", {"link": link, "guest": guest, "clips": clips})


@require_GET
def guest_clip(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID) -> HttpResponse:
    found = _guest_clip(request, token, clip_uuid)
    if isinstance(found, HttpResponseBase):
        return found
    link, _guest, clip = found
    return render(request, "review/guest_clip.html", _guest_context(request, link, clip))


@require_GET
def guest_panel(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID) -> HttpResponse:
    found = _guest_clip(request, token, clip_uuid)
    if isinstance(found, HttpResponseBase):
        return found
    link, _guest, clip = found
    return render(request, PANEL, _guest_context(request, link, clip))


@require_safe
def guest_video(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID) -> HttpResponseBase:
    """The clip's video for a guest of the link, with HTTP Range (remote storage: a signed
    URL)."""
    found = _guest_clip(request, token, clip_uuid)
    if isinstance(found, HttpResponseBase):
        return found
    _link, _guest, clip = found
    name = clip.file.name
    if not name or not default_storage.exists(name):
        raise Http404("file missing")
    if not isinstance(default_storage, FileSystemStorage):
        return HttpResponseRedirect(default_storage.url(name))
    return ranged_file_response(
        request,
        file=default_storage.open(name, "rb"),
        size=default_storage.size(name),
        content_type="video/mp4",
        filename=f"clip-{clip.uuid}-v{clip.version}.mp4",
        last_modified=default_storage.get_modified_time(name),
    )


@require_POST
def guest_comment(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID) -> HttpResponse:
    """A guest's comment, recorded and audited under the guest's name; 400 for bad input."""
    found = _guest_clip(request, token, clip_uuid)
    if isinstance(found, HttpResponseBase):
        return found
    link, _guest, clip = found
    form = CommentForm(request.POST)
    error, status = "", 200
    if not form.is_valid():
        error, status = "Write a comment (times are positive numbers).", 400
    else:
        data = form.cleaned_data
        try:
            services.comment_add(
                clip=clip,
                user=request.user,
                body=data["body"],
                at_s=data["at_s"],
                end_s=data["end_s"],
                parent_id=data["parent"],
                drawing=data["drawing"],
            )
        except services.ReviewError as exc:
            error, status = str(exc), 400
    context = _guest_context(request, link, clip)
    context.update(comment_error=error, comment_form=form if error else CommentForm())
    return render(request, COMMENTS, context, status=200 if request.htmx else status)


@require_POST
def guest_decide(request: HtmxHttpRequest, token: str, clip_uuid: uuid.UUID) -> HttpResponse:
    """A guest's decision, only where the stage lets guests decide (else 403)."""
    found = _guest_clip(request, token, clip_uuid)
    if isinstance(found, HttpResponseBase):
        return found
    link, _guest, clip = found
    form, _decided, error, status = _decide(request, clip)
    context = _guest_context(request, link, clip, form=form, error=error)
    return render(request, PANEL, context, status=200 if request.htmx else status)
