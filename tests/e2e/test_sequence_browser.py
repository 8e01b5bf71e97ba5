"""A creator clicks "Assemble cut" in headless Chromium once every shot of a cell is approved,
and sees the cut arrive: joined by a real worker, ingested, waiting for review, its shots
listed on its page.

Screenshots go to GREENLIGHT_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets.models import Clip
from generation.models import GenerationJob, Membership
from review import services as review_services
from review.models import Review
from tests.factories import PASSWORD, CampaignFactory, MembershipFactory, launch_shot_brief

pytestmark = [pytest.mark.e2e, pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("GREENLIGHT_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_assemble_a_cut_in_the_browser(celery_worker, live_server, browser, shots):
    campaign = CampaignFactory(name="Morning Launch", slug="morning-launch")
    creator = MembershipFactory(
        campaign=campaign, role=Membership.Role.CREATOR, user__username="creator"
    ).user
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    brief = launch_shot_brief(
        campaign=campaign,
        creator=creator,
        title="Morning in two shots",
        shots=["Wake up", "Pour the coffee"],
    )

    def shot_clips():
        clips = list(
            Clip.objects.filter(
                variant__brief=brief, status=Clip.Status.READY, review__isnull=False
            )
        )
        return len(clips) == 2 and clips

    for clip in celery_worker.wait_for("both shots ready", shot_clips, timeout=120):
        step = review_services.open_step(review=clip.review)
        review_services.review_approve(review_id=clip.review.pk, user=approver, step_id=step.pk)

    base = live_server.url
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "creator")
    page.fill("#id_password", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}{brief.get_absolute_url()}")

    cell = page.locator("[data-testid=cut-cell]")
    assert cell.locator("text=Approved").count() == 2
    page.click("[data-testid=assemble-cut]")
    page.wait_for_selector("[data-testid=cut-message]:has-text('being assembled')")
    # The panel polls until the cut is joined and analysed, then links to it.
    link = page.wait_for_selector("[data-testid=cut-link]", timeout=120_000)
    page.screenshot(path=shots / "cut_assembled.png", full_page=True)
    assert GenerationJob.objects.filter(provider="sequence").count() == 1
    cut = Clip.objects.get(job__provider="sequence")
    assert cut.status == Clip.Status.READY
    assert Review.objects.get(clip=cut).status == Review.Status.PENDING
    assert page.locator("[data-testid=assemble-cut]").count() == 0

    link.click()
    page.wait_for_selector("[data-testid=cut-parts]")
    parts = page.locator("[data-testid=cut-parts] li")
    assert parts.count() == 2
    assert parts.nth(0).inner_text().startswith("Shot 1")
    assert parts.nth(1).inner_text().startswith("Shot 2")
    assert "stream copy" in page.inner_text("[data-testid=cut-join]")
    page.screenshot(path=shots / "cut_clip_page.png", full_page=True)
