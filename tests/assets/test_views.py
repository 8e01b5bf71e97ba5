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


def test_media_views_read_the_clip_row_alone(client, analysed_clip) -> None:
    # Each media request pays for its permission query: it joins the campaign's memberships
    # but reads the clip's own columns only, not the job, variant, brief and campaign rows.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    member = _member_client(client, analysed_clip)
    for url in (
        analysed_clip.video_url,
        analysed_clip.sprite_url,
        analysed_clip.waveform_url,
        analysed_clip.thumbnails_url,
    ):
        with CaptureQueriesContext(connection) as queries:
            response = member.get(url)
            assert response.status_code == 200
            assert response.getvalue()  # the test client closes it as a server would
        clip_queries = [q["sql"] for q in queries if 'FROM "assets_clip"' in q["sql"]]
        assert len(clip_queries) == 1, clip_queries
        columns = clip_queries[0].split(" FROM ")[0]
        assert '"assets_clip".' in columns
        assert "generation_" not in columns, columns


def test_clip_video_anonymous_redirects_to_login(client, clip) -> None:
    response = client.get(clip.video_url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={clip.video_url}"


def test_clip_video_with_the_file_missing_is_404(client) -> None:
    clip = ClipFactory(file="clips/gone/video.mp4")
    assert _member_client(client, clip).get(clip.video_url).status_code == 404


def test_a_file_deleted_after_the_existence_check_is_404_not_500(client, clip, monkeypatch) -> None:
    # A derived file replaced by a re-analysis between a check and the open: the storage said
    # yes a moment ago, the open finds nothing.
    client = _member_client(client, clip)
    default_storage.delete(clip.file.name)
    monkeypatch.setattr(type(default_storage._wrapped), "exists", lambda self, name: True)

    assert client.get(clip.video_url).status_code == 404


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


# --- analysis files -----------------------------------------------------------------------------

SPRITE = b"\xff\xd8\xff\xe0" + b"sprite" * 50
WAVEFORM = b"\x89PNG\r\n\x1a\n" + b"wave" * 50
VTT = b"WEBVTT\n\n00:00:00.000 --> 00:00:00.500\nsprite.jpg#xywh=0,0,160,90\n"


@pytest.fixture
def analysed_clip():
    for name, data in (
        ("clips/b/video.mp4", VIDEO),
        ("clips/b/sprite.jpg", SPRITE),
        ("clips/b/waveform.png", WAVEFORM),
        ("clips/b/thumbnails.vtt", VTT),
    ):
        default_storage.save(name, ContentFile(data))
    return ClipFactory(
        file="clips/b/video.mp4",
        poster="",
        sprite="clips/b/sprite.jpg",
        waveform="clips/b/waveform.png",
        thumbnails="clips/b/thumbnails.vtt",
    )


def test_sprite_waveform_and_thumbnails_track(client, analysed_clip) -> None:
    member = _member_client(client, analysed_clip)

    sprite = member.get(analysed_clip.sprite_url)
    assert (sprite.status_code, sprite["Content-Type"]) == (200, "image/jpeg")
    assert _body(sprite) == SPRITE
    waveform = member.get(analysed_clip.waveform_url)
    assert (waveform.status_code, waveform["Content-Type"]) == (200, "image/png")
    assert _body(waveform) == WAVEFORM
    track = member.get(analysed_clip.thumbnails_url)
    assert (track.status_code, track["Content-Type"]) == (200, "text/vtt; charset=utf-8")
    assert track.content == VTT
    assert track["Cache-Control"] == "private, max-age=3600"
    # The track's cues name sprite.jpg relative to the track's own URL: the sprite view.
    assert (
        analysed_clip.thumbnails_url.rsplit("/", 1)[0] == analysed_clip.sprite_url.rsplit("/", 1)[0]
    )


def test_analysis_files_for_a_non_member_are_404(client, analysed_clip) -> None:
    client.force_login(UserFactory())
    for url in (analysed_clip.sprite_url, analysed_clip.waveform_url, analysed_clip.thumbnails_url):
        assert client.get(url).status_code == 404


def test_a_clip_without_analysis_files(client) -> None:
    clip = ClipFactory(poster="")
    assert (clip.sprite_url, clip.waveform_url, clip.thumbnails_url) == ("", "", "")
    member = _member_client(client, clip)
    for name in ("clip_sprite", "clip_waveform", "clip_thumbnails"):
        assert member.get(reverse(f"assets:{name}", args=[clip.uuid])).status_code == 404


# --- X-Accel-Redirect and sendfile --------------------------------------------------------------


def test_x_accel_redirect_hands_local_media_to_nginx(client, clip, settings) -> None:
    settings.GREENLIGHT_ACCEL_REDIRECT = {"default": "/_protected/media/", "archive": ""}

    response = _member_client(client, clip).get(clip.video_url, headers={"Range": "bytes=0-9"})

    # nginx serves the bytes (and the Range); the app only checked permission.
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == "/_protected/media/clips/a/video.mp4"
    assert response["Content-Type"] == "video/mp4"
    assert response["Cache-Control"] == "private, max-age=3600"
    assert response.content == b""


def test_x_accel_redirect_still_checks_permission(client, clip, settings) -> None:
    settings.GREENLIGHT_ACCEL_REDIRECT = {"default": "/_protected/media/", "archive": ""}
    client.force_login(UserFactory())

    response = client.get(clip.video_url)

    assert response.status_code == 404
    assert "X-Accel-Redirect" not in response


class RecordingFileWrapper:
    """A wsgi.file_wrapper like gunicorn's: it gets the file, and a server could sendfile it."""

    instances: list[RecordingFileWrapper] = []

    def __init__(self, filelike, block_size: int = 8192) -> None:
        self.filelike = filelike
        self.block_size = block_size
        RecordingFileWrapper.instances.append(self)

    def __iter__(self):
        while chunk := self.filelike.read(self.block_size):
            yield chunk

    def close(self) -> None:
        self.filelike.close()


@pytest.mark.parametrize(
    ("header", "status", "start", "end"),
    [("", "200 OK", 0, len(VIDEO) - 1), ("bytes=100-199", "206 Partial Content", 100, 199)],
)
def test_the_server_file_wrapper_gets_a_sendfile_ready_file(
    client, clip, header: str, status: str, start: int, end: int
) -> None:
    from django.core import signals
    from django.core.handlers.wsgi import WSGIHandler
    from django.db import close_old_connections
    from django.test import RequestFactory

    _member_client(client, clip)
    environ = RequestFactory()._base_environ(
        PATH_INFO=clip.video_url,
        REQUEST_METHOD="GET",
        HTTP_COOKIE=f"sessionid={client.cookies['sessionid'].value}",
        **({"HTTP_RANGE": header} if header else {}),
    )
    environ["wsgi.file_wrapper"] = RecordingFileWrapper
    RecordingFileWrapper.instances.clear()
    started: list[tuple[str, dict]] = []

    # As Django's test client does: the test's transaction must outlive the "request".
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        result = WSGIHandler()(environ, lambda s, h: started.append((s, dict(h))))
        assert isinstance(result, RecordingFileWrapper)
        _check_sendfile_ready(result, started, status=status, start=start, end=end)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _check_sendfile_ready(result, started, *, status: str, start: int, end: int) -> None:
    import os

    status_line, headers = started[0]
    assert status_line == status
    assert headers["Content-Length"] == str(end - start + 1)
    # What gunicorn's sendfile needs: a real descriptor positioned at the range's start.
    fileno = result.filelike.fileno()
    assert os.lseek(fileno, 0, os.SEEK_CUR) == start
    # A server that reads instead of sendfile-ing cannot read past the range.
    assert b"".join(result) == VIDEO[start : end + 1]
    result.close()
    assert result.filelike.file.closed


def test_archive_list_filters_by_tag_and_shows_the_archived_tags(client) -> None:
    from review.models import ClipTag, Tag

    hero = _record(ClipFactory(job__variant__brief__title="Hero cut"), stem="a/hero")
    campaign = hero.clip.variant.brief.campaign
    other = _record(
        ClipFactory(job__variant__brief__title="Plain cut", job__variant__brief__campaign=campaign),
        stem="a/plain",
    )
    ClipTag.objects.create(clip=hero.clip, tag=Tag.objects.create(campaign=campaign, name="Hero"))
    ArchiveRecord.objects.filter(pk=hero.pk).update(provenance={"tags": ["Hero"]})
    _member_client(client, hero.clip)

    everything = client.get(reverse("assets:archive_list"))
    assert set(everything.context["records"]) == {hero, other}
    assert 'href="?tag=Hero">Hero</a>' in everything.content.decode()

    tagged = client.get(reverse("assets:archive_list"), {"tag": "hero"})
    assert list(tagged.context["records"]) == [hero]
    nothing = client.get(reverse("assets:archive_list"), {"tag": "Needs VO"})
    assert list(nothing.context["records"]) == []
    assert "No archived clip carries the tag “Needs VO”." in nothing.content.decode()
