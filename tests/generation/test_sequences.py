"""Cuts of multi-shot briefs: assembling a cell's approved shots into one clip.

The parts are real media made here with ffmpeg; the join runs through the real driver
(`job_drive`, in this process) and the cut through the real ingest.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse

from assets.models import Clip
from assets.services import clip_ingest
from generation import jobs, sequences
from generation.models import GenerationJob, Membership, SequencePart, Variant
from generation.providers.sequence import join_parts, probe_part
from generation.services import PermissionDenied, job_create
from review.models import Review
from tests.factories import (
    BriefFactory,
    JobFactory,
    MembershipFactory,
    ReviewFactory,
    UserFactory,
    VariantFactory,
)

pytestmark = pytest.mark.django_db

CELL = "c0ffee"


def ffmpeg_clip(
    path: Path,
    *,
    size: str = "640x360",
    rate: int = 25,
    duration: float = 2.0,
    sample_rate: int | None = 48000,
    tone: int = 440,
) -> Path:
    """An H.264/AAC MP4 with a test picture and a tone (or no sound with sample_rate=None)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={duration}"]
    maps = ["-map", "0:v"]
    if sample_rate:
        args += ["-f", "lavfi", "-i", f"sine=frequency={tone}:sample_rate={sample_rate}"]
        args += ["-t", str(duration)]
        maps += ["-map", "1:a", "-c:a", "aac", "-ac", "2"]
    subprocess.run(
        [
            "ffmpeg", "-nostdin", "-v", "error", "-y", *args, *maps,
            "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
            "-movflags", "+faststart", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


def stream_seconds(path: Path) -> dict[str, float]:
    """Duration of each stream type, from ffprobe."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-of", "json", str(path)],
        capture_output=True,
        check=True,
    ).stdout
    return {s["codec_type"]: float(s["duration"]) for s in json.loads(out)["streams"]}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shot(brief, number: int, *, media: Path, review_status=Review.Status.APPROVED, attempt=1):
    """A shot variant of the test cell with a ready clip of `media` and a review."""
    variant = Variant.objects.filter(brief=brief, shot_index=number).first()
    if variant is None:
        variant = VariantFactory(
            brief=brief,
            position=number,
            cell_key=f"{CELL}-{number}",
            shot_index=number,
            seed=77,
            duration_s=2,
            shots=f"Shot text {number}",
            prompt=f"A bottle\nShot {number} of 2: Shot text {number}",
        )
    job = JobFactory(variant=variant, attempt=attempt, succeeded=True)
    name = default_storage.save(f"clips/shot-{number}-v{attempt}/video.mp4", media.open("rb"))
    info = probe_part(media, number=number)
    clip = Clip.objects.create(
        job=job,
        variant=variant,
        version=attempt,
        status=Clip.Status.READY,
        file=name,
        duration_s=info.duration_s,
        width=info.width,
        height=info.height,
        has_audio=info.audio is not None,
        sha256=_sha256(media),
        size_bytes=media.stat().st_size,
    )
    ReviewFactory(clip=clip, status=review_status)
    return job


@pytest.fixture
def people():
    brief = BriefFactory(multi_shot=True, shots="Shot text 1\nShot text 2")
    creator = MembershipFactory(campaign=brief.campaign, role=Membership.Role.CREATOR).user
    approver = MembershipFactory(campaign=brief.campaign, role=Membership.Role.APPROVER).user
    return brief, creator, approver


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, tuple, dict]]:
    """Tasks queued, with their options (the queue), instead of going to the broker."""
    from celery.app.task import Task

    calls: list[tuple[str, tuple, dict]] = []
    monkeypatch.setattr(Task, "delay", lambda self, *a, **kw: calls.append((self.name, a, {})))
    monkeypatch.setattr(
        Task,
        "apply_async",
        lambda self, args=None, kwargs=None, **options: calls.append(
            (self.name, tuple(args or ()), options)
        ),
    )
    return calls


def _drive_and_ingest(job: GenerationJob) -> GenerationJob:
    jobs.job_drive(job_id=job.pk, token="", owner="test")
    job.refresh_from_db()
    if job.status == GenerationJob.Status.SUCCEEDED:
        clip_ingest(clip_id=job.clip.pk)
        job.refresh_from_db()
    return job


# --- refusing -------------------------------------------------------------------------------


def test_assembly_is_refused_until_every_shot_is_approved_naming_which(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"), review_status=Review.Status.IN_REVIEW)

    with pytest.raises(sequences.CutRefused, match=r"shot 2: v1 is in review") as refused:
        sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)
    assert "shot 1" not in str(refused.value)
    assert not Variant.objects.filter(is_cut=True).exists()
    assert not GenerationJob.objects.filter(provider="sequence").exists() and sent == []


def test_a_shot_whose_new_version_is_generating_is_not_approved(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    second = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    JobFactory(variant=second.variant, attempt=2)  # v2 queued: the latest is not approved

    with pytest.raises(sequences.CutRefused, match=r"shot 2: v2 is being generated"):
        sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)


def test_only_creators_assemble(people, tmp_path, sent):
    brief, _, approver = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    with pytest.raises(PermissionDenied):
        sequences.cut_assemble(brief=brief, cell_key=CELL, user=approver)
    with pytest.raises(PermissionDenied):
        sequences.cut_assemble(brief=brief, cell_key=CELL, user=UserFactory())
    assert not GenerationJob.objects.filter(provider="sequence").exists()


# --- assembling -----------------------------------------------------------------------------


def test_assembly_records_the_parts_in_order_and_joins_in_the_media_queue(
    people, tmp_path, sent, django_capture_on_commit_callbacks
):
    brief, creator, _ = people
    one = shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    two = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4", tone=660))

    with django_capture_on_commit_callbacks(execute=True):
        made = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)

    assert made.created
    job = made.job
    cut = job.variant
    assert cut.is_cut and cut.cell_key == CELL and cut.shot_index is None
    assert "cut" in cut.label and "shot" not in cut.label
    assert (job.provider, job.attempt, job.cost_estimate_usd) == ("sequence", 1, 0)
    parts = list(SequencePart.objects.filter(cut=job).order_by("position"))
    assert [(p.position, p.shot_id) for p in parts] == [(1, one.pk), (2, two.pk)]
    recorded = job.request["sequence"]["parts"]
    assert [p["clip"] for p in recorded] == [str(one.clip.uuid), str(two.clip.uuid)]
    assert job.request["duration_s"] == pytest.approx(4.0, abs=0.05)
    # The join is never run in the request: one message to the worker's media queue.
    assert sent == [("generation.tasks.drive_job", (job.pk, ""), {"queue": "media"})]


def test_a_double_assembly_makes_one_cut(
    people, tmp_path, sent, django_capture_on_commit_callbacks
):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))

    with django_capture_on_commit_callbacks(execute=True):
        first = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)
        again = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)

    assert first.created and not again.created and again.job == first.job
    assert GenerationJob.objects.filter(provider="sequence").count() == 1
    assert len(sent) == 1


def test_a_new_shot_version_makes_a_new_cut_version_and_the_old_cut_keeps_its_parts(
    people, tmp_path, sent
):
    brief, creator, _ = people
    one = shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    two = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    first = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job
    first = _drive_and_ingest(first)
    assert first.clip.status == Clip.Status.READY
    # Assembling again with the same shot versions makes nothing new.
    assert not sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).created

    newer = shot(brief, 2, media=ffmpeg_clip(tmp_path / "c.mp4", tone=880), attempt=2)
    second = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator)

    assert second.created and second.job.attempt == 2 and second.job.variant == first.variant
    assert [p.shot_id for p in first.sequence_parts.order_by("position")] == [one.pk, two.pk]
    assert [p.shot_id for p in second.job.sequence_parts.order_by("position")] == [
        one.pk,
        newer.pk,
    ]
    assert Variant.objects.filter(is_cut=True).count() == 1


def test_a_cut_is_never_generated_from_a_prompt(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    cut = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job.variant
    GenerationJob.objects.filter(variant=cut).update(status="failed")

    from generation.providers.base import RequestRejected

    with pytest.raises(RequestRejected, match="assemble it again"):
        job_create(variant=cut, requested_by=creator)
    from generation.services import BriefNotReady, localize_check

    with pytest.raises(BriefNotReady, match="a cut has no language versions"):
        localize_check(job=cut.jobs.get())


# --- joining: stream copy, re-encode, failure -------------------------------------------------


def test_matching_parts_are_joined_by_stream_copy(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4", duration=2.0))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4", duration=3.0, tone=660))
    job = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job

    job = _drive_and_ingest(job)

    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    assert job.result["raw"]["join"]["mode"] == "copy"
    clip = job.clip
    assert clip.status == Clip.Status.READY
    assert (clip.width, clip.height) == (640, 360)
    frame = 1 / 25
    assert clip.duration_s == pytest.approx(5.0, abs=frame * 1 + 0.03)
    seconds = stream_seconds(Path(default_storage.path(clip.file.name)))
    assert seconds["audio"] == pytest.approx(seconds["video"], abs=0.05)
    assert not [f for f in clip.qc if f["code"] in ("duration", "audio_missing")]
    # Ingested like any clip: analysed, a poster, and open for review at the first stage.
    assert clip.poster.name and clip.sprite.name and clip.loudness_lufs is not None
    assert clip.review.status == Review.Status.PENDING
    assert clip.review.stage.position == 1


def test_parts_that_differ_are_re_encoded_to_the_first_parts_spec_in_sync(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4", duration=2.0))
    # Another size, frame rate and sample rate: no stream copy can join these.
    shot(
        brief,
        2,
        media=ffmpeg_clip(
            tmp_path / "b.mp4", size="320x240", rate=30, duration=1.5, sample_rate=44100
        ),
    )
    job = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job

    job = _drive_and_ingest(job)

    assert job.status == GenerationJob.Status.SUCCEEDED, job.error
    join = job.result["raw"]["join"]
    assert join["mode"] == "reencode"
    assert any("width is 320" in d for d in join["differences"])
    clip = job.clip
    assert (clip.width, clip.height, clip.fps) == (640, 360, 25)
    assert clip.duration_s == pytest.approx(3.5, abs=2 / 25)  # ±1 frame per join, and rounding
    path = Path(default_storage.path(clip.file.name))
    seconds = stream_seconds(path)
    assert seconds["audio"] == pytest.approx(seconds["video"], abs=0.05)
    assert probe_part(path, number=1).audio["sample_rate"] == "48000"


def test_sound_stays_at_each_parts_place_after_a_re_encode(tmp_path):
    """A silent part in the middle is filled with silence of its own length, so the third
    part's tone starts where its picture starts."""
    a = ffmpeg_clip(tmp_path / "a.mp4", duration=1.0, tone=440)
    b = ffmpeg_clip(tmp_path / "b.mp4", duration=1.0, sample_rate=None, size="320x240")
    c = ffmpeg_clip(tmp_path / "c.mp4", duration=1.0, tone=880)
    out = tmp_path / "cut.mp4"

    report = join_parts(parts=[a, b, c], out=out)

    assert report.mode == "reencode"
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-ac", "1", "-ar", "8000", "-f", "s16le", "-"],
        capture_output=True,
        check=True,
    ).stdout
    import array

    samples = array.array("h", pcm)

    def loud(start: float, end: float) -> float:
        chunk = samples[int(start * 8000) : int(end * 8000)]
        return max(abs(s) for s in chunk)

    assert loud(0.2, 0.8) > 1000  # the first tone
    assert loud(1.1, 1.9) < 50  # the silent part stays silent
    assert loud(2.2, 2.8) > 1000  # the third part's tone, in its place


def test_a_missing_part_fails_the_cut_with_a_reason_and_leaves_nothing(people, tmp_path, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    two = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    job = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job
    default_storage.delete(two.clip.file.name)
    media_before = _files(Path(default_storage.location))

    job = _drive_and_ingest(job)

    assert job.status == GenerationJob.Status.FAILED
    assert "shot 2" in job.error and "missing from storage" in job.error
    assert job.error_code == "part_missing"
    assert not hasattr(job, "clip") or not Clip.objects.filter(job=job).exists()
    assert _files(Path(default_storage.location)) == media_before
    work = Path(default_storage.location).parent / "provider" / "sequence"
    assert not [p for p in work.glob("*") if p.suffix in (".mp4", ".part")]


def test_a_part_whose_file_changed_since_approval_fails_the_cut(people, tmp_path, sent):
    brief, creator, _ = people
    one = shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    job = sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job
    with default_storage.open(one.clip.file.name, "ab") as fh:
        fh.write(b"tampered")

    job = _drive_and_ingest(job)

    assert job.status == GenerationJob.Status.FAILED
    assert "no longer matches its approved checksum" in job.error


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


# --- the pages ------------------------------------------------------------------------------


def test_brief_page_offers_assembly_only_when_every_shot_is_approved(people, tmp_path, client):
    brief, creator, approver = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    second = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"), review_status="pending")
    client.force_login(creator)

    page = client.get(brief.get_absolute_url()).content.decode()
    assert 'data-testid="cut-cell"' in page and "v1 is pending" in page
    assert 'data-testid="assemble-cut"' not in page

    Review.objects.filter(clip=second.clip).update(status=Review.Status.APPROVED)
    page = client.get(brief.get_absolute_url()).content.decode()
    assert 'data-testid="assemble-cut"' in page
    client.force_login(approver)
    assert 'data-testid="assemble-cut"' not in client.get(brief.get_absolute_url()).content.decode()


def test_assemble_view_double_post_makes_one_cut_and_says_so(people, tmp_path, client, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    client.force_login(creator)
    url = reverse("generation:cut_assemble", args=[brief.pk, CELL])

    first = client.post(url)
    second = client.post(url, headers={"HX-Request": "true"})

    assert first.status_code == 302 and first["Location"].endswith("#cuts")
    assert second.status_code == 200 and b"<html" not in second.content
    assert b"already being assembled" in second.content
    assert GenerationJob.objects.filter(provider="sequence").count() == 1
    # The panel polls while the cut is being made.
    assert b"every 2s" in second.content


def test_assemble_view_refuses_with_the_reason(people, tmp_path, client, sent):
    brief, creator, _ = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"), review_status="changes_requested")
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    client.force_login(creator)

    response = client.post(reverse("generation:cut_assemble", args=[brief.pk, CELL]), follow=True)

    assert b"shot 1: v1 is changes requested" in response.content
    assert not GenerationJob.objects.filter(provider="sequence").exists()


def test_assemble_view_permissions(people, tmp_path, client, sent):
    brief, _, approver = people
    shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    url = reverse("generation:cut_assemble", args=[brief.pk, CELL])

    client.force_login(approver)
    assert client.post(url).status_code == 403
    client.force_login(UserFactory())
    assert client.post(url).status_code == 404  # not a member: the brief does not exist
    client.logout()
    assert client.post(url).status_code == 302  # to the login page
    client.force_login(approver)
    assert client.get(url).status_code == 405
    assert not GenerationJob.objects.filter(provider="sequence").exists()


def test_clip_page_lists_the_cuts_shots_in_order(people, tmp_path, client, sent):
    brief, creator, _ = people
    one = shot(brief, 1, media=ffmpeg_clip(tmp_path / "a.mp4"))
    two = shot(brief, 2, media=ffmpeg_clip(tmp_path / "b.mp4"))
    job = _drive_and_ingest(sequences.cut_assemble(brief=brief, cell_key=CELL, user=creator).job)
    client.force_login(creator)

    page = client.get(job.clip.get_absolute_url()).content.decode()

    assert 'data-testid="cut-parts"' in page
    first = page.index(one.clip.get_absolute_url())
    second = page.index(two.clip.get_absolute_url())
    assert first < second
    assert "Shot 1" in page and "Shot 2" in page and "stream copy" in page
    # A shot's own page shows no parts.
    assert 'data-testid="cut-parts"' not in client.get(one.clip.get_absolute_url()).content.decode()


def test_brief_form_never_offers_the_join_as_a_model(people, client):
    from generation.forms import BriefForm, model_choices

    keys = [key for _group, options in model_choices() for key, _label in options]
    assert keys and not [k for k in keys if k.startswith("sequence:")]
    form = BriefForm(data={"model": "sequence:concat-v1"})
    assert not form.is_valid() and "model" in form.errors
