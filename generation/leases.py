"""One driver per piece of background work: leases taken by conditional UPDATE.

A `Lease` row exists per job, clip ingest and archive copy. Every Celery message that drives the
work carries the row's current `token` (the very first message carries ""). A message may act
only if `lease_take` succeeds:

    token matches  AND  (nobody holds it  OR  it is this same task, redelivered  OR  the
                         holder's lease expired)

so a duplicate message (broker redelivery, a second nudge, a webhook racing a poll) is a no-op
while another worker holds the lease, and any message sent before the last hand-over is a
no-op for good, because `lease_pass` rotated the token when it scheduled the next step. A
message redelivered after its worker died carries the same task id, so it takes the lease back
at once instead of waiting for it to expire.

While a worker runs a step, `lease_heartbeat` renews `expires_at` every third of
GREENLIGHT_LEASE_SECONDS, so a long download or ingest keeps its claim for as long as it
runs (up to its task's hard time limit, when Celery kills it). When no one renews it (the
worker died, the message vanished), the lease expires and `leases_overdue` hands it to the
reconciler, which rotates the token and sends exactly one new message (`lease_redrive`),
counting `redrives` against GREENLIGHT_MAX_REDRIVES. A lease whose holder stopped renewing is
re-driven at once (that worker is gone); one that is only waiting for its next message is
re-driven only while no lease of its kind has been taken recently, because under a backlog a
message waits in the queue for as long as the queue is long, and that is not a loss.

Nothing here holds a row lock across provider calls or media work.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from generation.models import Lease

log = logging.getLogger(__name__)
Kind = Lease.Kind


def _new_token() -> str:
    return uuid.uuid4().hex


def _hold() -> timedelta:
    return timedelta(seconds=settings.GREENLIGHT_LEASE_SECONDS)


def _row(kind: str, object_id: int):
    return Lease.objects.filter(kind=kind, object_id=object_id)


def _insert(**fields) -> bool:
    """Create a lease row; False when the work already has one (the unique constraint).

    Outside a transaction this is one INSERT: a conflict in autocommit leaves nothing to roll
    back, so the BEGIN/COMMIT round trips of an atomic block buy nothing. Inside one, a
    savepoint keeps the caller's transaction usable after the conflict.
    """
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                Lease.objects.create(**fields)
        else:
            Lease.objects.create(**fields)
    except IntegrityError:
        return False
    return True


def lease_take(*, kind: str, object_id: int, token: str, owner: str) -> bool:
    """Take the lease for `owner` (a task id) if `token` is current; False means do nothing.

    The first message for a piece of work carries "" and creates the row already held by
    `owner` (one INSERT); when the row exists, the conditional UPDATE below decides as for
    any other message.
    """
    now = timezone.now()
    if token == "" and _insert(
        kind=kind, object_id=object_id, owner=owner, expires_at=now + _hold(), taken_at=now
    ):
        return True
    taken = (
        _row(kind, object_id)
        .filter(token=token, done=False)
        .filter(Q(owner="") | Q(owner=owner) | Q(expires_at__lt=now))
        .update(owner=owner, expires_at=now + _hold(), taken_at=now, updated_at=now)
    )
    return taken == 1


def lease_renew(*, kind: str, object_id: int, owner: str) -> bool:
    """Push the holder's expiry out again; False if it is no longer the holder."""
    now = timezone.now()
    renewed = (
        _row(kind, object_id)
        .filter(owner=owner, done=False)
        .update(expires_at=now + _hold(), updated_at=now)
    )
    return renewed == 1


def lease_pass(*, kind: str, object_id: int, owner: str, countdown: float) -> str | None:
    """Hand over to the next message, due in `countdown` seconds; return its new token.

    The row stays unowned until that message takes it; the reconciler re-drives it only once
    the message is overdue by GREENLIGHT_REDRIVE_GRACE. None if `owner` no longer holds it.
    """
    now = timezone.now()
    token = _new_token()
    due = now + timedelta(seconds=countdown + settings.GREENLIGHT_REDRIVE_GRACE)
    passed = (
        _row(kind, object_id)
        .filter(owner=owner, done=False)
        .update(token=token, owner="", expires_at=due, updated_at=now)
    )
    return token if passed == 1 else None


def lease_release(*, kind: str, object_id: int, owner: str) -> None:
    """Let go at once (a soft time limit, a crash being handled): anyone may take it now."""
    now = timezone.now()
    _row(kind, object_id).filter(owner=owner, done=False).update(
        owner="", expires_at=now, updated_at=now
    )


def lease_fail(*, kind: str, object_id: int, owner: str, error: str) -> int:
    """Count one failed attempt by the holder; return how many there have been."""
    _row(kind, object_id).filter(owner=owner).update(
        failures=F("failures") + 1, last_error=error[:4000], updated_at=timezone.now()
    )
    lease = _row(kind, object_id).first()
    return lease.failures if lease else 0


def lease_finish(*, kind: str, object_id: int, gave_up: bool = False, error: str = "") -> None:
    """The work is over (done, failed for good, canceled): no message drives it again."""
    now = timezone.now()
    fields = {"done": True, "owner": "", "token": _new_token(), "updated_at": now}
    if gave_up:
        fields.update(gave_up_at=now, last_error=error[:4000])
    updated = _row(kind, object_id).update(**fields)
    if not updated and not _insert(kind=kind, object_id=object_id, **fields):
        _row(kind, object_id).update(**fields)  # created meanwhile: finish that one


def lease_kick(*, kind: str, object_id: int) -> str | None:
    """Take over from a waiting message (cancel, webhook): return a token to send now.

    Only while nobody holds the lease: a worker holding it sees the change at its next step.
    """
    now = timezone.now()
    token = _new_token()
    if _insert(kind=kind, object_id=object_id, token=token, expires_at=now):
        return token
    kicked = (
        _row(kind, object_id)
        .filter(done=False)
        .filter(Q(owner="") | Q(expires_at__lt=now))
        .update(
            token=token,
            owner="",
            expires_at=now + timedelta(seconds=settings.GREENLIGHT_REDRIVE_GRACE),
            updated_at=now,
        )
    )
    return token if kicked == 1 else None


def leases_overdue(*, kind: str, now=None) -> list[Lease]:
    """Leases whose holder or next message is overdue: the work has stalled."""
    now = now or timezone.now()
    return list(Lease.objects.filter(kind=kind, done=False, expires_at__lt=now).order_by("pk"))


def lease_redrive(*, lease: Lease, now=None) -> str | None:
    """Rotate an overdue lease's token (so any late message is void); return the new one.

    Counts a redrive. None when the lease moved on since it was read.
    """
    now = now or timezone.now()
    token = _new_token()
    rotated = Lease.objects.filter(
        pk=lease.pk, token=lease.token, done=False, expires_at__lt=now
    ).update(
        token=token,
        owner="",
        redrives=F("redrives") + 1,
        expires_at=now + timedelta(seconds=settings.GREENLIGHT_REDRIVE_GRACE),
        updated_at=now,
    )
    return token if rotated == 1 else None


@contextlib.contextmanager
def lease_heartbeat(*, kind: str, object_id: int, owner: str) -> Iterator[threading.Event]:
    """Renew the lease in a background thread while the block runs.

    Yields an Event that is set if the lease was lost (another worker took it over after an
    expiry), so a long step can stop early.
    """
    stop = threading.Event()
    lost = threading.Event()
    interval = max(settings.GREENLIGHT_LEASE_SECONDS / 3, 0.05)

    def beat() -> None:
        if stop.wait(interval):
            return  # the step ended before the first renewal: this thread opened nothing
        try:
            while True:
                if not lease_renew(kind=kind, object_id=object_id, owner=owner):
                    lost.set()
                    return
                if stop.wait(interval):
                    return
        finally:
            # Only a thread that renewed has a connection of its own; asking any other for
            # `connection` would build a DatabaseWrapper just to close it.
            connection.close()

    thread = threading.Thread(target=beat, name=f"lease-{kind}-{object_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def retry_backoff(failures: int) -> float:
    """Seconds before another attempt: doubling from GREENLIGHT_BACKOFF_BASE, capped at five
    minutes, with jitter (half to one and a half times) so many retries do not move in step."""
    base = min(settings.GREENLIGHT_BACKOFF_BASE * 2 ** max(failures - 1, 0), 300.0)
    return base * random.uniform(0.5, 1.5)


def lease_run(
    *,
    kind: str,
    object_id: int,
    token: str,
    owner: str,
    work: Callable[[], object],
    reschedule: Callable[[str, float], object],
    give_up: Callable[[str], object],
) -> bool:
    """Run `work()` under the lease; return False when this message was not the driver.

    An error (a soft time limit included) counts a failure: past GREENLIGHT_MAX_ATTEMPTS the
    work is given up (`give_up(reason)`), else the lease passes to a new message after a
    backoff (`reschedule(token, countdown)`).
    """
    if not lease_take(kind=kind, object_id=object_id, token=token, owner=owner):
        return False
    try:
        with lease_heartbeat(kind=kind, object_id=object_id, owner=owner):
            work()
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        failures = lease_fail(kind=kind, object_id=object_id, owner=owner, error=reason)
        log.warning("%s %s failed (attempt %s): %s", kind, object_id, failures, reason)
        if failures >= settings.GREENLIGHT_MAX_ATTEMPTS:
            give_up(f"gave up after {failures} attempts: {reason}")
            lease_finish(kind=kind, object_id=object_id, gave_up=True, error=reason)
            return True
        countdown = retry_backoff(failures)
        next_token = lease_pass(kind=kind, object_id=object_id, owner=owner, countdown=countdown)
        if next_token is not None:
            reschedule(next_token, countdown)
        return True
    except BaseException:
        lease_release(kind=kind, object_id=object_id, owner=owner)
        raise
    lease_finish(kind=kind, object_id=object_id)
    return True


def work_reconcile(
    *,
    kind: str,
    pending: QuerySet,
    send: Callable[[int, str], object],
    give_up: Callable[[int, str], object],
    deadline_s: float,
    created_field: str = "created_at",
    now=None,
) -> dict[str, int]:
    """Re-drive stalled work of one kind; give up on work past its budget or deadline.

    `pending` holds the objects that still need the work (e.g. clips still processing). One
    with no lease row that has been quiet for the grace period never got its first message;
    one whose lease is overdue lost its worker or message. Each gets one new message with a
    fresh token, unless it has been re-driven GREENLIGHT_MAX_REDRIVES times or is older than
    `deadline_s`: then `give_up(object_id, reason)` ends it.
    """
    now = now or timezone.now()
    counts = {"redriven": 0, "gave_up": 0}
    quiet = now - timedelta(seconds=settings.GREENLIGHT_REDRIVE_GRACE)
    unleased = pending.filter(**{f"{created_field}__lt": quiet}).exclude(
        Exists(Lease.objects.filter(kind=kind, object_id=OuterRef("pk")))
    )
    workers_busy = Lease.objects.filter(kind=kind, taken_at__gte=quiet).exists()
    for object_id in [] if workers_busy else unleased.values_list("pk", flat=True):
        token = lease_kick(kind=kind, object_id=object_id)
        if token is not None:
            _row(kind, object_id).update(redrives=F("redrives") + 1)
            send(object_id, token)
            counts["redriven"] += 1
    overdue = {
        lease.object_id: lease
        for lease in leases_overdue(kind=kind, now=quiet)
        # A holder that stopped renewing is dead; a waiting message may just be queued.
        if lease.owner or not workers_busy
    }
    created = dict(pending.filter(pk__in=overdue).values_list("pk", created_field))
    for object_id, lease in overdue.items():
        if object_id not in created:
            lease_finish(kind=kind, object_id=object_id)  # the work is no longer needed
            continue
        too_old = (now - created[object_id]).total_seconds() > deadline_s
        if lease.redrives >= settings.GREENLIGHT_MAX_REDRIVES or too_old:
            why = (
                f"not finished within {deadline_s:.0f} s"
                if too_old
                else f"its worker or message was lost {lease.redrives} times"
            )
            give_up(object_id, why)
            lease_finish(kind=kind, object_id=object_id, gave_up=True, error=why)
            counts["gave_up"] += 1
            continue
        token = lease_redrive(lease=lease, now=now)
        if token is not None:
            send(object_id, token)
            counts["redriven"] += 1
    return counts
