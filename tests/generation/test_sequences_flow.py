"""End to end through the real services, in this process: a multi-shot brief's animatic shots
are rendered, ingested and approved; the cut is assembled, joined, ingested, reviewed at the
campaign's first stage, approved and archived with its parts in the sidecar."""

from __future__ import annotations

import json

import pytest
from django.core.files.storage import storages

from assets.models import Clip
from assets.services import clip_ingest
from generation import jobs, sequences
from generation.models import GenerationJob, Membership, Variant
from review import services as review_services
from review.models import Review
from tests.factories import CampaignFactory, MembershipFactory, launch_shot_brief

pytestmark = pytest.mark.django_db


def _run(job: GenerationJob) -> Clip:
    jobs.job_drive(job_id=job.pk, token="", owner="test")
    job.refresh_from_db()
    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    clip_ingest(clip_id=job.clip.pk)
    return Clip.objects.select_related("review").get(pk=job.clip.pk)


def _approve(clip: Clip, approver) -> Review:
    review = clip.review
    while review.is_open:
        step = review_services.open_step(review=review)
        review_services.review_approve(review_id=review.pk, user=approver, step_id=step.pk)
        review.refresh_from_db()
    return review


def test_approved_shots_become_a_cut_that_is_reviewed_and_archived(no_enqueue) -> None:
    campaign = CampaignFactory(name="Launch")
    creator = MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user
    approver = MembershipFactory(campaign=campaign, role=Membership.Role.APPROVER).user
    brief = launch_shot_brief(
        campaign=campaign, creator=creator, title="Morning", shots=["Wake", "Pour"]
    )
    shots = list(brief.variants.order_by("shot_index"))
    assert [v.shot_index for v in shots] == [1, 2]

    first = _run(shots[0].jobs.get())
    _approve(first, approver)
    second = _run(shots[1].jobs.get())
    (cell,) = sequences.brief_cells(brief=brief)
    assert [s.approved for s in cell.shots] == [True, False]
    with pytest.raises(sequences.CutRefused, match="shot 2: v1 is pending"):
        sequences.cut_assemble(brief=brief, cell_key=cell.key, user=creator)
    _approve(second, approver)

    made = sequences.cut_assemble(brief=brief, cell_key=cell.key, user=creator)
    cut = _run(made.job)

    # Two animatic renders of one cell share their streams: joined without re-encoding.
    assert made.job.result["raw"]["join"]["mode"] == "copy"
    assert cut.status == Clip.Status.READY
    assert cut.duration_s == pytest.approx(first.duration_s + second.duration_s, abs=0.045)
    assert cut.has_audio and cut.qc == [], cut.qc
    review = cut.review
    assert review.status == Review.Status.PENDING
    assert review.stage == review_services.campaign_stages(campaign=campaign)[0]
    assert Variant.objects.get(pk=cut.variant_id).is_cut

    _approve(cut, approver)
    archived = review_services.review_archive(review_id=review.pk)
    assert archived.status == Review.Status.ARCHIVED
    record = cut.archive_record
    with storages["archive"].open(record.sidecar_path, "rb") as fh:
        sidecar = json.load(fh)
    parts = sidecar["sequence"]["parts"]
    assert [(p["position"], p["shot"], p["clip"]) for p in parts] == [
        (1, 1, str(first.uuid)),
        (2, 2, str(second.uuid)),
    ]
    assert [p["sha256"] for p in parts] == [first.sha256, second.sha256]
    assert sidecar["sequence"]["join"] == "copy"
    assert sidecar["generation"]["provider"] == "sequence"
    assert record.provenance["sequence"] == sidecar["sequence"]
