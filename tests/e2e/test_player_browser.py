"""The reviewer's player in headless Chromium, on a clip ingested for real: hovering the
timeline shows the sprite tile for that time, "." steps one frame, a black-segment mark seeks
to the black second, and an htmx swap of the page leaves exactly one live player."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage

from assets import services
from assets.models import Clip
from generation.models import Membership
from tests.assets.conftest import make_clip
from tests.factories import PASSWORD, ClipFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path("/tmp")


@pytest.fixture
def analysed_clip(tmp_path) -> Clip:
    # 4 s at 25 fps, black from 1 s to 2 s, tone in the loudness window.
    source = make_clip(tmp_path / "black.mp4", video=("moving", "black", "moving", "moving"))
    with source.open("rb") as fh:
        name = default_storage.save("jobs/player/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING,
        file=name,
        poster="",
        sha256="",
        job__request={"duration_s": 4, "aspect_ratio": "16:9", "audio": True},
    )
    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert [f["code"] for f in clip.qc] == ["black"]
    return clip


def test_the_reviewers_player(live_server, browser, analysed_clip) -> None:
    member = MembershipFactory(
        campaign=analysed_clip.variant.brief.campaign,
        role=Membership.Role.REVIEWER,
        user__username="reviewer",
    )
    base = live_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", member.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")

    page.goto(f"{base}{analysed_clip.get_absolute_url()}")
    page.wait_for_selector("[data-player][data-thumbnails-ready='8']")
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    # Shortcuts are on the page, and the QC badge beside the player.
    shortcuts = page.inner_text(".gl-shortcuts")
    for key in ("Space", "J", "K", "L", ",", ".", "I", "O"):
        assert key in shortcuts
    assert page.inner_text(".qc-summary [data-qc=black]") == "Black"

    # Hover at 2.25 s: the tile of the 2.0-2.5 s cue, the fifth in the sheet's only row.
    track = page.locator("[data-track]").bounding_box()
    duration = page.evaluate("document.querySelector('#player').duration")
    fraction = 2.25 / duration
    page.mouse.move(track["x"] + track["width"] * fraction, track["y"] + track["height"] / 2)
    page.wait_for_selector("[data-preview]:not([hidden])")
    frame = page.locator("[data-preview-frame]")
    assert frame.get_attribute("data-cue") == "4"
    style = page.evaluate(
        """() => { const s = getComputedStyle(document.querySelector('[data-preview-frame]'));
        return {position: s.backgroundPosition, image: s.backgroundImage,
                width: s.width, height: s.height}; }"""
    )
    assert style["position"] == "-640px 0px"
    assert style["image"].endswith(f'{analysed_clip.sprite_url}")')
    assert (style["width"], style["height"]) == ("160px", "90px")
    assert page.inner_text("[data-preview-time]") == "00:00:02:06"
    page.screenshot(path=str(SCREENSHOTS / "player_hover.png"), full_page=True)
    page.mouse.move(0, 0)

    # "." moves exactly one frame, "," back one.
    timecode = page.locator("[data-timecode]")
    assert timecode.inner_text() == "00:00:00:00"
    page.keyboard.press(".")
    page.wait_for_function("document.querySelector('[data-timecode]').textContent.endsWith(':01')")
    assert timecode.inner_text() == "00:00:00:01"
    page.keyboard.press(".")
    page.keyboard.press(".")
    page.keyboard.press(",")
    assert timecode.inner_text() == "00:00:00:02"
    assert page.evaluate("document.querySelector('#player').currentTime") == pytest.approx(
        2.5 / 25, abs=1e-3
    )

    # The black segment's mark seeks to the black second.
    marker = page.locator(".gl-segment.black")
    assert marker.count() == 1
    marker.click()
    page.wait_for_function("Math.abs(document.querySelector('#player').currentTime - 1) < 0.01")
    assert timecode.inner_text() == "00:00:01:00"
    page.screenshot(path=str(SCREENSHOTS / "player_black.png"), full_page=True)

    # Loop 1.00-1.60 s: I at the black mark, O 15 frames on; playback wraps inside it.
    page.keyboard.press("i")
    page.evaluate("document.querySelector('#player').currentTime = 1.6")
    page.wait_for_function("document.querySelector('[data-timecode]').textContent.endsWith(':15')")
    page.keyboard.press("o")
    assert page.inner_text("[data-loop-label]") == "Loop 00:00:01:00 – 00:00:01:15"
    assert page.locator("[data-loop-range]").is_visible()
    page.keyboard.press(" ")
    page.wait_for_function("!document.querySelector('#player').paused")
    positions = []
    for _ in range(12):
        page.wait_for_timeout(100)
        positions.append(page.evaluate("document.querySelector('#player').currentTime"))
    assert all(0.99 <= t <= 1.75 for t in positions), positions
    assert any(later < earlier for earlier, later in pairwise(positions)), positions
    page.keyboard.press("x")
    assert page.inner_text("[data-loop-label]") == ""

    # J/K/L: K stops, L plays and doubles, J runs backwards.
    page.keyboard.press("k")
    page.wait_for_function("document.querySelector('#player').paused")
    page.keyboard.press("l")
    page.keyboard.press("l")
    page.wait_for_function("document.querySelector('#player').playbackRate === 2")
    assert page.inner_text("[data-rate]") == "2×"
    page.keyboard.press("k")
    page.evaluate("document.querySelector('#player').currentTime = 3")
    page.keyboard.press("j")
    page.wait_for_function("document.querySelector('#player').currentTime < 2.7")
    assert page.evaluate("document.querySelector('#player').paused")
    page.keyboard.press("k")
    stopped = page.evaluate("document.querySelector('#player').currentTime")
    page.wait_for_timeout(200)
    assert page.evaluate("document.querySelector('#player').currentTime") == stopped

    # An htmx swap of the page's main region replaces the player without leaking the old one,
    # and keys drive the new one.
    assert page.evaluate("window.GreenlightPlayer.count") == 1
    page.evaluate(
        """() => new Promise(done => {
            document.body.addEventListener('htmx:afterSettle', () => done(), {once: true});
            htmx.ajax('GET', location.href, {target: 'main', select: 'main', swap: 'outerHTML'});
        })"""
    )
    page.wait_for_selector("[data-player][data-thumbnails-ready='8']")
    assert page.evaluate("window.GreenlightPlayer.count") == 1
    page.wait_for_function("document.querySelector('#player').readyState >= 1")
    page.keyboard.press(".")
    page.wait_for_function("document.querySelector('[data-timecode]').textContent.endsWith(':01')")
    assert errors == []
