"""Tags (vocabulary, free tags, bulk, sidecar) and the queue (waiting for me, filters, pages)."""

from __future__ import annotations

import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from generation.models import Membership
from review import selectors, services
from review.models import ClipTag, Stage, Tag, TagPolicy
from tests.factories import (
    CampaignFactory,
    ClipFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def world():
    campaign = CampaignFactory(name="Spring")
    reviewer = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
    Tag.objects.create(campaign=campaign, name="Hero", colour="#1f9d55")
    Tag.objects.create(campaign=campaign, name="Needs VO", colour="#c53030")
    reviews = [
        services.review_open(clip=ClipFactory(job__variant__brief__campaign=campaign))
        for _ in range(3)
    ]
    return campaign, reviewer, reviews


# --- tags -------------------------------------------------------------------------------------


def test_vocabulary_tags_only_unless_the_campaign_allows_free_tags(world) -> None:
    campaign, reviewer, reviews = world
    clip = reviews[0].clip

    tag = services.clips_tag(clips=[clip], user=reviewer, name="  hero ")
    assert tag.name == "Hero" and tag.controlled
    services.clips_tag(clips=[clip], user=reviewer, name="HERO")  # again: nothing doubles
    assert ClipTag.objects.filter(clip=clip).count() == 1

    with pytest.raises(services.TagError, match="“Summer” is not in this campaign's tags"):
        services.clips_tag(clips=[clip], user=reviewer, name="Summer")
    TagPolicy.objects.create(campaign=campaign, free_tags=True)
    free = services.clips_tag(clips=[clip], user=reviewer, name="Summer")
    assert (free.controlled, free.created_by) == (False, reviewer)

    for bad, message in (("   ", "needs a name"), ("x" * 41, "at most 40")):
        with pytest.raises(services.TagError, match=message):
            services.clips_tag(clips=[clip], user=reviewer, name=bad)
    with pytest.raises(services.NotAllowed):
        services.clips_tag(clips=[clip], user=UserFactory(), name="Hero")
    other = ClipFactory()
    with pytest.raises(services.TagError, match="one campaign"):
        services.clips_tag(clips=[clip, other], user=reviewer, name="Hero")


def test_tags_go_into_the_archive_sidecar(world) -> None:
    _campaign, reviewer, reviews = world
    services.clips_tag(clips=[reviews[0].clip], user=reviewer, name="Needs VO")
    services.clips_tag(clips=[reviews[0].clip], user=reviewer, name="Hero")
    assert services.review_provenance(review=reviews[0])["tags"] == ["Hero", "Needs VO"]


def test_clip_page_adds_and_removes_tags_with_htmx(client, world) -> None:
    _campaign, reviewer, reviews = world
    clip = reviews[0].clip
    client.force_login(reviewer)
    url = reverse("review:clip_tag", args=[clip.uuid])

    page = client.get(clip.get_absolute_url()).content.decode()
    assert '<option value="Hero">' in page and 'id="tags-panel"' in page

    panel = client.post(url, {"name": "hero"}, headers=HTMX).content.decode()
    assert panel.lstrip().startswith('<section id="tags-panel"')
    assert "--tag: #1f9d55" in panel and ">Hero</a>" in panel

    refused = html.unescape(client.post(url, {"name": "Winter"}, headers=HTMX).content.decode())
    assert "“Winter” is not in this campaign's tags" in refused
    assert client.post(url, {"name": "Winter"}).status_code == 400
    assert client.post(url, {"name": ""}).status_code == 400

    tag = Tag.objects.get(name="Hero")
    remove = reverse("review:clip_untag", args=[clip.uuid, tag.pk])
    assert client.post(remove).status_code == 302
    assert not ClipTag.objects.filter(clip=clip).exists()

    client.force_login(UserFactory())
    assert client.post(url, {"name": "Hero"}).status_code == 404


def test_bulk_tag_from_the_queue_then_filter_by_tag(client, world) -> None:
    _campaign, reviewer, reviews = world
    client.force_login(reviewer)
    ticked = [str(r.clip.uuid) for r in reviews[:2]]

    response = client.post(
        reverse("review:queue_bulk_tag"),
        {"clips": ticked, "name": "Needs VO", "next": "/review/?scope=all"},
    )
    assert response.status_code == 302 and response["Location"] == "/review/?scope=all"
    assert ClipTag.objects.filter(tag__name="Needs VO").count() == 2

    filtered = client.get(reverse("review:queue"), {"scope": "all", "tag": "needs vo"})
    assert [r.pk for r in filtered.context["reviews"]] == [r.pk for r in reviews[:2]]
    assert "Needs VO</li>" in filtered.content.decode()

    bad = client.post(reverse("review:queue_bulk_tag"), {"clips": ["nope"], "name": "x"})
    assert bad.status_code == 400
    outsider = ClipFactory()
    client.post(reverse("review:queue_bulk_tag"), {"clips": [str(outsider.uuid)], "name": "Hero"})
    assert not ClipTag.objects.filter(clip=outsider).exists()


def test_archive_filter_by_tag_selector(world) -> None:
    from assets.models import ArchiveRecord

    _campaign, reviewer, reviews = world
    services.clips_tag(clips=[reviews[1].clip], user=reviewer, name="Hero")
    qs = selectors.filter_by_tag(ArchiveRecord.objects.all(), clip="clip", tag="hero")
    assert "review_cliptag" in str(qs.query).lower()


# --- the queue --------------------------------------------------------------------------------


def test_waiting_for_me_is_the_default_and_follows_the_stage(client) -> None:
    campaign = CampaignFactory()
    creative_user = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
    brand_user = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    first = Stage.objects.get(campaign=campaign)
    first.member_roles = "reviewer"
    first.save()
    services.stage_add(campaign=campaign, name="Brand", member_roles="approver")
    review = services.review_open(clip=ClipFactory(job__variant__brief__campaign=campaign))

    client.force_login(brand_user)
    response = client.get(reverse("review:queue"))
    assert list(response.context["reviews"]) == []
    assert response.context["counts"] == {"mine": 0, "all": 1}
    assert "Nothing is waiting for you." in response.content.decode()

    services.review_approve(review_id=review.pk, user=creative_user, step_id=review.steps.get().pk)
    assert [r.pk for r in client.get(reverse("review:queue")).context["reviews"]] == [review.pk]
    client.force_login(creative_user)
    assert list(client.get(reverse("review:queue")).context["reviews"]) == []


def test_queue_filters_and_bad_values(client, world) -> None:
    campaign, reviewer, reviews = world
    client.force_login(reviewer)
    clip = reviews[2].clip
    clip.qc = [{"severity": "warning", "message": "is 2 s shorter"}]
    clip.save()
    queue = reverse("review:queue")

    def pks(**params):
        return [r.pk for r in client.get(queue, params).context["reviews"]]

    everyone = [r.pk for r in reviews]
    assert pks() == everyone
    assert pks(qc="findings") == [reviews[2].pk]
    assert pks(qc="passed") == everyone[:2]
    assert pks(campaign=campaign.slug, stage="Creative review", language="en") == everyone
    assert pks(aspect="9:16") == []
    assert pks(sort="newest") == everyone[::-1]
    assert pks(brief=reviews[0].clip.variant.brief_id) == [reviews[0].pk]

    bad = client.get(queue, {"aspect": "4:1"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    assert client.get(queue, {"brief": "abc"}).status_code == 400
    assert client.get(queue, {"page": "9999"}).status_code == 200  # last page instead
    partial = client.get(queue, headers=HTMX).content.decode()
    assert partial.lstrip().startswith('<form method="post"') and "<html" not in partial


def _queue_world(n: int, user) -> None:
    campaign = CampaignFactory()
    MembershipFactory(campaign=campaign, user=user, role=Membership.Role.APPROVER)
    tag = Tag.objects.create(campaign=campaign, name=f"T{campaign.pk}")
    for _ in range(n):
        review = ReviewFactory(clip__job__variant__brief__campaign=campaign)
        ClipTag.objects.create(clip=review.clip, tag=tag)


def test_queue_and_clip_page_query_counts_do_not_grow(client) -> None:
    from generation.models import Membership as M

    user = UserFactory()
    client.force_login(user)
    counts = []
    for rows in (1, 50):
        M.objects.filter(user=user).delete()
        _queue_world(rows, user)
        client.get(reverse("review:queue"))
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("review:queue"))
        assert len(response.context["reviews"]) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_clip_page_query_count_does_not_grow_with_decisions_tags_comments(client) -> None:
    from review.models import Rule

    counts = []
    for rows in (1, 20):
        campaign = CampaignFactory()
        stage = Stage.objects.get(campaign=campaign)
        stage.rule = Rule.ALL
        stage.member_roles = ""
        stage.save()
        people = [MembershipFactory(campaign=campaign).user for _ in range(rows + 1)]
        stage.deciders.set(people)
        review = services.review_open(clip=ClipFactory(job__variant__brief__campaign=campaign))
        for user in people[:rows]:
            services.review_approve(review_id=review.pk, user=user, step_id=review.steps.get().pk)
            Tag.objects.create(campaign=campaign, name=f"t{user.pk}")
            services.clips_tag(clips=[review.clip], user=user, name=f"t{user.pk}")
            thread = services.comment_add(clip=review.clip, user=user, body="hm", at_s=0.5)
            services.comment_add(clip=review.clip, user=user, body="yes", parent_id=thread.pk)
        client.force_login(people[-1])
        client.get(review.clip.get_absolute_url())
        with CaptureQueriesContext(connection) as queries:
            response = client.get(review.clip.get_absolute_url())
        assert len(response.context["decisions"]) == rows
        assert len(response.context["comments"]) == rows
        counts.append(len(queries))
    assert counts[0] == counts[1], counts


def test_queue_filters_by_kind_of_qc_finding_and_shows_badges(client, world) -> None:
    campaign, reviewer, reviews = world
    client.force_login(reviewer)
    black, loud = reviews[0].clip, reviews[1].clip
    black.qc = [{"code": "black", "severity": "warning", "message": "is black from 1.0 s"}]
    black.qc_flags = {"black": "warning"}
    black.save()
    loud.qc = [{"code": "loudness", "severity": "warning", "message": "measures -6.0 LUFS"}]
    loud.qc_flags = {"loudness": "warning"}
    loud.save()
    queue = reverse("review:queue")

    response = client.get(queue, {"qc": "black"})
    assert [r.pk for r in response.context["reviews"]] == [reviews[0].pk]
    assert 'data-qc="black"' in response.content.decode()
    assert [r.pk for r in client.get(queue, {"qc": "loudness"}).context["reviews"]] == [
        reviews[1].pk
    ]
    assert list(client.get(queue, {"qc": "freeze"}).context["reviews"]) == []
    assert client.get(queue, {"qc": "no_such_check"}).status_code == 400
