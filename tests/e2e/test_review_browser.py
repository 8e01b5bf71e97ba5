"""Two stages with different approvers, in headless Chromium with a real worker and a real
SMTP server: emails with working links, a timecoded comment that seeks, a tag added and
filtered on, approval at both stages and the archive. Screenshots go to
GREENLIGHT_SCREENSHOT_DIR when set (else the test's temporary folder)."""

from __future__ import annotations

import os
import re
import socket
from email import message_from_bytes
from email.message import Message
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.core.files import File
from django.core.files.storage import default_storage

from assets.models import ArchiveRecord, Clip
from assets.services import clip_ingest
from generation.models import Membership
from review import notifications
from review.models import Comment, Review, Stage, Tag
from tests.factories import PASSWORD, BriefFactory, ClipFactory, JobFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in m["To"]]


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("GREENLIGHT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def inbox(monkeypatch, live_server, settings):
    """An SMTP server on loopback; the worker (started after this) and the site send to it."""
    box = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("EMAIL_URL", f"smtp://127.0.0.1:{port}")
    monkeypatch.setenv("GREENLIGHT_BASE_URL", live_server.url)
    settings.GREENLIGHT_BASE_URL = live_server.url
    yield box
    controller.stop()


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no text part")


def _html(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/html":
            return part.get_payload(decode=True).decode()
    raise AssertionError("no html part")


def _clip_link(message: Message) -> str:
    return re.search(r"Open: (\S+)", _text(message)).group(1)


def test_two_stages_comments_tags_and_email(
    inbox,
    celery_worker,
    live_server,
    browser,
    shots,
    media_files,
):
    base = live_server.url
    brief = BriefFactory(title="Meet the Spring range", campaign__name="Spring Launch")
    campaign = brief.campaign
    people = {}
    for username, role, full in (
        ("cora", Membership.Role.CREATOR, "Cora Creator"),
        ("rita", Membership.Role.REVIEWER, "Rita Reviewer"),
        ("bram", Membership.Role.APPROVER, "Bram Brand"),
    ):
        user = MembershipFactory(campaign=campaign, role=role, user__username=username).user
        user.first_name, user.last_name = full.split()
        user.save()
        notifications.preference_set(user=user, email="immediate")
        people[username] = user
    brief.created_by = people["cora"]
    brief.save()
    creative = Stage.objects.get(campaign=campaign)
    creative.member_roles = ""
    creative.save()
    creative.deciders.set([people["rita"]])
    brand = Stage.objects.create(campaign=campaign, name="Brand", position=2)
    brand.deciders.set([people["bram"]])
    Tag.objects.create(campaign=campaign, name="Hero", colour="#1f9d55")
    Tag.objects.create(campaign=campaign, name="Needs VO", colour="#c53030")

    # A real clip: stored, probed and analysed by ffmpeg; becoming ready opens its review.
    job = JobFactory(variant__brief=brief, succeeded=True)
    with media_files.faststart.open("rb") as fh:
        name = default_storage.save(f"jobs/{job.pk}/video.mp4", File(fh))
    clip = ClipFactory(job=job, status=Clip.Status.PROCESSING, file=name, poster="", sha256="")
    clip_ingest(clip_id=clip.pk)
    review = Review.objects.get(clip=clip)
    clip_url = f"{base}{clip.get_absolute_url()}"

    # Rita is told by email, through the worker, with a link that opens the clip.
    [to_rita] = celery_worker.wait_for("rita's email", lambda: inbox.to("rita@"), timeout=30)
    assert to_rita["Subject"].endswith("waits for your decision at Creative review")
    assert _clip_link(to_rita) == clip_url
    assert f'href="{clip_url}"' in _html(to_rita)
    assert not inbox.to("bram@")

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(_clip_link(to_rita))
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(clip_url)
    page.wait_for_selector("video")
    assert "Waiting for Rita Reviewer" in page.inner_text("[data-testid=waiting-for]")

    # Rita asks for changes; Cora is told why and generates version 2 through the worker.
    page.fill("#decision-panel textarea[name=note]", "Make the logo bigger in the last shot.")
    page.click("#decision-panel button:has-text('Request changes')")
    page.wait_for_selector("[data-testid=review-status]:has-text('Changes requested')")
    to_cora = celery_worker.wait_for("cora's first email", lambda: inbox.to("cora@"), 30)[0]
    assert to_cora["Subject"].startswith("Rita Reviewer asked for changes to")
    assert "Note: Make the logo bigger in the last shot." in _text(to_cora)
    assert to_cora["Reply-To"] == "rita@example.test"
    page.click("button:has-text('Log out')")
    page.goto(_clip_link(to_cora))
    page.fill("#id_username", "cora")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(clip_url)
    page.click("button:has-text('Generate version 2')")
    v2 = celery_worker.wait_for(
        "version 2 ready for review",
        lambda: Review.objects.filter(clip__variant=clip.variant, clip__version=2).first(),
        timeout=120,
    )
    clip = v2.clip
    review = v2
    clip_url = f"{base}{clip.get_absolute_url()}"
    assert v2.stage.name == "Creative review"  # a new version starts at the first stage
    to_rita = celery_worker.wait_for(
        "rita's email about v2",
        lambda: [m for m in inbox.to("rita@") if " v2 waits" in m["Subject"]],
        timeout=30,
    )[0]
    page.click("button:has-text('Log out')")
    page.goto(_clip_link(to_rita))
    page.fill("#id_username", "rita")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(clip_url)
    page.wait_for_selector("video")
    earlier = page.inner_text("[data-testid=earlier-version]")
    assert "v1" in earlier and "Make the logo bigger" in earlier

    # v1 and v2 side by side: one play button drives both, one slider seeks both.
    page.click("[data-testid=compare-link]")
    page.wait_for_selector("[data-compare-video]")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-compare-video]'))"
        ".every(v => v.readyState >= 1)"
    )
    page.click("[data-compare-play]")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('[data-compare-video]'))"
        ".every(v => !v.paused && v.currentTime > 0.3)"
    )
    page.click("[data-compare-play]")
    page.evaluate(
        """() => { const s = document.querySelector('[data-compare-seek]');
        s.value = 500; s.dispatchEvent(new Event('input')); }"""
    )
    page.wait_for_function(
        """() => { const [a, b] = document.querySelectorAll('[data-compare-video]');
        return a.paused && b.paused && Math.abs(a.currentTime - 1.5) < 0.05
               && Math.abs(b.currentTime - 1.5) < 0.05; }"""
    )
    muted = page.evaluate(
        "Array.from(document.querySelectorAll('[data-compare-video]')).map(v => v.muted)"
    )
    assert muted == [True, False]
    page.click("[data-side=left] [data-audio-toggle]")
    muted = page.evaluate(
        "Array.from(document.querySelectorAll('[data-compare-video]')).map(v => v.muted)"
    )
    assert muted == [False, False]
    page.screenshot(path=shots / "review_compare.png", full_page=True)
    page.goto(clip_url)
    page.wait_for_selector("video")

    # A comment at 1 s (frame 25): the lane under the video gets a marker; clicking seeks.
    page.evaluate(
        """() => new Promise(done => { const v = document.querySelector('video');
        const go = () => { v.addEventListener('seeked', () => done(), {once: true});
                           v.currentTime = 1.0; };
        if (v.readyState >= 1) go(); else v.addEventListener('loadedmetadata', go, {once: true});
        })"""
    )
    page.click("[data-comment-now=start]")
    assert page.inner_text("[data-at-label]") == "00:00:01:00"
    page.fill("#comment-form textarea", "The logo pops in a frame late here @bram")
    # An arrow drawn on the paused frame travels with the comment as vector data.
    page.click("[data-draw-toggle]")
    page.check("#comment-form input[name=draw-kind][value=arrow]")
    page.locator("canvas.draw-layer").scroll_into_view_if_needed()
    box = page.locator("canvas.draw-layer").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5, steps=5)
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    page.screenshot(path=shots / "review_drawing.png")
    page.click("#comment-form button:has-text('Comment')")
    page.wait_for_selector("[data-testid=comment]:has-text('logo pops in')")
    [shape] = Comment.objects.get(clip=clip).drawing
    assert shape["kind"] == "arrow"
    assert shape["points"][0] == pytest.approx([0.2, 0.25], abs=0.02)
    assert shape["points"][1] == pytest.approx([0.6, 0.6], abs=0.02)
    assert "00:00:01:00" in page.inner_text("[data-testid=comment]")
    lane_under_video = page.evaluate(
        "document.querySelector('video').nextElementSibling.matches('[data-comments-lane]')"
    )
    assert lane_under_video, "the comments lane sits right under the video"
    page.evaluate("document.querySelector('video').currentTime = 0")
    page.click("[data-testid=comment] .tc-button")
    page.wait_for_function("Math.abs(document.querySelector('video').currentTime - 1.0) < 0.05")
    page.evaluate("document.querySelector('video').currentTime = 0")
    page.click("[data-testid=lane-marker]")
    page.wait_for_function("Math.abs(document.querySelector('video').currentTime - 1.0) < 0.05")
    # On that frame the drawing shows over the video.
    page.wait_for_function(
        """() => { const c = document.querySelector('canvas.draw-layer');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }"""
    )
    page.screenshot(path=shots / "review_drawing_shown.png")
    [mention] = celery_worker.wait_for("bram's mention", lambda: inbox.to("bram@"), timeout=30)
    assert mention["Subject"] == f"Rita Reviewer mentioned you on Meet the Spring range " \
        f"#{clip.variant.position} v2"  # fmt: skip
    assert mention["Reply-To"] == "rita@example.test"

    # A tag from the vocabulary, then the queue filtered on it.
    page.fill("#tags-panel input[name=name]", "Hero")
    page.click("#tags-panel button:has-text('Add')")
    page.wait_for_selector("[data-testid=clip-tags] .chip:has-text('Hero')")
    page.screenshot(path=shots / "review_clip_stage1.png", full_page=True)
    page.goto(f"{base}/review/?scope=all&tag=Hero")
    page.wait_for_selector("[data-testid=queue] tbody tr[data-row]")
    assert "Meet the Spring range" in page.inner_text("[data-testid=queue]")
    page.screenshot(path=shots / "review_queue_filtered.png", full_page=True)
    page.goto(f"{base}/review/?scope=all&tag=Needs+VO")
    assert "No open clips match." in page.inner_text("[data-testid=queue]")
    page.goto(f"{base}/review/")
    page.keyboard.press("?")
    page.wait_for_selector("dialog#shortcuts[open]")
    page.screenshot(path=shots / "review_shortcuts.png")
    page.keyboard.press("Escape")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(clip_url)

    # Rita approves Creative review; the clip moves to Brand, where only Bram decides.
    page.click("#decision-panel button:has-text('Approve')")
    page.wait_for_selector("#decision-panel:has-text('Waiting for Bram Brand')")
    assert page.locator("#decision-panel button:has-text('Approve')").count() == 0
    assert "Only the deciders named for Brand decide here." in page.inner_text("#decision-panel")
    page.screenshot(path=shots / "review_clip_stage2.png", full_page=True)

    to_bram = celery_worker.wait_for(
        "bram's waiting email",
        lambda: [
            m for m in inbox.to("bram@") if "waits for your decision at Brand" in m["Subject"]
        ],
        timeout=30,
    )[0]
    to_cora = celery_worker.wait_for(
        "cora's decision email",
        lambda: [m for m in inbox.to("cora@") if m["Subject"].startswith("Rita Reviewer approved")],
        timeout=30,
    )[0]
    assert to_cora["Subject"] == f"Rita Reviewer approved Meet the Spring range " \
        f"#{clip.variant.position} v2"  # fmt: skip
    assert to_cora["Reply-To"] == "rita@example.test"
    assert "The clip is now: In review." in _text(to_cora)

    # Bram follows his email's link, approves, and the panel follows the archive copy.
    page.click("button:has-text('Log out')")
    page.goto(_clip_link(to_bram))
    page.fill("#id_username", "bram")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(clip_url)
    marker = page.evaluate("window.__greenlight_marker = Math.random()")
    page.click("#decision-panel button:has-text('Approve')")
    page.wait_for_selector("[data-testid=review-status]:has-text('Approved')")
    page.wait_for_selector("[data-testid=review-status]:has-text('Archived')", timeout=60_000)
    assert page.evaluate("window.__greenlight_marker") == marker, "the page reloaded"
    page.screenshot(path=shots / "review_clip_archived.png", full_page=True)

    record = ArchiveRecord.objects.get(clip=clip)
    assert record.provenance["tags"] == ["Hero"]
    assert [d["stage"] for d in record.provenance["decisions"]] == ["Creative review", "Brand"]
    page.goto(f"{base}/notifications/")
    page.screenshot(path=shots / "review_notifications.png", full_page=True)
    assert "Emailed" in page.inner_text("main")
    context.close()
    assert review.pk == Review.objects.get(clip=clip).pk


def test_a_guest_reviews_through_an_external_link(
    live_server, browser, shots, media_files, no_enqueue
):
    from datetime import timedelta

    from django.utils import timezone

    from review import services

    brief = BriefFactory(title="Meet the Spring range", campaign__name="Spring Launch")
    approver = MembershipFactory(
        campaign=brief.campaign, role=Membership.Role.APPROVER, user__username="ava"
    ).user
    job = JobFactory(variant__brief=brief, succeeded=True)
    with media_files.faststart.open("rb") as fh:
        name = default_storage.save(f"jobs/{job.pk}/video.mp4", File(fh))
    clip = ClipFactory(job=job, status=Clip.Status.PROCESSING, file=name, poster="", sha256="")
    clip_ingest(clip_id=clip.pk)
    review = Review.objects.get(clip=clip)
    review.stage.guests_decide = True
    review.stage.save()
    link = services.share_link_create(
        clips=[clip], user=approver, expires_at=timezone.now() + timedelta(days=2),
        password="spring", label="Agency preview",
    )  # fmt: skip

    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/s/{link.token}/")
    page.screenshot(path=shots / "guest_door.png")
    page.fill("#id_name", "Gina Guest")
    page.fill("#id_email", "gina@agency.test")
    page.fill("#id_password", "spring")
    page.click("button:has-text('Start reviewing')")
    page.click("text=Meet the Spring range")
    page.wait_for_selector("video#player")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 0.5", timeout=20_000)
    page.evaluate("document.querySelector('#player').pause()")
    page.click("[data-comment-now=start]")
    page.fill("#comment-form textarea", "The bottle could be bigger")
    page.click("#comment-form button:has-text('Comment')")
    page.wait_for_selector("[data-testid=comment]:has-text('Gina Guest')")
    page.click("#decision-panel button:has-text('Approve')")
    page.wait_for_selector("[data-testid=review-status]:has-text('Approved')")
    page.screenshot(path=shots / "guest_clip.png", full_page=True)
    context.close()

    review.refresh_from_db()
    assert review.status == "approved"
    assert review.decisions.get().user.guest.name == "Gina Guest"
