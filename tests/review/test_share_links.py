"""External review links: tokenized, expiring, optionally password-protected, revocable;
guests comment, decide only where the stage allows, and every action names them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from generation.models import AuditEvent, Membership
from review import services
from review.models import Guest, Review, ShareLink
from tests.factories import ClipFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def setup():
    clip = ClipFactory(duration_s=3.0, fps=25.0)
    review = services.review_open(clip=clip)
    approver = MembershipFactory(
        campaign=clip.variant.brief.campaign, role=Membership.Role.APPROVER
    ).user
    link = services.share_link_create(
        clips=[clip],
        user=approver,
        expires_at=timezone.now() + timedelta(days=3),
        password="agency-2026",
        label="Agency",
    )
    return clip, review, approver, link


def _enter(client, link, **data):
    defaults = {"name": "Gina Guest", "email": "gina@agency.test", "password": "agency-2026"}
    return client.post(reverse("review:guest_enter", args=[link.token]), {**defaults, **data})


def test_only_creators_and_approvers_share_and_links_expire_in_the_future(setup) -> None:
    clip, _review, approver, link = setup
    assert len(link.token) >= 32 and link.password != "agency-2026"
    reviewer = MembershipFactory(campaign=clip.variant.brief.campaign).user
    with pytest.raises(services.NotAllowed):
        services.share_link_create(
            clips=[clip], user=reviewer, expires_at=timezone.now() + timedelta(days=1)
        )
    with pytest.raises(services.ReviewError, match="expire in the future"):
        services.share_link_create(clips=[clip], user=approver, expires_at=timezone.now())
    with pytest.raises(services.ReviewError, match="one campaign"):
        services.share_link_create(
            clips=[clip, ClipFactory()], user=approver, expires_at=timezone.now() + timedelta(1)
        )


def test_the_door_checks_password_and_name_and_404_410(client, setup) -> None:
    _clip, _review, approver, link = setup
    assert client.get(reverse("review:guest_enter", args=["nope"])).status_code == 404
    page = client.get(reverse("review:guest_enter", args=[link.token]))
    assert page.status_code == 200 and b"You're invited to review" in page.content

    wrong = _enter(client, link, password="guess")
    assert wrong.status_code == 400 and b"That password is not right." in wrong.content
    nameless = _enter(client, link, name="")
    assert nameless.status_code == 400
    assert not Guest.objects.exists()

    ok = _enter(client, link)
    assert ok.status_code == 302 and ok["Location"] == reverse(
        "review:guest_home", args=[link.token]
    )
    guest = Guest.objects.get()
    assert (guest.name, guest.email, guest.user.has_usable_password()) == (
        "Gina Guest",
        "gina@agency.test",
        False,
    )
    # A guest is no campaign member: the member pages do not open for them.
    assert client.get(reverse("home")).context["campaigns"].count() == 0
    assert client.get(setup[0].get_absolute_url()).status_code == 404

    services.share_link_revoke(link_id=link.pk, user=approver)
    assert client.get(reverse("review:guest_home", args=[link.token])).status_code == 410
    assert _enter(client, link).status_code == 410
    ShareLink.objects.filter(pk=link.pk).update(revoked_at=None, expires_at=timezone.now())
    assert client.get(reverse("review:guest_home", args=[link.token])).status_code == 410


def test_a_guest_comments_and_watches_under_their_name(client, setup) -> None:
    clip, _review, _approver, link = setup
    default_storage.save(clip.file.name, ContentFile(b"0123456789" * 10))
    _enter(client, link)
    guest_user = Guest.objects.get().user
    args = [link.token, clip.uuid]

    page = client.get(reverse("review:guest_clip", args=args)).content.decode()
    assert f'src="{reverse("review:guest_video", args=args)}"' in page
    assert "Only the deciders named for" in page  # guests do not decide here by default
    video = client.get(reverse("review:guest_video", args=args), headers={"Range": "bytes=0-9"})
    assert video.status_code == 206 and b"".join(video.streaming_content) == b"0123456789"

    panel = client.post(
        reverse("review:guest_comment", args=args), {"body": "Love it", "at_s": "1"}, headers=HTMX
    )
    assert "Love it" in panel.content.decode() and "Gina Guest" in panel.content.decode()
    assert clip.comments.get().author == guest_user
    event = AuditEvent.objects.filter(action="comment.add").get()
    assert event.actor == guest_user
    assert client.post(reverse("review:guest_comment", args=args), {"body": ""}).status_code == 400

    other = ClipFactory(job__variant__brief__campaign=clip.variant.brief.campaign)
    assert (
        client.get(reverse("review:guest_clip", args=[link.token, other.uuid])).status_code == 404
    )


def test_a_guest_decides_only_where_the_stage_allows(client, setup) -> None:
    clip, review, _approver, link = setup
    _enter(client, link)
    args = [link.token, clip.uuid]
    step = review.steps.get().pk

    refused = client.post(
        reverse("review:guest_decide", args=args), {"step": step, "outcome": "approve"}
    )
    assert refused.status_code == 403
    assert Review.objects.get(pk=review.pk).status == "pending"

    review.stage.guests_decide = True
    review.stage.save()
    assert 'value="approve"' in client.get(reverse("review:guest_clip", args=args)).content.decode()
    client.post(
        reverse("review:guest_decide", args=args),
        {"step": step, "outcome": "request_changes", "note": "Brighter please"},
    )
    review.refresh_from_db()
    assert review.status == "changes_requested"
    decision = review.decisions.get()
    assert decision.user.guest.name == "Gina Guest"
    assert AuditEvent.objects.get(action="review.request_changes").actor == decision.user
    assert services.review_provenance(review=review)["decisions"][0]["user"].startswith("guest-")


def test_share_from_the_clip_page_and_revoke(client, setup) -> None:
    clip, _review, approver, _link = setup
    client.force_login(approver)
    page = client.get(clip.get_absolute_url()).content.decode()
    assert "External review" in page and 'data-testid="share-url"' in page

    made = client.post(reverse("review:clip_share", args=[clip.uuid]), {"days": "2"}, follow=True)
    assert "External review link (works 2 days)" in made.content.decode()
    assert ShareLink.objects.count() == 2
    assert (
        client.post(reverse("review:clip_share", args=[clip.uuid]), {"days": "90"}).status_code
        == 400
    )
    newest = ShareLink.objects.order_by("-pk").first()
    client.post(reverse("review:share_revoke", args=[newest.pk]), {"next": clip.get_absolute_url()})
    assert ShareLink.objects.get(pk=newest.pk).revoked_at is not None

    reviewer = MembershipFactory(campaign=clip.variant.brief.campaign).user
    client.force_login(reviewer)
    assert "External review" not in client.get(clip.get_absolute_url()).content.decode()
    assert (
        client.post(reverse("review:clip_share", args=[clip.uuid]), {"days": "2"}).status_code
        == 403
    )
    client.force_login(UserFactory())
    assert client.post(reverse("review:share_revoke", args=[newest.pk])).status_code == 404
