"""The whole path through a real Celery worker and real ffmpeg: brief → clips → review →
archive. The suite runs it twice: on SQLite + the filesystem broker and on PostgreSQL + Redis.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.core.files.storage import default_storage, storages
from django.test import Client
from django.urls import reverse

from assets.models import ArchiveRecord, Clip
from generation.models import AuditEvent, Brief, GenerationJob, Membership
from review.models import Review
from tests.factories import (
    CampaignFactory,
    MembershipFactory,
    UserFactory,
    brief_form_data,
    launch_brief,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_brief_to_archived_clip_through_a_real_worker(celery_worker):
    campaign = CampaignFactory(slug="launch")
    creator = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    outsider = UserFactory()

    response = launch_brief(_login(creator), brief_form_data(script="Fresh and bright."), "launch")
    assert response.status_code == 302, response.content[:2000]
    brief = Brief.objects.get(title="Launch teaser")

    def all_ready():
        clips = list(Clip.objects.filter(variant__brief=brief))
        return len(clips) == 2 and all(c.status == Clip.Status.READY for c in clips) and clips

    clips = celery_worker.wait_for("both clips to be ready", all_ready)
    assert set(GenerationJob.objects.values_list("status", flat=True)) == {"succeeded"}
    for clip in clips:
        with default_storage.open(clip.file.name, "rb") as fh:
            assert hashlib.sha256(fh.read()).hexdigest() == clip.sha256
        assert clip.has_audio and clip.audio_codec == "aac" and clip.video_codec == "h264"
        # The animatic delivers spoken clips at -14 LUFS: nothing is off, QC passes.
        assert clip.qc == []
        assert -16 <= clip.loudness_lufs <= -12 and clip.true_peak_dbtp <= -1
        assert Review.objects.get(clip=clip).status == Review.Status.PENDING
    wide = next(c for c in clips if c.variant.aspect_ratio == "16:9")
    tall = next(c for c in clips if c.variant.aspect_ratio == "9:16")
    assert (wide.width, wide.height) == (1280, 720)
    assert (tall.width, tall.height) == (720, 1280)

    # The brief page stops polling once every variant is done.
    partial = _login(creator).get(brief.get_absolute_url(), headers={"HX-Request": "true"})
    assert partial.status_code == 286

    reviewer = _login(approver)
    ranged = reviewer.get(wide.video_url, headers={"Range": "bytes=100-199"})
    assert ranged.status_code == 206
    assert len(b"".join(ranged.streaming_content)) == 100
    assert _login(outsider).get(wide.video_url).status_code == 404

    panel = reviewer.post(
        reverse("review:clip_decide", args=[wide.uuid]),
        {"outcome": "approve", "note": "", "step": wide.review.steps.get().pk},
        headers={"HX-Request": "true"},
    )
    assert panel.status_code == 200
    assert b'id="decision-panel"' in panel.content and b"<html" not in panel.content
    refused = reviewer.post(
        reverse("review:clip_decide", args=[tall.uuid]),
        {"outcome": "reject", "note": "", "step": tall.review.steps.get().pk},
        headers={"HX-Request": "true"},
    )
    assert b"needs a reason" in refused.content
    reviewer.post(
        reverse("review:clip_decide", args=[tall.uuid]),
        {
            "outcome": "reject",
            "note": "Logo is cropped in the vertical cut.",
            "step": tall.review.steps.get().pk,
        },
    )

    def archived():
        review = Review.objects.get(clip=wide)
        return review.status == Review.Status.ARCHIVED and review

    celery_worker.wait_for("the approved clip to be archived", archived, timeout=60)
    assert Review.objects.get(clip=tall).status == Review.Status.REJECTED
    assert not ArchiveRecord.objects.filter(clip=tall).exists()

    record = ArchiveRecord.objects.get(clip=wide)
    archive = storages["archive"]
    with archive.open(record.video_path, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == record.sha256 == wide.sha256
    with archive.open(record.sidecar_path, "rb") as fh:
        sidecar = json.load(fh)
    assert sidecar["clip"]["sha256"] == wide.sha256
    assert sidecar["generation"]["provider"] == "animatic"
    assert sidecar["generation"]["model"] == "animatic-v1"
    assert sidecar["variant"]["aspect_ratio"] == "16:9"
    assert [(d["user"], d["outcome"]) for d in sidecar["decisions"]] == [
        (approver.username, "approve")
    ]
    assert record.archived_by == approver

    # The rejected variant comes back as version 2, with the note, and starts review again.
    _login(creator).post(
        reverse("generation:variant_regenerate", args=[tall.variant_id]),
        {"notes": "Logo is cropped in the vertical cut."},
    )

    def second_version():
        clip = Clip.objects.filter(variant=tall.variant, version=2, status="ready").first()
        return clip and Review.objects.filter(clip=clip).exists() and clip

    v2 = celery_worker.wait_for("version 2 of the rejected variant", second_version)
    assert v2.job.notes == "Logo is cropped in the vertical cut."
    assert v2.review.status == Review.Status.PENDING and v2.review.stage.position == 1
    assert Review.objects.get(clip=tall).status == Review.Status.REJECTED

    archive_page = reviewer.get(reverse("assets:archive_list"))
    assert wide.sha256[:10].encode() in archive_page.content
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"brief.create", "job.submitted", "job.succeeded", "clip.ready", "review.approve",
            "review.archive", "clip.archive"} <= actions  # fmt: skip
