"""EMAIL_URL → MAILERS, and delivery to a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import socket

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from django.core.mail import send_mail

from config.mail import mailers_from_url


class Inbox(Message):
    def __init__(self) -> None:
        super().__init__()
        self.messages = []

    def handle_message(self, message) -> None:
        self.messages.append(message)


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    # The controller checks readiness by connecting to its own port, so it needs a real one.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


@pytest.mark.parametrize(
    ("url", "backend", "options"),
    [
        ("consolemail://", "django.core.mail.backends.console.EmailBackend", {}),
        (
            "smtp+tls://mailer:s3cret@smtp.example.com:587",
            "django.core.mail.backends.smtp.EmailBackend",
            {"host": "smtp.example.com", "port": 587, "username": "mailer",
             "password": "s3cret", "use_tls": True, "use_ssl": False, "timeout": 30},
        ),
        (
            "smtp+ssl://smtp.example.com:465",
            "django.core.mail.backends.smtp.EmailBackend",
            {"host": "smtp.example.com", "port": 465, "username": "", "password": "",
             "use_tls": False, "use_ssl": True, "timeout": 30},
        ),
    ],
)  # fmt: skip
def test_email_url_maps_to_mailers(url, backend, options, tmp_path):
    mailers = mailers_from_url(url, file_path=tmp_path)
    assert mailers == {"default": {"BACKEND": backend, "OPTIONS": options}}


def test_filemail_defaults_to_the_given_folder(tmp_path):
    mailers = mailers_from_url("filemail://", file_path=tmp_path)
    assert mailers["default"]["OPTIONS"] == {"file_path": str(tmp_path)}


def test_smtp_delivery_reaches_a_real_server(settings, smtp_server):
    port, inbox = smtp_server
    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{port}", file_path=None)
    sent = send_mail(
        "3 clips wait for your review",
        "Spring Launch: Meet the Spring range has 3 clips at Creative review.",
        "Greenlight <greenlight@localhost>",
        ["approver@example.test"],
    )
    assert sent == 1
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["Subject"] == "3 clips wait for your review"
    assert message["To"] == "approver@example.test"
    assert "Meet the Spring range" in message.get_payload()


# --- review notifications through a real SMTP server ----------------------------------------


def _parts(message) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in message.walk()
        if not part.is_multipart()
    }


@pytest.fixture
def mail_to_smtp(settings, smtp_server):
    port, inbox = smtp_server
    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{port}", file_path=None)
    settings.GREENLIGHT_BASE_URL = "http://testserver"
    return inbox


def _review_world(modes: dict[str, str], *, creator_mode: str = "immediate"):
    """A campaign with a creator and one named decider per mode, and a clip opened for review."""
    from generation.models import Membership
    from review import notifications, services
    from review.models import Stage
    from tests.factories import BriefFactory, ClipFactory, MembershipFactory

    creator = MembershipFactory(role=Membership.Role.CREATOR, user__username="cora").user
    notifications.preference_set(user=creator, email=creator_mode)
    campaign = creator.memberships.get().campaign
    brief = BriefFactory(campaign=campaign, created_by=creator, title="Spring teaser")
    stage = Stage.objects.get(campaign=campaign)
    stage.member_roles = ""
    stage.save()
    deciders = {}
    for name, mode in modes.items():
        user = MembershipFactory(
            campaign=campaign, role=Membership.Role.APPROVER, user__username=name
        ).user
        notifications.preference_set(user=user, email=mode)
        stage.deciders.add(user)
        deciders[name] = user
    clip = ClipFactory(job__variant__brief=brief)
    review = services.review_open(clip=clip)
    return review, creator, deciders


@pytest.mark.django_db
def test_immediate_email_has_text_and_html_with_a_working_absolute_link(
    client, mail_to_smtp, no_enqueue, fast_password_hasher
):
    from review import notifications
    from review.models import Notification

    review, _creator, people = _review_world({"ada": "immediate", "bob": "off"})
    ada_row = Notification.objects.get(recipient=people["ada"])
    bob_row = Notification.objects.get(recipient=people["bob"])
    assert (ada_row.status, ada_row.delivery) == ("pending", "immediate")
    assert (bob_row.status, bob_row.delivery) == ("in_app", "none")

    assert notifications.notification_send(notification_id=ada_row.pk) == 1
    assert notifications.notification_send(notification_id=ada_row.pk) == 0  # never twice

    [message] = mail_to_smtp.messages
    assert message["To"] == "ada@example.test"
    assert message["Subject"] == (
        f"Spring teaser #{review.clip.variant.position} v1 waits for your decision at "
        "Creative review"
    )
    parts = _parts(message)
    link = f"http://testserver{review.clip.get_absolute_url()}"
    assert link in parts["text/plain"]
    assert f'href="{link}"' in parts["text/html"]
    client.force_login(people["ada"])
    page = client.get(link.removeprefix("http://testserver"))
    assert page.status_code == 200
    assert b'name="step"' in page.content
    ada_row.refresh_from_db()
    assert ada_row.status == "sent" and ada_row.sent_at is not None and ada_row.attempts == 1


@pytest.mark.django_db
def test_a_digest_gathers_a_burst_into_one_email(mail_to_smtp, no_enqueue, settings):
    from review import notifications, services
    from tests.factories import ClipFactory

    settings.GREENLIGHT_DIGEST_INTERVAL = 120
    review, _creator, people = _review_world({"dee": "digest"})
    brief = review.clip.variant.brief
    for _ in range(2):
        services.review_open(clip=ClipFactory(job__variant__brief=brief))

    digests = [task for task in no_enqueue if task[0] == "review.tasks.send_digest"]
    assert digests == []  # queued on commit; this test runs in one transaction
    assert people["dee"].notifications.filter(status="pending", delivery="digest").count() == 3

    assert notifications.digest_send(user_id=people["dee"].pk) == 3
    assert notifications.digest_send(user_id=people["dee"].pk) == 0

    [message] = mail_to_smtp.messages
    assert message["Subject"] == "3 review updates for you in Greenlight"
    text = _parts(message)["text/plain"]
    assert text.count("waits for your decision at Creative review") == 3
    assert text.count("Open: http://testserver/clips/") == 3


@pytest.mark.django_db(transaction=True)
def test_one_digest_task_per_burst(no_enqueue, settings):
    from review import services
    from tests.factories import ClipFactory

    settings.GREENLIGHT_DIGEST_INTERVAL = 120
    review, _creator, people = _review_world({"dee": "digest", "eve": "digest"})
    brief = review.clip.variant.brief
    for _ in range(3):
        services.review_open(clip=ClipFactory(job__variant__brief=brief))

    digests = sorted(args for name, args in no_enqueue if name == "review.tasks.send_digest")
    assert digests == sorted([(people["dee"].pk,), (people["eve"].pk,)])


@pytest.mark.django_db
def test_the_creator_is_told_of_a_decision_with_reasons_reply_to_the_reviewer(
    mail_to_smtp, no_enqueue
):
    from review import notifications, services
    from review.models import Notification, RejectReason

    review, creator, people = _review_world({"ada": "immediate"})
    reason = RejectReason.objects.create(label="Off brand", position=99)
    services.review_reject(
        review_id=review.pk,
        user=people["ada"],
        step_id=review.steps.get().pk,
        note="The logo is cropped in the last shot.",
        reason=reason,
    )

    row = Notification.objects.get(recipient=creator)
    assert row.kind == "decision" and row.reply_to == "ada@example.test"
    notifications.notification_send(notification_id=row.pk)
    [message] = mail_to_smtp.messages
    assert message["To"] == creator.email
    assert message["Reply-To"] == "ada@example.test"
    assert message["Subject"].startswith("ada rejected Spring teaser")
    text = _parts(message)["text/plain"]
    assert "Reason: Off brand" in text
    assert "Note: The logo is cropped in the last shot." in text
    assert "The clip is now: Rejected." in text


@pytest.mark.django_db
def test_a_failed_send_is_kept_and_retried_until_it_arrives(settings, smtp_server, no_enqueue):
    from datetime import timedelta

    from django.utils import timezone

    from review import notifications
    from review.models import Notification

    port, inbox = smtp_server
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{dead}", file_path=None, timeout=2)
    _review, _creator, people = _review_world({"ada": "immediate"})
    row = Notification.objects.get(recipient=people["ada"])

    with pytest.raises(notifications.SendFailed):
        notifications.notification_send(notification_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "ConnectionRefusedError" in row.last_error

    no_enqueue.clear()
    assert notifications.notifications_retry() == 0  # not yet: it waits before retrying
    later = timezone.now() + timedelta(seconds=settings.GREENLIGHT_EMAIL_RETRY_AFTER + 1)
    assert notifications.notifications_retry(now=later) == 1
    assert no_enqueue == [("review.tasks.send_notification", (row.pk,))]

    settings.MAILERS = mailers_from_url(f"smtp://127.0.0.1:{port}", file_path=None)
    assert notifications.notification_send(notification_id=row.pk) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, "")
    assert len(inbox.messages) == 1


@pytest.mark.django_db
def test_reminders_before_and_after_the_due_time_once_each(mail_to_smtp, no_enqueue, settings):
    from datetime import timedelta

    from review import notifications, services
    from review.models import Notification

    settings.GREENLIGHT_REMINDER_BEFORE = 3600
    review, _creator, people = _review_world({"ada": "immediate", "bob": "immediate"})
    step = review.steps.get()
    step.due_at = step.opened_at + timedelta(hours=2)
    step.save()
    step.stage.rule = "all"
    step.stage.save()
    # bob decides in time; only ada, who has not, is reminded.
    services.review_approve(review_id=review.pk, user=people["bob"], step_id=step.pk)
    start = step.opened_at

    assert notifications.reminders_send(now=start) == 0
    assert notifications.reminders_send(now=start + timedelta(minutes=70)) == 1
    assert notifications.reminders_send(now=start + timedelta(minutes=80)) == 0
    assert notifications.reminders_send(now=start + timedelta(hours=3)) == 1
    assert notifications.reminders_send(now=start + timedelta(hours=4)) == 0

    kinds = list(
        Notification.objects.filter(recipient=people["ada"])
        .order_by("pk")
        .values_list("kind", flat=True)
    )
    assert kinds == ["waiting", "reminder", "overdue"]
    assert list(people["bob"].notifications.values_list("kind", flat=True)) == ["waiting"]
