"""Timecoded comments: frames, ranges, replies, resolve/reopen, @mentions, the lane."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from generation.models import Membership
from review import services
from review.models import Comment, Notification
from tests.factories import ClipFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def clip():
    return ClipFactory(fps=25.0, duration_s=10.0)


@pytest.fixture
def member(clip):
    return MembershipFactory(
        campaign=clip.variant.brief.campaign, role=Membership.Role.REVIEWER, user__username="rae"
    ).user


def test_timecodes_are_frame_accurate(clip, member) -> None:
    point = services.comment_add(clip=clip, user=member, body="logo flickers", at_s=3.52)
    assert (point.start_frame, point.start_tc, point.end_tc) == (88, "00:00:03:13", "")
    assert point.start_s == pytest.approx(3.52)

    ranged = services.comment_add(clip=clip, user=member, body="too dark", at_s=1.0, end_s=2.5)
    assert (ranged.start_tc, ranged.end_tc) == ("00:00:01:00", "00:00:02:12")
    assert Comment.timecode(25 * 3725 + 7, 25) == "01:02:05:07"

    whole = services.comment_add(clip=clip, user=member, body="lovely overall")
    assert whole.start_frame is None and whole.start_tc == ""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"body": "   "}, "write something"),
        ({"body": "x", "end_s": 2.0}, "a range needs a start"),
        ({"body": "x", "at_s": 2.0, "end_s": 1.0}, "must end after it starts"),
        ({"body": "x", "at_s": 2.0, "end_s": 2.0}, "must end after it starts"),
        ({"body": "x", "at_s": 11.0}, "outside the clip"),
        ({"body": "x", "at_s": -1.0}, "outside the clip"),
        ({"body": "x", "parent_id": 999999}, "not on this clip"),
    ],
)
def test_bad_comments_are_refused(clip, member, kwargs, message) -> None:
    with pytest.raises(services.ReviewError, match=message):
        services.comment_add(clip=clip, user=member, **kwargs)
    assert not Comment.objects.exists()


def test_replies_stay_one_level_and_resolve_reopen(clip, member) -> None:
    top = services.comment_add(clip=clip, user=member, body="cut earlier?", at_s=4.0)
    reply = services.comment_add(clip=clip, user=member, body="agreed", parent_id=top.pk)
    deeper = services.comment_add(clip=clip, user=member, body="+1", parent_id=reply.pk)
    assert reply.parent == top and deeper.parent == top
    assert reply.start_frame is None

    services.comment_resolve(comment_id=top.pk, user=member)
    top.refresh_from_db()
    assert top.resolved_at is not None and top.resolved_by == member
    with pytest.raises(services.ReviewError, match="resolve the thread"):
        services.comment_resolve(comment_id=reply.pk, user=member)
    services.comment_resolve(comment_id=top.pk, user=member, resolved=False)
    top.refresh_from_db()
    assert top.resolved_at is None
    with pytest.raises(services.NotAllowed):
        services.comment_add(clip=clip, user=UserFactory(), body="hi")


def test_mentions_notify_campaign_members_only(clip, member) -> None:
    campaign = clip.variant.brief.campaign
    MembershipFactory(campaign=campaign, user__username="Bea")
    UserFactory(username="outsider")

    services.comment_add(
        clip=clip, user=member, body="@bea can you check? cc @outsider @rae", at_s=1.0
    )

    rows = list(Notification.objects.values_list("recipient__username", "kind", "subject"))
    assert rows == [("Bea", "mention", f"rae mentioned you on {clip.variant.brief.title} "
                     f"#{clip.variant.position} v1")]  # fmt: skip
    assert Notification.objects.get().url.endswith(f"#comment-{Comment.objects.get().pk}")


def test_comment_views(client, clip, member) -> None:
    client.force_login(member)
    url = reverse("review:clip_comment", args=[clip.uuid])

    panel = client.post(url, {"body": "flash frame", "at_s": "2.0"}, headers=HTMX)
    content = panel.content.decode()
    assert content.lstrip().startswith('<section id="comments-panel"')
    assert 'data-seek="2.0000"' in content and "00:00:02:00" in content
    assert 'data-testid="lane-marker"' in content

    comment = Comment.objects.get()
    plain = client.post(url, {"body": "reply", "parent": str(comment.pk)})
    assert plain.status_code == 302
    assert plain["Location"].endswith(f"#comment-{comment.pk + 1}")

    assert client.post(url, {"body": ""}).status_code == 400
    assert client.post(url, {"body": "x", "at_s": "abc"}).status_code == 400
    assert client.post(url, {"body": "x", "at_s": "50"}).status_code == 400
    resolve = reverse("review:comment_resolve", args=[comment.pk, "resolve"])
    assert "Reopen" in client.post(resolve, headers=HTMX).content.decode()
    assert (
        client.post(reverse("review:comment_resolve", args=[comment.pk, "delete"])).status_code
        == 404
    )

    page = client.get(clip.get_absolute_url()).content.decode()
    assert 'id="comments-panel"' in page and "flash frame" in page

    client.force_login(UserFactory())
    assert client.post(url, {"body": "hi"}).status_code == 404
    assert client.post(resolve).status_code == 404


ARROW = {"kind": "arrow", "colour": "#e53e3e", "points": [[0.1, 0.2], [0.5, 0.55556]]}


def test_a_drawing_on_the_frame_is_stored_as_vector_shapes(clip, member) -> None:
    pen = {"kind": "pen", "points": [[0, 0], [0.2, 0.1], [1, 1]]}
    comment = services.comment_add(
        clip=clip, user=member, body="move it here", at_s=2.0, drawing=[ARROW, pen]
    )
    assert comment.drawing == [
        {"kind": "arrow", "colour": "#e53e3e", "points": [[0.1, 0.2], [0.5, 0.5556]]},
        {"kind": "pen", "colour": "#e53e3e", "points": [[0.0, 0.0], [0.2, 0.1], [1.0, 1.0]]},
    ]


@pytest.mark.parametrize(
    ("drawing", "message"),
    [
        ({"kind": "pen"}, "list of at most 50"),
        ([ARROW] * 51, "list of at most 50"),
        ([{"kind": "circle", "points": [[0, 0], [1, 1]]}], "pen stroke or an arrow"),
        ([{"kind": "arrow", "points": [[0, 0], [1, 1], [0.5, 0.5]]}], "arrow has 2–2 points"),
        ([{"kind": "pen", "points": [[0, 0]]}], "pen has 2–500 points"),
        ([{"kind": "pen", "points": [[0, 0], [1.5, 0]]}], "fractions of the frame"),
        ([{"kind": "pen", "points": [[0, 0], ["a", 0]]}], "fractions of the frame"),
        ([{**ARROW, "colour": "red"}], "colour looks like"),
    ],
)
def test_bad_drawings_are_refused(clip, member, drawing, message) -> None:
    with pytest.raises(services.ReviewError, match=message):
        services.comment_add(clip=clip, user=member, body="x", at_s=1.0, drawing=drawing)


def test_a_drawing_needs_a_frame_and_the_view_says_what_is_wrong(client, clip, member) -> None:
    with pytest.raises(services.ReviewError, match="belongs to a frame"):
        services.comment_add(clip=clip, user=member, body="x", drawing=[ARROW])
    client.force_login(member)
    url = reverse("review:clip_comment", args=[clip.uuid])
    assert client.post(url, {"body": "x", "at_s": "1", "drawing": "{not json"}).status_code == 400
    bad = client.post(url, {"body": "x", "at_s": "1", "drawing": '[{"kind": "blob"}]'})
    assert bad.status_code == 400 and b"pen stroke or an arrow" in bad.content

    ok = client.post(
        url, {"body": "here", "at_s": "1", "drawing": json.dumps([ARROW])}, headers=HTMX
    )
    assert "data-drawing=" in ok.content.decode() and "✎ drawing" in ok.content.decode()
