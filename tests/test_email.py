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
