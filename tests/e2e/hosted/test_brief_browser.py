"""A creator picks HappyHorse on fal in headless Chromium, sees only what that model can do,
is told the limit when asking for more, launches, and watches the clip arrive by webhook from
the loopback fal fake through a real worker.

Screenshots go to GREENLIGHT_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets.models import Clip
from generation.models import Brief, GenerationJob, Membership
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HAPPYHORSE = "fal:alibaba/happy-horse/text-to-video"
VEO = "fal:fal-ai/veo3.1"


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("GREENLIGHT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _disabled(page, name: str) -> set[str]:
    return set(
        page.eval_on_selector_all(
            f"input[name={name}]", "els => els.filter(e => e.disabled).map(e => e.value)"
        )
    )


def test_pick_happyhorse_on_fal_see_its_limits_launch_and_get_the_clip_by_webhook(
    request,
    monkeypatch,
    fal_fake,
    live_server,
    browser,
    shots,
):
    fal_fake.polls_per_state = 10**6  # polling alone never sees it finish: the webhook must
    fal_fake.complete_after_s = 1.0
    for key, value in fal_fake.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("GREENLIGHT_BASE_URL", live_server.url)
    worker = request.getfixturevalue("celery_worker")

    campaign = CampaignFactory(name="Horse Launch", slug="horse-launch")
    MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR, user__username="creator")
    base = live_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "creator")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")
    page.click("text=Horse Launch")
    page.click("text=New brief")

    # The model is a choice grouped by provider; fal is configured (the fake's key), Runway
    # has no key here and says so.
    groups = page.eval_on_selector_all("#id_model optgroup", "els => els.map(e => e.label)")
    assert "fal" in " ".join(groups)
    assert any("Runway" in g and "not configured" in g for g in groups), groups

    # Veo on fal makes 16:9 and 9:16 only: the square format is greyed out.
    page.select_option("#id_model", VEO)
    assert _disabled(page, "aspect_ratios") == {"1:1"}
    assert "4–8 seconds" in page.get_attribute("#id_durations", "title")

    # HappyHorse makes every format, 3–15 s, at 720p or 1080p.
    page.select_option("#id_model", HAPPYHORSE)
    assert _disabled(page, "aspect_ratios") == set()
    assert "3–15 seconds" in page.get_attribute("#id_durations", "title")
    resolutions = page.eval_on_selector_all(
        "#id_resolution option", "els => els.filter(e => !e.disabled).map(e => e.value)"
    )
    assert set(resolutions) == {"720p", "1080p"}

    page.fill("#id_title", "Horse on the shore")
    page.fill("#id_prompt", "A horse runs along the shore at dawn")
    page.fill("#id_script_en", "Sunrise over the coffee farm.")
    page.uncheck("input[name=aspect_ratios][value='9:16']")
    page.uncheck("input[name=aspect_ratios][value='1:1']")
    page.check("input[name=aspect_ratios][value='16:9']")
    page.select_option("#id_resolution", "720p")

    # Asking for more than the model can make is refused before anything is sent, naming
    # the limit.
    page.fill("#id_durations", "20")
    page.click("button:has-text('Save draft and preview')")
    error = page.locator(".has-error .error").first.inner_text()
    assert "20" in error and "3" in error and "15" in error, error
    assert not Brief.objects.exists()
    assert fal_fake.submissions == 0
    page.screenshot(path=shots / "hosted_brief_limit.png", full_page=True)

    page.fill("#id_durations", "5")
    page.click("button:has-text('Save draft and preview')")
    page.wait_for_selector("[data-testid=plan-count]:text-is('1')")
    # $0.14 a second at 720p, for 5 seconds.
    assert page.inner_text("[data-testid=plan-cost]") == "$0.70"
    page.screenshot(path=shots / "hosted_brief_preview.png", full_page=True)
    page.click("[data-testid=launch]")

    page.wait_for_selector("text=1 of 1 done", timeout=120_000)
    page.wait_for_selector("#variant-progress img", timeout=30_000)
    page.screenshot(path=shots / "hosted_brief_launched.png", full_page=True)

    job = GenerationJob.objects.get(variant__brief__title="Horse on the shore")
    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    assert (job.provider, job.model) == ("fal", "alibaba/happy-horse/text-to-video")
    assert fal_fake.submissions == 1
    (delivery,) = fal_fake.deliveries
    assert delivery.status == 200 and "/hooks/fal/" in delivery.url
    assert str(job.cost_usd) == "0.7000"
    worker.wait_for(
        "the clip to be ready",
        lambda: Clip.objects.filter(job=job, status=Clip.Status.READY).exists(),
    )
    assert errors == []
