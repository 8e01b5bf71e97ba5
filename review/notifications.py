"""Who is told what about reviews: rows in the app, and email by each user's preference.

Rows are written inside the transaction of the change they report (a step opening, a
decision, a reminder), so a crash can lose a message to the broker but never the
notification; the worker sends them and `notifications_retry` picks up anything failed or
forgotten. Sending claims rows with a conditional UPDATE, so two workers never send one row.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone

from assets.models import Clip
from review.models import Decision, Notification, NotificationPreference, StageStep

N = Notification
OPEN_STATUSES = (N.Status.PENDING, N.Status.FAILED)


class SendFailed(Exception):
    """An email could not be handed to the mail server; the row is marked failed for retry."""


def absolute_url(path: str) -> str:
    return settings.GREENLIGHT_BASE_URL.rstrip("/") + path


def clip_title(clip: Clip) -> str:
    variant = clip.variant
    return f"{variant.brief.title} #{variant.position} v{clip.version}"


def email_modes(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's email preference; users who never chose get digests."""
    ids = list(user_ids)
    chosen = dict(
        NotificationPreference.objects.filter(user_id__in=ids).values_list("user_id", "email")
    )
    return {pk: chosen.get(pk, NotificationPreference.Email.DIGEST) for pk in ids}


def notifications_queue(
    *,
    recipients: Iterable[Any],
    kind: str,
    clip: Clip | None,
    subject: str,
    body: str,
    url: str,
    reply_to: str = "",
) -> list[Notification]:
    """Write one notification per recipient and queue its email after commit.

    Call inside the transaction of the change being reported. A digest user with nothing
    pending starts a burst: one digest task, `GREENLIGHT_DIGEST_INTERVAL` seconds later, sends
    everything that gathered meanwhile.
    """
    users = {u.pk: u for u in recipients}
    if not users:
        return []
    modes = email_modes(users)
    in_burst = set(
        N.objects.filter(
            recipient_id__in=users, delivery=N.Delivery.DIGEST, status__in=OPEN_STATUSES
        ).values_list("recipient_id", flat=True)
    )
    rows = []
    for pk, user in users.items():
        mode = modes[pk]
        if mode == NotificationPreference.Email.OFF or not user.email:
            delivery, status = N.Delivery.NONE, N.Status.IN_APP
        elif mode == NotificationPreference.Email.IMMEDIATE:
            delivery, status = N.Delivery.IMMEDIATE, N.Status.PENDING
        else:
            delivery, status = N.Delivery.DIGEST, N.Status.PENDING
        rows.append(
            N(
                recipient=user,
                kind=kind,
                delivery=delivery,
                status=status,
                clip=clip,
                subject=subject[:200],
                body=body,
                url=url,
                reply_to=reply_to,
            )
        )
    created = N.objects.bulk_create(rows)
    from review.tasks import send_digest, send_notification

    for row in created:
        if row.delivery == N.Delivery.IMMEDIATE:
            transaction.on_commit(partial(send_notification.delay, row.pk))
        elif row.delivery == N.Delivery.DIGEST and row.recipient_id not in in_burst:
            in_burst.add(row.recipient_id)
            transaction.on_commit(
                partial(
                    send_digest.apply_async,
                    (row.recipient_id,),
                    countdown=settings.GREENLIGHT_DIGEST_INTERVAL,
                )
            )
    return created


# --- what each event says ---------------------------------------------------------------------


def notify_step_opened(*, step: StageStep, recipients: Iterable[Any] | None = None) -> None:
    """Tell a stage's deciders (and its comment-only reviewers) that a clip waits for them."""
    from review.services import stage_deciders

    stage = step.stage
    clip = step.review.clip
    title = clip_title(clip)
    url = absolute_url(clip.get_absolute_url())
    deciders = list(recipients if recipients is not None else stage_deciders(stage=stage))
    due = f"\nDue: {timezone.localtime(step.due_at):%a %d %b %H:%M}" if step.due_at else ""
    notifications_queue(
        recipients=deciders,
        kind=N.Kind.WAITING,
        clip=clip,
        subject=f"{title} waits for your decision at {stage.name}",
        body=f"{title} ({clip.variant.brief.campaign.name}) is at {stage.name} and waits for "
        f"your decision.{due}",
        url=url,
    )
    decider_ids = {u.pk for u in deciders}
    commenters = [u for u in stage.commenters.all() if u.pk not in decider_ids]
    notifications_queue(
        recipients=commenters,
        kind=N.Kind.WAITING,
        clip=clip,
        subject=f"{title} is at {stage.name}: your comments are welcome",
        body=f"{title} is at {stage.name}. You are asked for comments (you do not decide).",
        url=url,
    )


VERBS = {
    Decision.Outcome.APPROVE: "approved",
    Decision.Outcome.REJECT: "rejected",
    Decision.Outcome.REQUEST_CHANGES: "asked for changes to",
    Decision.Outcome.RETRACT: "retracted their decision on",
}


def notify_decided(*, decision: Decision) -> None:
    """Tell the brief's creator what a reviewer decided and why; replies go to the reviewer."""
    clip = decision.review.clip
    brief = clip.variant.brief
    if brief.created_by_id is None or brief.created_by_id == decision.user_id:
        return
    creator = brief.created_by
    who = decision.user.get_full_name() or decision.user.get_username()
    title = clip_title(clip)
    lines = [f"{who} {VERBS[decision.outcome]} {title} at {decision.stage.name}."]
    if decision.reason_id:
        lines.append(f"Reason: {decision.reason.label}")
    if decision.note and (not decision.reason_id or decision.note != decision.reason.label):
        lines.append(f"Note: {decision.note}")
    status = decision.review.get_status_display()
    lines.append(f"The clip is now: {status}.")
    notifications_queue(
        recipients=[creator],
        kind=N.Kind.DECISION,
        clip=clip,
        subject=f"{who} {VERBS[decision.outcome]} {title}",
        body="\n".join(lines),
        url=absolute_url(clip.get_absolute_url()),
        reply_to=decision.user.email,
    )


def reminders_send(*, now: Any = None) -> int:
    """Remind deciders who have not decided: once before the due time, once when overdue.

    Each step is locked while its reminder is written, so two beat runs remind once.
    """
    from review.services import stage_deciders, step_verdicts

    now = now or timezone.now()
    before = timedelta(seconds=settings.GREENLIGHT_REMINDER_BEFORE)
    due = StageStep.objects.filter(status=StageStep.Status.OPEN, due_at__isnull=False)
    soon = due.filter(due_at__gt=now, due_at__lte=now + before, reminded_before_at__isnull=True)
    late = due.filter(due_at__lte=now, reminded_after_at__isnull=True)
    sent = 0
    for kind, field, ids in (
        (N.Kind.REMINDER, "reminded_before_at", list(soon.values_list("pk", flat=True))),
        (N.Kind.OVERDUE, "reminded_after_at", list(late.values_list("pk", flat=True))),
    ):
        for step_id in ids:
            with transaction.atomic():
                step = (
                    StageStep.objects.select_for_update(of=("self",))
                    .select_related("stage", "review__clip__variant__brief__campaign")
                    .get(pk=step_id)
                )
                if not step.is_open or getattr(step, field) is not None:
                    continue
                verdicts = step_verdicts(step=step)
                waiting = [u for u in stage_deciders(stage=step.stage) if u.pk not in verdicts]
                clip = step.review.clip
                title = clip_title(clip)
                when = f"{timezone.localtime(step.due_at):%a %d %b %H:%M}"
                if kind == N.Kind.REMINDER:
                    subject = f"Due soon: {title} at {step.stage.name} (by {when})"
                else:
                    subject = f"Overdue: {title} at {step.stage.name} (was due {when})"
                notifications_queue(
                    recipients=waiting,
                    kind=kind,
                    clip=clip,
                    subject=subject,
                    body=f"{title} waits for your decision at {step.stage.name}. It is due {when}.",
                    url=absolute_url(clip.get_absolute_url()),
                )
                setattr(step, field, now)
                step.save(update_fields=[field])
                sent += 1
    return sent


# --- sending ----------------------------------------------------------------------------------


def _message(rows: list[Notification]) -> EmailMultiAlternatives:
    recipient = rows[0].recipient
    if len(rows) == 1:
        subject = rows[0].subject
    else:
        subject = f"{len(rows)} review updates for you in Greenlight"
    context = {
        "rows": rows,
        "recipient": recipient,
        "subject": subject,
        "preferences_url": absolute_url("/notifications/"),
    }
    text = render_to_string("email/notifications.txt", context)
    html = render_to_string("email/notifications.html", context)
    reply_to = sorted({r.reply_to for r in rows if r.reply_to})
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[recipient.email],
        reply_to=reply_to,
    )
    message.attach_alternative(html, "text/html")
    return message


def _send(rows: list[Notification], claim: Any) -> int:
    ids = [r.pk for r in rows]
    try:
        _message(rows).send()
    except Exception as exc:  # any transport failure: keep the rows and retry later
        N.objects.filter(pk__in=ids, claimed_at=claim).update(
            status=N.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise SendFailed(str(exc)) from exc
    N.objects.filter(pk__in=ids, claimed_at=claim).update(
        status=N.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    return len(rows)


def _claim(qs) -> tuple[list[Notification], Any]:
    """Mark rows as being sent by this worker only (a conditional UPDATE), and return them."""
    claim = timezone.now()
    ids = list(qs.values_list("pk", flat=True))
    N.objects.filter(pk__in=ids, status__in=OPEN_STATUSES).update(
        status=N.Status.SENDING, claimed_at=claim, attempts=F("attempts") + 1
    )
    rows = list(
        N.objects.filter(pk__in=ids, status=N.Status.SENDING, claimed_at=claim)
        .select_related("recipient")
        .order_by("created_at", "pk")
    )
    return rows, claim


def notification_send(*, notification_id: int) -> int:
    """Email one notification now; returns 1 when sent, 0 when nothing was left to send.

    Raises SendFailed (the row is marked failed) when the mail server refuses.
    """
    qs = N.objects.filter(
        pk=notification_id, delivery=N.Delivery.IMMEDIATE, status__in=OPEN_STATUSES
    )
    rows, claim = _claim(qs)
    return _send(rows, claim) if rows else 0


def digest_send(*, user_id: int) -> int:
    """Email everything pending in a user's digest as one message; returns how many items."""
    qs = N.objects.filter(
        recipient_id=user_id, delivery=N.Delivery.DIGEST, status__in=OPEN_STATUSES
    )
    rows, claim = _claim(qs)
    return _send(rows, claim) if rows else 0


SENDING_STALE_AFTER = 120


def notifications_retry(*, now: Any = None) -> int:
    """Queue again every email that failed or whose task was lost; returns how many tasks.

    A row stuck in "sending" (its worker died) counts as failed once it is stale. Rows that
    failed `GREENLIGHT_EMAIL_MAX_ATTEMPTS` times stay failed, visible to ops in the admin.
    """
    from review.tasks import send_digest, send_notification

    now = now or timezone.now()
    # Longer than the send tasks' hard time limit: a row "sending" that long has no worker.
    stale = now - timedelta(seconds=SENDING_STALE_AFTER)
    N.objects.filter(status=N.Status.SENDING, claimed_at__lt=stale).update(
        status=N.Status.FAILED, last_error="the worker sending this stopped"
    )
    retry_after = now - timedelta(seconds=settings.GREENLIGHT_EMAIL_RETRY_AFTER)
    digest_after = now - timedelta(seconds=2 * settings.GREENLIGHT_DIGEST_INTERVAL)
    due = N.objects.filter(
        status__in=OPEN_STATUSES, attempts__lt=settings.GREENLIGHT_EMAIL_MAX_ATTEMPTS
    ).filter(
        Q(claimed_at__lt=retry_after)
        | Q(claimed_at__isnull=True, delivery=N.Delivery.IMMEDIATE, created_at__lt=retry_after)
        | Q(claimed_at__isnull=True, delivery=N.Delivery.DIGEST, created_at__lt=digest_after)
    )
    queued = 0
    for pk in due.filter(delivery=N.Delivery.IMMEDIATE).values_list("pk", flat=True):
        send_notification.delay(pk)
        queued += 1
    users = due.filter(delivery=N.Delivery.DIGEST).values_list("recipient_id", flat=True)
    for user_id in sorted(set(users)):
        send_digest.delay(user_id)
        queued += 1
    return queued


def preference_set(*, user: Any, email: str) -> NotificationPreference:
    if email not in NotificationPreference.Email.values:
        raise ValueError(f"unknown email preference {email!r}")
    preference, _ = NotificationPreference.objects.update_or_create(
        user=user, defaults={"email": email}
    )
    return preference
