"""Media and archive on S3-compatible storage (django-storages) against a moto S3 server on
loopback: ingest, archive with a verified checksum, playback through a presigned URL that
honours Range."""

from __future__ import annotations

import hashlib
import json
import shutil

import boto3
import httpx
import pytest
from django.core.files import File
from django.core.files.storage import default_storage, storages
from django.urls import reverse
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from assets import services
from assets.models import Clip
from generation.models import Membership
from tests.factories import ClipFactory, MembershipFactory

pytestmark = pytest.mark.django_db

CREDENTIALS = {"access_key": "greenlight-test", "secret_key": "greenlight-test-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(settings, s3_endpoint):
    options = {
        **CREDENTIALS,
        "endpoint_url": s3_endpoint,
        "region_name": "us-east-1",
        "querystring_auth": True,
        "file_overwrite": False,
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["access_key"],
        aws_secret_access_key=CREDENTIALS["secret_key"],
    )
    for bucket in ("greenlight-media", "greenlight-archive"):
        client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "bucket_name": "greenlight-media"},
        },
        "archive": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {**options, "bucket_name": "greenlight-archive"},
        },
    }
    yield client
    for bucket in ("greenlight-media", "greenlight-archive"):
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


def test_ingest_archive_and_play_from_s3(s3_storage, media_files, client, tmp_path):
    # A file with moov at the end, so ingest must remux it and upload the result.
    with media_files.moov_at_end.open("rb") as fh:
        name = default_storage.save("jobs/1/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING, file=name, poster="", sha256="", duration_s=None
    )
    clip.job.request = {"duration_s": 2, "aspect_ratio": "16:9", "resolution": "720p"}
    clip.job.save()

    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    assert clip.status == Clip.Status.READY, clip.error
    assert clip.file.name.startswith(f"clips/{clip.uuid}/")
    local = tmp_path / "from-s3.mp4"
    with default_storage.open(clip.file.name, "rb") as src, local.open("wb") as dst:
        shutil.copyfileobj(src, dst)
    assert hashlib.sha256(local.read_bytes()).hexdigest() == clip.sha256
    assert default_storage.exists(clip.poster.name)
    # 640x360 against a 720p request, and the test tone is quieter than -14 LUFS ±2: findings,
    # not failures.
    assert [f["code"] for f in clip.qc] == ["resolution", "loudness"]
    # The analysis files went to the bucket too, and the thumbnails track names its cues
    # relative to the app's own sprite URL, not a presigned one that would expire.
    for name in (clip.sprite.name, clip.thumbnails.name, clip.waveform.name):
        assert name.startswith(f"clips/{clip.uuid}/")
        assert default_storage.exists(name)
    with default_storage.open(clip.thumbnails.name, "rb") as fh:
        assert b"sprite.jpg#xywh=0,0,160,90" in fh.read()

    record = services.clip_archive(clip_id=clip.pk, provenance={"schema": "test"})
    archived = s3_storage.get_object(Bucket="greenlight-archive", Key=record.video_path)
    assert hashlib.sha256(archived["Body"].read()).hexdigest() == clip.sha256
    sidecar = json.loads(
        s3_storage.get_object(Bucket="greenlight-archive", Key=record.sidecar_path)["Body"].read()
    )
    assert sidecar["clip"]["sha256"] == clip.sha256
    assert storages["archive"].exists(record.video_path)

    member = MembershipFactory(campaign=clip.variant.brief.campaign, role=Membership.Role.REVIEWER)
    client.force_login(member.user)
    response = client.get(reverse("assets:clip_video", args=[clip.uuid]))
    assert response.status_code == 302
    presigned = response["Location"]
    assert "Signature" in presigned or "X-Amz-Signature" in presigned
    ranged = httpx.get(presigned, headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206
    assert ranged.content == local.read_bytes()[:100]

    # The sprite redirects to a presigned URL; the track is served by the app itself.
    sprite = client.get(clip.sprite_url)
    assert sprite.status_code == 302
    assert httpx.get(sprite["Location"]).content[:3] == b"\xff\xd8\xff"
    track = client.get(clip.thumbnails_url)
    assert track.status_code == 200 and track.content.startswith(b"WEBVTT")


def test_reanalyse_on_s3_swaps_the_objects(
    s3_storage, media_files, django_capture_on_commit_callbacks
):
    with media_files.faststart.open("rb") as fh:
        name = default_storage.save("jobs/2/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING, file=name, poster="", sha256="", duration_s=None
    )
    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    old = clip.derived_names()

    with django_capture_on_commit_callbacks(execute=True):
        services.clip_reanalyse(clip_id=clip.pk)

    clip.refresh_from_db()
    keys = {
        obj["Key"]
        for obj in s3_storage.list_objects_v2(Bucket="greenlight-media").get("Contents", [])
    }
    assert keys == {clip.file.name, *clip.derived_names()}
    assert keys.isdisjoint(old)
