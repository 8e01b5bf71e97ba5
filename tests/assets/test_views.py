from __future__ import annotations

import json

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.urls import reverse

from assets.models import ArchiveRecord
from generation.models import Membership
from tests.factories import ClipFactory, MembershipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

VIDEO = bytes(i % 251 for i in range(5000))
POSTER = b"\xff\xd8\xff\xe0" + b"jpeg" * 100


@pytest.fixture
def clip():
    default_storage.save("clips/a/video.mp4", ContentFile(VIDEO))
    default_storage.save("clips/a/poster.jpg", ContentFile(POSTER))
    return ClipFactory(file="clips/a/video.mp4", poster="clips/a/poster.jpg")


def _member_client(client, clip, role=Membership.Role.REVIEWER):
    client.force_login(MembershipFactory(campaign=clip.variant.brief.campaign, role=role).user)
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_clip_video_whole_file(client, clip) -> None:
    response = _member_client(client, clip).get(clip.video_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(len(VIDEO))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == (
        f'inline; filename="clip-{clip.uuid}-v{clip.version}.mp4"'
    )
    assert _body(response) == VIDEO


def test_clip_video_range(client, clip) -> None:
    response = _member_client(client, clip).get(clip.video_url, headers={"Range": "bytes=100-199"})

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 100-199/{len(VIDEO)}"
    assert response["Content-Length"] == "100"
    assert _body(response) == VIDEO[100:200]


def test_clip_video_suffix_range_and_head(client, clip) -> None:
    client = _member_client(client, clip)

    tail = client.get(clip.video_url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206
    assert _body(tail) == VIDEO[-10:]

    head = client.head(clip.video_url)
    assert head.status_code == 200
    assert head["Content-Length"] == str(len(VIDEO))
    assert head.content == b""


def test_clip_video_download(client, clip) -> None:
    response = _member_client(client, clip).get(clip.video_url + "?download=1")

    assert response["Content-Disposition"] == (
        f'attachment; filename="clip-{clip.uuid}-v{clip.version}.mp4"'
    )
    assert _body(response) == VIDEO


def test_clip_video_for_staff_without_membership_is_404(client, clip) -> None:
    # Staff status is not a campaign role (issue 9).
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    assert client.get(clip.video_url).status_code == 404


def test_clip_video_for_a_non_member_is_404(client, clip) -> None:
    other = ClipFactory()
    MembershipFactory(campaign=other.variant.brief.campaign)  # a member elsewhere
    client.force_login(UserFactory())

    assert client.get(clip.video_url).status_code == 404
    assert client.get(clip.poster_url).status_code == 404


def test_clip_video_anonymous_redirects_to_login(client, clip) -> None:
    response = client.get(clip.video_url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={clip.video_url}"


def test_clip_video_with_the_file_missing_is_404(client) -> None:
    clip = ClipFactory(file="clips/gone/video.mp4")
    assert _member_client(client, clip).get(clip.video_url).status_code == 404


def test_clip_video_rejects_post(client, clip) -> None:
    assert _member_client(client, clip).post(clip.video_url).status_code == 405


def test_clip_poster(client, clip) -> None:
    response = _member_client(client, clip).get(clip.poster_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert _body(response) == POSTER


def test_clip_without_a_poster(client) -> None:
    clip = ClipFactory(poster="")
    client = _member_client(client, clip)

    assert clip.poster_url == ""
    url = reverse("assets:clip_poster", args=[clip.uuid])
    assert client.get(url).status_code == 404


# --- the archive ------------------------------------------------------------------------------


def _record(clip, *, stem: str) -> ArchiveRecord:
    archive = storages["archive"]
    archive.save(f"{stem}.mp4", ContentFile(VIDEO))
    archive.save(f"{stem}.json", ContentFile(json.dumps({"clip": str(clip.uuid)}).encode()))
    return ArchiveRecord.objects.create(
        clip=clip,
        video_path=f"{stem}.mp4",
        sidecar_path=f"{stem}.json",
        sha256=clip.sha256,
        size_bytes=len(VIDEO),
        provenance={},
    )


def test_archive_list_shows_only_visible_records(client) -> None:
    mine = _record(ClipFactory(job__variant__brief__title="Mine"), stem="a/mine")
    _record(ClipFactory(job__variant__brief__title="Theirs"), stem="b/theirs")
    _member_client(client, mine.clip)

    response = client.get(reverse("assets:archive_list"))

    assert response.status_code == 200
    assert list(response.context["records"]) == [mine]
    content = response.content.decode()
    assert "Mine — #" in content
    assert "Theirs" not in content
    assert reverse("assets:archive_file", args=[mine.pk, "video"]) in content
    assert reverse("assets:archive_file", args=[mine.pk, "sidecar"]) in content


def test_archive_list_for_staff_shows_only_their_campaigns(client) -> None:
    # Staff status is not a campaign role (issue 9).
    mine = _record(ClipFactory(), stem="a/one")
    _record(ClipFactory(), stem="b/two")
    staff = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory(campaign=mine.clip.variant.brief.campaign, user=staff)
    client.force_login(staff)

    response = client.get(reverse("assets:archive_list"))

    assert [r.pk for r in response.context["records"]] == [mine.pk]


def test_archive_list_empty(client) -> None:
    client.force_login(UserFactory())
    response = client.get(reverse("assets:archive_list"))
    assert b"Nothing archived yet." in response.content


def test_archive_file_video_and_sidecar(client) -> None:
    record = _record(ClipFactory(), stem="c/brief-1/v1")
    _member_client(client, record.clip)

    video = client.get(reverse("assets:archive_file", args=[record.pk, "video"]))
    assert video.status_code == 200
    assert video["Content-Type"] == "video/mp4"
    assert video["Content-Disposition"] == 'attachment; filename="v1.mp4"'
    assert _body(video) == VIDEO

    sidecar = client.get(reverse("assets:archive_file", args=[record.pk, "sidecar"]))
    assert sidecar.status_code == 200
    assert sidecar["Content-Type"] == "application/json"
    assert sidecar["Content-Disposition"] == 'attachment; filename="v1.json"'
    assert json.loads(_body(sidecar)) == {"clip": str(record.clip.uuid)}


def test_archive_file_range(client) -> None:
    record = _record(ClipFactory(), stem="c/v1")
    _member_client(client, record.clip)

    response = client.get(
        reverse("assets:archive_file", args=[record.pk, "video"]), headers={"Range": "bytes=0-9"}
    )

    assert response.status_code == 206
    assert _body(response) == VIDEO[:10]


@pytest.mark.parametrize("kind", ["poster", "VIDEO", "..", "video.mp4"])
def test_archive_file_other_kinds_are_404(client, kind: str) -> None:
    record = _record(ClipFactory(), stem="c/v1")
    _member_client(client, record.clip)

    assert client.get(f"/archive/{record.pk}/{kind}/").status_code == 404


def test_archive_file_for_a_non_member_is_404(client) -> None:
    record = _record(ClipFactory(), stem="c/v1")
    client.force_login(UserFactory())

    assert client.get(reverse("assets:archive_file", args=[record.pk, "video"])).status_code == 404
    assert client.get(reverse("assets:archive_file", args=[999, "video"])).status_code == 404


def test_archive_file_anonymous_redirects_to_login(client) -> None:
    record = _record(ClipFactory(), stem="c/v1")
    url = reverse("assets:archive_file", args=[record.pk, "sidecar"])

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
