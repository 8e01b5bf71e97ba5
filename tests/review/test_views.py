from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from generation.models import Membership
from review import services
from review.models import Comment, Decision, Notification, Review, Stage, StageStep
from review.selectors import DECISIONS_PAGE_SIZE
from review.views import COMMENTS_PAGE_SIZE
from tests.factories import (
    ClipFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

HTMX = {"HX-Request": "true"}
Status = Review.Status


def _login(client, review, role=Membership.Role.REVIEWER):
    user = MembershipFactory(campaign=review.clip.variant.brief.campaign, role=role).user
    client.force_login(user)
    return user


def _step(review) -> int:
    return review.steps.order_by("-pk").first().pk


def _decide_url(review) -> str:
    return reverse("review:clip_decide", args=[review.clip.uuid])


@pytest.mark.parametrize("name", ["review:queue"])
def test_queue_login_required(client, name: str) -> None:
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_clip_pages_login_required(client) -> None:
    review = ReviewFactory()
    detail = review.clip.get_absolute_url()

    assert client.get(detail)["Location"] == f"{reverse('login')}?next={detail}"
    response = client.post(_decide_url(review), {"step": _step(review), "outcome": "approve"})
    assert response.status_code == 302
    assert Review.objects.get(pk=review.pk).status == Status.PENDING


# --- queue ------------------------------------------------------------------------------------


def test_queue_lists_only_reviews_the_user_may_decide(client) -> None:
    waiting = ReviewFactory(clip__job__variant__brief__title="Decide me")
    decided = ReviewFactory(
        clip__job__variant__brief__campaign=waiting.clip.variant.brief.campaign,
        clip__job__variant__brief__title="Done already",
        status=Status.APPROVED,
    )
    elsewhere = ReviewFactory(clip__job__variant__brief__title="Other campaign")
    as_creator = ReviewFactory(clip__job__variant__brief__title="Only a creator here")
    user = _login(client, waiting)
    MembershipFactory(
        campaign=as_creator.clip.variant.brief.campaign, user=user, role=Membership.Role.CREATOR
    )

    response = client.get(reverse("review:queue"))

    assert response.status_code == 200
    assert list(response.context["reviews"]) == [waiting]
    content = response.content.decode()
    assert "Decide me" in content
    assert waiting.clip.get_absolute_url() in content
    assert "Other campaign" not in content
    assert "Only a creator here" not in content
    # The decided one is listed apart, not in the queue.
    assert list(response.context["decided"]) == [decided]
    assert "Recently decided" in content
    assert elsewhere not in response.context["decided"]


def test_queue_for_staff_without_membership_is_empty(client) -> None:
    ReviewFactory()
    ReviewFactory(status=Status.IN_REVIEW)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(reverse("review:queue"))

    assert len(response.context["reviews"]) == 0


def test_queue_empty(client) -> None:
    client.force_login(UserFactory())
    assert b"Nothing is waiting for you." in client.get(reverse("review:queue")).content


def _reviews_in_one_campaign(n: int, user) -> None:
    first = ReviewFactory()
    campaign = first.clip.variant.brief.campaign
    MembershipFactory(campaign=campaign, user=user, role=Membership.Role.APPROVER)
    for _ in range(n - 1):
        ReviewFactory(clip__job__variant__brief__campaign=campaign)
    for _ in range(n):
        ReviewFactory(clip__job__variant__brief__campaign=campaign, status=Status.APPROVED)


def test_queue_query_count_does_not_grow_with_reviews(client) -> None:
    user = UserFactory()
    client.force_login(user)
    _reviews_in_one_campaign(1, user)
    client.get(reverse("review:queue"))  # warm the session

    with CaptureQueriesContext(connection) as one:
        response = client.get(reverse("review:queue"))
    assert len(response.context["reviews"]) == 1

    Review.objects.all().delete()
    _reviews_in_one_campaign(50, user)
    with CaptureQueriesContext(connection) as fifty:
        response = client.get(reverse("review:queue"))
    assert len(response.context["reviews"]) == 50
    assert len(response.context["decided"]) == 10

    assert len(one) == len(fifty)


# --- clip detail ------------------------------------------------------------------------------


def test_clip_detail_full_page(client) -> None:
    review = ReviewFactory()
    clip = review.clip
    _login(client, review)

    response = client.get(clip.get_absolute_url())

    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" in content
    assert f'src="{clip.video_url}"' in content
    assert "<video" in content
    assert f'poster="{clip.poster_url}"' in content
    assert 'id="decision-panel"' in content
    assert f'hx-post="{_decide_url(review)}"' in content
    assert 'value="approve"' in content
    assert response.context["can_decide"] is True


def test_clip_detail_for_a_creator_has_no_decision_form(client) -> None:
    review = ReviewFactory()
    _login(client, review, Membership.Role.CREATOR)

    response = client.get(review.clip.get_absolute_url())

    assert response.status_code == 200
    content = response.content.decode()
    assert 'id="decision-panel"' in content
    assert f'hx-post="{_decide_url(review)}"' not in content
    assert "Only the deciders named for Creative review decide here." in content


def test_clip_detail_before_review_opens(client) -> None:
    clip = ClipFactory(status="processing", sha256="")
    MembershipFactory(campaign=clip.variant.brief.campaign, user=(user := UserFactory()))
    client.force_login(user)

    response = client.get(clip.get_absolute_url())

    assert response.status_code == 200
    assert b"<video" not in response.content
    assert b"Review opens when the clip is ready." in response.content


def test_clip_detail_for_a_non_member_is_404(client) -> None:
    review = ReviewFactory()
    client.force_login(UserFactory())

    assert client.get(review.clip.get_absolute_url()).status_code == 404
    assert (
        client.post(_decide_url(review), {"step": _step(review), "outcome": "approve"}).status_code
        == 404
    )


# --- deciding ---------------------------------------------------------------------------------


def test_decide_with_htmx_returns_only_the_panel(client, no_enqueue) -> None:
    review = ReviewFactory()
    user = _login(client, review, Membership.Role.APPROVER)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": "approve", "note": ""}, headers=HTMX
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<aside id="decision-panel"')
    assert "<html" not in content
    assert "<video" not in content
    assert 'data-testid="review-status">Approved — archiving…<' in content
    assert user.username in content
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


def test_decide_without_htmx_redirects(client, no_enqueue) -> None:
    review = ReviewFactory()
    _login(client, review)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": "request_changes", "note": "louder"}
    )

    assert response.status_code == 302
    assert response["Location"] == review.clip.get_absolute_url()
    assert Review.objects.get(pk=review.pk).status == Status.CHANGES_REQUESTED


@pytest.mark.parametrize("outcome", ["reject", "request_changes"])
def test_decide_without_a_reason_htmx(client, outcome: str) -> None:
    review = ReviewFactory()
    _login(client, review)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": outcome, "note": "  "}, headers=HTMX
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<aside id="decision-panel"')
    assert "Say why: a rejection or change request needs a reason." in content
    assert 'data-testid="review-status">Pending<' in content
    assert Review.objects.get(pk=review.pk).status == Status.PENDING
    assert not Decision.objects.exists()


def test_decide_without_a_reason_full_page(client) -> None:
    review = ReviewFactory()
    _login(client, review)

    response = client.post(_decide_url(review), {"step": _step(review), "outcome": "reject"})

    assert response.status_code == 400
    assert b"<html" in response.content
    assert b"Say why: a rejection or change request needs a reason." in response.content
    assert Review.objects.get(pk=review.pk).status == Status.PENDING


def test_decide_with_an_unknown_outcome(client) -> None:
    review = ReviewFactory()
    _login(client, review)

    response = client.post(_decide_url(review), {"step": _step(review), "outcome": "maybe"})

    assert response.status_code == 400
    assert b"Select a valid choice." in response.content


def test_decide_without_the_role_full_page_is_403(client) -> None:
    review = ReviewFactory()
    _login(client, review, Membership.Role.CREATOR)

    response = client.post(_decide_url(review), {"step": _step(review), "outcome": "approve"})

    assert response.status_code == 403
    assert b"only the deciders named for Creative review may decide there" in response.content
    assert Review.objects.get(pk=review.pk).status == Status.PENDING


def test_decide_without_the_role_htmx_shows_the_error_in_the_panel(client) -> None:
    review = ReviewFactory()
    _login(client, review, Membership.Role.CREATOR)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": "approve"}, headers=HTMX
    )

    assert response.status_code == 200
    content = response.content.decode()
    assert content.lstrip().startswith('<aside id="decision-panel"')
    assert 'role="alert">only the deciders named for Creative review may decide there<' in content
    assert Review.objects.get(pk=review.pk).status == Status.PENDING
    assert not Decision.objects.exists()


def test_at_an_any_one_stage_the_role_named_or_neither_decides_as_the_stage_says(client) -> None:
    """The clip page reads the member's role with the lock: a role the stage names decides,
    a decider named by hand decides whatever their role, anyone else is refused."""
    review = ReviewFactory()
    Stage.objects.filter(pk=review.stage_id).update(member_roles="approver")
    reviewer = _login(client, review, Membership.Role.REVIEWER)
    data = {"step": _step(review), "outcome": "approve"}

    refused = client.post(_decide_url(review), data, headers=HTMX)
    assert "may decide there" in refused.content.decode()
    assert not Decision.objects.exists()

    review.stage.deciders.add(reviewer)
    named = client.post(_decide_url(review), data, headers=HTMX)
    assert "Approved" in named.content.decode()
    assert Decision.objects.get().user == reviewer
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


def test_an_approver_in_the_stage_role_decides(client, no_enqueue) -> None:
    review = ReviewFactory()
    Stage.objects.filter(pk=review.stage_id).update(member_roles="approver")
    _login(client, review, Membership.Role.APPROVER)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": "approve"}, headers=HTMX
    )

    assert "Approved" in response.content.decode()
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


def test_a_guest_cannot_decide_through_the_members_page(client) -> None:
    """Guests decide through their link only; on the member's clip page a clip outside the
    user's campaigns is a 404, and nothing is written."""
    review = ReviewFactory()
    Stage.objects.filter(pk=review.stage_id).update(guests_decide=True)
    link = services.share_link_create(
        clips=[review.clip],
        user=MembershipFactory(
            campaign=review.clip.variant.brief.campaign, role=Membership.Role.CREATOR
        ).user,
        expires_at=timezone.now() + timedelta(days=1),
    )
    guest = services.guest_enter(link=link, name="Gus Guest", email="g@example.test")
    client.force_login(guest.user)

    response = client.post(
        _decide_url(review), {"step": _step(review), "outcome": "approve"}, headers=HTMX
    )

    assert response.status_code == 404
    assert not Decision.objects.exists()


def test_decide_on_a_closed_review_htmx(client) -> None:
    review = ReviewFactory()
    user = _login(client, review)
    step = review.steps.get()
    Decision.objects.create(
        review=review, step=step, stage=review.stage, user=user, outcome="approve"
    )
    Review.objects.filter(pk=review.pk).update(status=Status.APPROVED)
    StageStep.objects.filter(pk=step.pk).update(status="passed", closed_at=step.opened_at)

    response = client.post(
        _decide_url(review),
        {"step": step.pk, "outcome": "reject", "note": "too late"},
        headers=HTMX,
    )

    assert response.status_code == 200
    assert b"already decided at this stage" in response.content
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


def test_decide_before_the_review_opens(client) -> None:
    clip = ClipFactory(status="processing", sha256="")
    MembershipFactory(campaign=clip.variant.brief.campaign, user=(user := UserFactory()))
    client.force_login(user)

    url = reverse("review:clip_decide", args=[clip.uuid])
    assert client.post(url, {"outcome": "approve", "step": 1}).status_code == 409
    response = client.post(url, {"outcome": "approve", "step": 1}, headers=HTMX)
    assert b"Review opens when the clip is ready." in response.content


def test_decide_needs_post(client) -> None:
    review = ReviewFactory()
    _login(client, review)
    assert client.get(_decide_url(review)).status_code == 405


# --- audit export -----------------------------------------------------------------------------


def test_audit_csv_for_an_approver_lists_the_campaigns_trail_only(client, no_enqueue) -> None:
    import csv
    import io

    review = ReviewFactory()
    campaign = review.clip.variant.brief.campaign
    user = _login(client, review, Membership.Role.APPROVER)
    client.post(_decide_url(review), {"step": _step(review), "outcome": "approve"})
    other = ReviewFactory()
    services.review_approve(
        review_id=other.pk,
        user=_login(client, other, Membership.Role.APPROVER),
        step_id=_step(other),
    )
    client.force_login(user)

    response = client.get(reverse("review:campaign_audit_csv", args=[campaign.slug]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [(r["action"], r["object_id"], r["actor"]) for r in rows] == [
        ("campaign.stages", str(campaign.pk), ""),
        ("review.approve", str(review.pk), user.username),
    ]
    assert rows[1]["from"] == "pending" and rows[1]["to"] == "approved"


@pytest.mark.parametrize("role", [Membership.Role.REVIEWER, Membership.Role.CREATOR])
def test_audit_csv_is_403_for_other_roles_and_404_outside(client, role) -> None:
    review = ReviewFactory()
    slug = review.clip.variant.brief.campaign.slug
    _login(client, review, role)
    assert client.get(reverse("review:campaign_audit_csv", args=[slug])).status_code == 403
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(reverse("review:campaign_audit_csv", args=[slug])).status_code == 404


# --- notifications ----------------------------------------------------------------------------


def test_notification_list_mirrors_what_was_sent_and_sets_the_preference(client, no_enqueue):
    from review.models import NotificationPreference

    review = ReviewFactory()
    user = _login(client, review, Membership.Role.APPROVER)
    review.stage.deciders.add(user)
    other = ReviewFactory(clip__job__variant__brief__campaign=review.clip.variant.brief.campaign)
    services.review_approve(review_id=other.pk, user=user, step_id=_step(other))
    from review import notifications

    notifications.notify_step_opened(step=review.steps.get())

    response = client.get(reverse("review:notifications"))
    assert response.status_code == 200
    content = response.content.decode()
    assert "waits for your decision at Creative review" in content
    assert "In your next digest" in content
    assert response.context["unread"]
    # Seen once: read afterwards.
    assert not client.get(reverse("review:notifications")).context["unread"]

    bad = client.post(reverse("review:notifications"), {"email": "carrier-pigeon"})
    assert bad.status_code == 400
    assert b"Select a valid choice" in bad.content
    ok = client.post(reverse("review:notifications"), {"email": "off"})
    assert ok.status_code == 302
    assert NotificationPreference.objects.get(user=user).email == "off"
    assert client.delete(reverse("review:notifications")).status_code == 405


# --- small things a new user saw ----------------------------------------------------------------


def test_seen_by_a_new_user(client, no_enqueue) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from review.templatetags.review_tags import ago

    now = timezone.now()
    assert ago(now - timedelta(seconds=20), now) == "just now"
    assert ago(now - timedelta(minutes=3, seconds=5), now) == "3\xa0minutes ago"

    review = ReviewFactory()
    _login(client, review, Membership.Role.APPROVER)
    queue = client.get(reverse("review:queue")).content.decode()
    assert "0 minutes ago" not in queue and "0\xa0minutes ago" not in queue
    assert "just now" in queue
    page = client.get(review.clip.get_absolute_url()).content.decode()
    assert "None yet." not in page  # no numbered empty list
    assert "QC passed" in page  # a clip without findings says so
    assert 'rel="icon" href="/static/favicon.svg"' in page


def test_an_approved_panel_polls_until_archived(client, no_enqueue) -> None:
    review = ReviewFactory()
    _login(client, review, Membership.Role.APPROVER)
    client.post(_decide_url(review), {"step": _step(review), "outcome": "approve"})
    panel_url = reverse("review:decision_panel", args=[review.clip.uuid])

    approved = client.get(panel_url).content.decode()
    assert f'hx-get="{panel_url}"' in approved and 'hx-trigger="every 2s"' in approved
    Review.objects.filter(pk=review.pk).update(status=Status.ARCHIVED)
    archived = client.get(panel_url).content.decode()
    assert "hx-trigger" not in archived and "Archived" in archived


def test_a_new_version_shows_the_earlier_versions_decisions_and_comments(client, no_enqueue):
    from tests.factories import JobFactory

    first = ReviewFactory()
    user = _login(client, first, Membership.Role.APPROVER)
    services.review_request_changes(
        review_id=first.pk, user=user, step_id=_step(first), note="Make the logo bigger"
    )
    services.comment_add(clip=first.clip, user=user, body="logo here", at_s=1.0)
    job = JobFactory(variant=first.clip.variant, attempt=2, succeeded=True)
    second = services.review_open(clip=ClipFactory(job=job))

    page = client.get(second.clip.get_absolute_url()).content.decode()

    assert second.steps.get().stage.position == 1  # a new version starts at the first stage
    assert 'data-testid="earlier-version"' in page
    assert "Make the logo bigger" in page and "1 comment" in page
    assert f'href="{first.clip.get_absolute_url()}"' in page


def test_compare_two_versions_side_by_side_and_decide_the_newer(client, no_enqueue) -> None:
    from tests.factories import JobFactory

    first = ReviewFactory(status=Status.CHANGES_REQUESTED)
    user = _login(client, first, Membership.Role.APPROVER)
    job = JobFactory(variant=first.clip.variant, attempt=2, succeeded=True)
    second = services.review_open(clip=ClipFactory(job=job))
    url = reverse("review:clip_compare", args=[second.clip.uuid, first.clip.uuid])

    clip_page = client.get(second.clip.get_absolute_url()).content.decode()
    assert f'href="{url}"' in clip_page
    response = client.get(url)
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count("data-compare-video") == 2
    assert f'src="{first.clip.video_url}"' in page and f'src="{second.clip.video_url}"' in page
    assert f'hx-post="{_decide_url(second)}"' in page  # decide the newer one from here
    assert page.count("data-audio-toggle") == 2

    client.post(_decide_url(second), {"step": _step(second), "outcome": "approve"})
    assert Review.objects.get(pk=second.pk).status == Status.APPROVED
    same = reverse("review:clip_compare", args=[second.clip.uuid, second.clip.uuid])
    assert client.get(same).status_code == 302
    client.force_login(UserFactory())
    assert client.get(url).status_code == 404
    assert user.pk


def test_an_htmx_approval_stays_within_its_query_budget(
    client, no_enqueue, django_assert_max_num_queries
) -> None:
    """An approval is the reviewer's hot path: a checked, audited decision and its panel."""
    review = ReviewFactory()
    _login(client, review, Membership.Role.APPROVER)
    data = {"step": _step(review), "outcome": "approve", "note": ""}

    with django_assert_max_num_queries(APPROVAL_BUDGET):
        response = client.post(_decide_url(review), data, headers=HTMX)

    assert response.status_code == 200
    assert Review.objects.get(pk=review.pk).status == Status.APPROVED


# session, user; the review locked with its clip (checked visible, with the user's campaign
# role); the campaign's stages, the review's steps, its decisions; the decision, step, review
# and audit rows; BEGIN and COMMIT. At an "any one" stage a member in one of its roles needs no
# list of the stage's deciders.
APPROVAL_BUDGET = 12


def test_an_approval_that_notifies_the_creator_stays_within_its_query_budget(
    client, no_enqueue, django_assert_max_num_queries
) -> None:
    """The creator comes with the locked review; then only their email preference, their open
    digests and the notification row."""
    review = ReviewFactory(clip__job__variant__brief__created_by=UserFactory())
    _login(client, review, Membership.Role.APPROVER)
    data = {"step": _step(review), "outcome": "approve", "note": ""}

    with django_assert_max_num_queries(APPROVAL_BUDGET + 3):
        response = client.post(_decide_url(review), data, headers=HTMX)

    assert response.status_code == 200
    creator = review.clip.variant.brief.created_by
    assert Notification.objects.get().recipient == creator


def test_an_approval_that_opens_the_next_stage_stays_within_its_query_budget(
    client, no_enqueue, django_assert_max_num_queries
) -> None:
    """Passing a stage opens the next: its step, its deciders (read once for the notification
    and the panel), their notifications, and the panel showing who is now awaited."""
    review = ReviewFactory()
    campaign = review.clip.variant.brief.campaign
    services.stage_add(campaign=campaign, name="Brand", member_roles="approver")
    approver = _login(client, review, Membership.Role.APPROVER)
    MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER)
    data = {"step": _step(review), "outcome": "approve", "note": ""}

    # + the next step and its deciders, their notification preferences and open digests,
    # the notification rows, the next stage's commenters, and the reject reasons of the form
    # the panel now offers (this approver decides at Brand too); nothing is read twice.
    with django_assert_max_num_queries(APPROVAL_BUDGET + 7):
        response = client.post(_decide_url(review), data, headers=HTMX)

    assert response.status_code == 200
    content = response.content.decode()
    assert "Brand" in content
    review.refresh_from_db()
    assert review.status == Status.IN_REVIEW and review.stage.name == "Brand"
    assert 'data-testid="waiting-for"' in content
    assert approver.get_username() in content


# --- the clip page's lists: decisions and comments, paged apart -------------------------------


def _clip_page_with(n: int, user):
    """A clip whose open review has `n` decisions (by `n` users) and `n` comment threads,
    each at its own frame with a drawing; `user` is an approver of the campaign."""
    review = ReviewFactory(clip__fps=25.0, clip__duration_s=100.0)
    campaign = review.clip.variant.brief.campaign
    MembershipFactory(campaign=campaign, user=user, role=Membership.Role.APPROVER)
    step = review.steps.get()
    for n_ in range(n):
        author = MembershipFactory(campaign=campaign, role=Membership.Role.REVIEWER).user
        Decision.objects.create(
            review=review, step=step, stage=review.stage, user=author, outcome="approve"
        )
        Comment.objects.create(
            clip=review.clip,
            author=author,
            body=f"thread {n_}",
            start_frame=n_ * 25,
            fps=25.0,
            drawing=[{"kind": "arrow", "colour": "#e53e3e", "points": [[0.1, 0.1], [0.2, 0.2]]}],
        )
    return review


def test_the_clip_page_costs_the_same_with_1_and_60_decisions_and_comments(client) -> None:
    user = UserFactory()
    client.force_login(user)
    counts, pages = [], []
    for n in (1, 60):
        review = _clip_page_with(n, user)
        url = review.clip.get_absolute_url()
        client.get(url)  # warm the session
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200
        counts.append(len(queries))
        pages.append(response.content.decode())
    assert counts[0] == counts[1], counts

    big = pages[1]
    assert big.count('data-testid="comment"') == COMMENTS_PAGE_SIZE
    # Every thread keeps its marker on the timeline (with its drawing), whatever page is open.
    assert big.count('data-testid="lane-marker"') == 60
    assert big.count("data-drawing=") == 60
    last = Comment.objects.filter(body="thread 59").get()
    assert f'cpage=2#comment-{last.pk}"' in big
    assert big.count('class="decisions"') == 1 and big.count("<blockquote>") == 0
    panel = big[big.index('id="decision-panel"') : big.index("</aside>")]
    assert panel.count('class="badge approve"') == DECISIONS_PAGE_SIZE
    assert 'aria-label="Decision pages"' in panel and 'href="?dpage=2#decision-panel"' in panel
    assert 'aria-label="Comment pages"' in big and 'href="?cpage=2#comments-panel"' in big


def test_each_list_of_the_clip_page_pages_on_its_own(client) -> None:
    user = UserFactory()
    client.force_login(user)
    review = _clip_page_with(COMMENTS_PAGE_SIZE + 1, user)

    page = client.get(review.clip.get_absolute_url(), {"dpage": 3, "cpage": 2}).content.decode()

    panel = page[page.index('id="decision-panel"') : page.index("</aside>")]
    assert panel.count('class="badge approve"') == COMMENTS_PAGE_SIZE + 1 - 2 * DECISIONS_PAGE_SIZE
    assert page.count('data-testid="comment"') == 1
    # Each list's links keep the other list's page.
    assert 'href="?cpage=2&amp;dpage=2#decision-panel"' in panel
    assert 'href="?dpage=3&amp;cpage=1#comments-panel"' in page


def test_a_plain_comment_post_lands_on_the_page_that_shows_it(client) -> None:
    user = UserFactory()
    client.force_login(user)
    review = _clip_page_with(COMMENTS_PAGE_SIZE, user)
    url = reverse("review:clip_comment", args=[review.clip.uuid])

    response = client.post(url, {"body": "one more", "at_s": "3.0"})

    comment = Comment.objects.get(body="one more")
    assert response["Location"].endswith(f"?cpage=2#comment-{comment.pk}")


@pytest.mark.parametrize("status", [Status.PENDING, Status.CHANGES_REQUESTED])
@pytest.mark.parametrize("is_cut", [False, True])
def test_a_cut_is_remade_by_assembly_not_edited_or_voiced_again(client, status, is_cut):
    review = ReviewFactory(status=status, clip__job__variant__is_cut=is_cut)
    _login(client, review, role=Membership.Role.CREATOR)

    content = client.get(review.clip.get_absolute_url()).content.decode()

    edit = reverse("generation:variant_revise", args=[review.clip.variant_id])
    localize = reverse("generation:job_localize", args=[review.clip.job_id])
    offered = edit in content if status == Status.CHANGES_REQUESTED else localize in content
    assert offered is not is_cut
