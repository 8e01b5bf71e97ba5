"""List pages cost the same number of queries at 1 row and at 50."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from assets.models import ArchiveRecord
from generation.models import Membership
from tests.factories import (
    BriefFactory,
    CampaignFactory,
    ClipFactory,
    MembershipFactory,
    UserFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _same_cost(client, user, make_rows, url_for) -> None:
    """Build one world with 1 row and one with 50; each page must cost the same queries."""
    client.force_login(user)
    counts = []
    for rows in (1, 50):
        context = make_rows(rows)
        client.get(url_for(context))  # warm the session
        counts.append(_queries(client, url_for(context)))
    assert counts[0] == counts[1], counts


def test_campaign_list(client) -> None:
    user = UserFactory()
    made = []

    def make(rows):
        for campaign in made:
            campaign.memberships.all().delete()
        made.clear()
        for _ in range(rows):
            campaign = CampaignFactory()
            MembershipFactory(campaign=campaign, user=user)
            BriefFactory(campaign=campaign)
            made.append(campaign)

    _same_cost(client, user, make, lambda _: reverse("home"))


def test_brief_list_of_a_campaign(client) -> None:
    user = UserFactory()

    def make(rows):
        campaign = CampaignFactory()
        MembershipFactory(campaign=campaign, user=user, role=Membership.Role.CREATOR)
        for _ in range(rows):
            VariantFactory(brief=BriefFactory(campaign=campaign))
        return campaign

    _same_cost(client, user, make, lambda campaign: campaign.get_absolute_url())


def test_archive_list(client) -> None:
    user = UserFactory()
    made = []

    def make(rows):
        # The archive lists every visible record, so hide the previous world's campaign.
        Membership.objects.filter(user=user).delete()
        campaign = CampaignFactory()
        MembershipFactory(campaign=campaign, user=user)
        for _ in range(rows):
            clip = ClipFactory(job__variant__brief__campaign=campaign)
            made.append(
                ArchiveRecord.objects.create(
                    clip=clip,
                    video_path=f"{campaign.slug}/{clip.uuid}.mp4",
                    sidecar_path=f"{campaign.slug}/{clip.uuid}.json",
                    sha256=clip.sha256,
                    size_bytes=1000,
                    provenance={},
                    archived_by=user,
                )
            )

    _same_cost(client, user, make, lambda _: reverse("assets:archive_list"))
    page = client.get(reverse("assets:archive_list")).content.decode()
    assert page.count("<tr>") == 50 + 1  # rows plus the header
