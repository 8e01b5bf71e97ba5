"""A person's path in headless Chromium: log in, write a brief, watch the clip arrive, play it
with sound, seek to the middle, approve it and find it in the archive. Screenshots go to
GREENLIGHT_SCREENSHOT_DIR when set (the README's images come from there)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets.models import ArchiveRecord
from generation.models import Membership
from review.models import Review
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("GREENLIGHT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _log_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")


def test_review_a_generated_clip_in_the_browser(celery_worker, live_server, browser, shots):
    campaign = CampaignFactory(name="Spring Launch", slug="spring-launch",
                               description="Short social spots for the spring range.")  # fmt: skip
    creator = MembershipFactory(
        campaign=campaign, role=Membership.Role.CREATOR, user__username="creator"
    ).user
    MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER, user__username="approver")
    base = live_server.url
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()

    page.goto(f"{base}/")
    assert "/accounts/login/" in page.url
    page.screenshot(path=shots / "login.png")
    _log_in(page, base, creator.username)
    page.click("text=Spring Launch")
    page.click("text=New brief")
    page.fill("#id_title", "Meet the Spring range")
    page.fill("#id_prompt", "A bright kitchen at sunrise, a hand reaches for a green bottle")
    page.fill("#id_script_en", "Spring is here. Fresh, bright and ready when you are.")
    page.fill("#id_shots", "Spring is here\nFresh. Bright. Ready.\nIn store today")
    page.check("input[name=aspect_ratios][value='9:16']")
    page.fill("#id_durations", "6")
    page.screenshot(path=shots / "brief_form.png", full_page=True)
    page.click("button:has-text('Save draft and preview')")
    page.wait_for_selector("[data-testid=plan-count]:has-text('2')")
    page.click("[data-testid=launch]")
    page.wait_for_selector("#variant-progress")
    marker = page.evaluate("window.__greenlight_marker = Math.random()")

    # htmx polling fills the variants in without a reload, then stops.
    page.wait_for_selector("text=2 of 2 done", timeout=120_000)
    page.wait_for_selector("#variant-progress img", timeout=10_000)
    assert page.evaluate("window.__greenlight_marker") == marker
    assert page.locator("#variant-progress[hx-trigger]").count() == 0
    page.screenshot(path=shots / "brief_progress.png", full_page=True)

    page.click("button:has-text('Log out')")
    _log_in(page, base, "approver")
    page.click("nav >> text=Review queue")
    page.wait_for_selector("table.list a")
    page.screenshot(path=shots / "review_queue.png", full_page=True)
    page.click("table.list tbody tr:first-child td:nth-child(3) a")

    video_statuses: list[int] = []
    page.on(
        "response",
        lambda r: video_statuses.append(r.status) if r.url.endswith("/video.mp4") else None,
    )
    page.wait_for_selector("video#player")
    page.evaluate("document.querySelector('#player').play()")
    page.wait_for_function("document.querySelector('#player').currentTime > 1.0", timeout=20_000)
    state = page.evaluate(
        """() => { const v = document.querySelector('#player');
        return {duration: v.duration, audioBytes: v.webkitAudioDecodedByteCount,
                videoBytes: v.webkitVideoDecodedByteCount, error: v.error && v.error.code}; }"""
    )
    assert state["error"] is None
    assert state["duration"] == pytest.approx(6.0, abs=0.1)
    assert state["videoBytes"] > 0
    assert state["audioBytes"] > 0, "the clip played without decoding any sound"

    page.evaluate("document.querySelector('#player').pause()")
    middle = state["duration"] / 2
    page.evaluate(
        """(t) => new Promise(done => { const v = document.querySelector('#player');
        v.addEventListener('seeked', () => done(), {once: true}); v.currentTime = t; })""",
        middle,
    )
    position = page.evaluate("document.querySelector('#player').currentTime")
    assert position == pytest.approx(middle, abs=0.1)
    assert page.evaluate("document.querySelector('#player').readyState") >= 2
    assert 206 in video_statuses, f"the browser never got a partial response: {video_statuses}"
    page.screenshot(path=shots / "clip_review.png", full_page=True)

    marker = page.evaluate("window.__greenlight_marker = Math.random()")
    page.click("#decision-panel button:has-text('Approve')")
    page.wait_for_selector("[data-testid=review-status]:has-text('Approved')")
    assert page.evaluate("window.__greenlight_marker") == marker, "the page reloaded"
    page.screenshot(path=shots / "clip_approved.png", full_page=True)

    approved = Review.objects.get(status__in=["approved", "archived"])
    celery_worker.wait_for(
        "the archive copy",
        lambda: ArchiveRecord.objects.filter(clip=approved.clip).exists(),
        timeout=60,
    )
    page.click("nav >> text=Archive")
    page.wait_for_selector("table.list td.mono")
    assert approved.clip.sha256[:10] in page.inner_text("table.list")
    page.screenshot(path=shots / "archive.png", full_page=True)
    context.close()
