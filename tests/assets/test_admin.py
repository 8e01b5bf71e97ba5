"""The clip admin's "re-analyse" action: new derived files replace the old ones, a clip that
cannot be analysed is reported and keeps what it had."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.urls import reverse

from assets import services
from assets.models import Clip
from assets.tasks import reanalyse_clip
from generation.models import AuditEvent
from tests.factories import ClipFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]


def _ingested(path: Path) -> Clip:
    with path.open("rb") as fh:
        name = default_storage.save("jobs/admin/video.mp4", File(fh))
    clip = ClipFactory(
        status=Clip.Status.PROCESSING,
        file=name,
        poster="",
        sha256="",
        job__request={"duration_s": 4, "aspect_ratio": "16:9", "audio": True},
    )
    services.clip_ingest(clip_id=clip.pk)
    clip.refresh_from_db()
    return clip


def _stored_names() -> list[str]:
    root = Path(default_storage.location)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_reanalyse_action_replaces_the_derived_files(
    client, qc_media, django_capture_on_commit_callbacks, no_enqueue
) -> None:
    clip = _ingested(qc_media.clean)
    old = clip.derived_names()
    failed = ClipFactory(status=Clip.Status.FAILED, sha256="")
    admin_user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin_user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:assets_clip_changelist"),
            {"action": "reanalyse", "_selected_action": [clip.pk, failed.pk]},
            follow=True,
        )

    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert f"clip {failed.uuid} is failed, not ready" in shown
    assert (
        "Queued 1 clip(s) for re-analysis; the worker replaces their derived files and QC "
        "in a moment." in shown
    )
    # The decode runs in the worker (media queue), not in the admin's request.
    assert no_enqueue == [("assets.tasks.reanalyse_clip", (clip.pk, admin_user.pk))]
    assert clip.derived_names() == old
    # The old files are deleted on commit, after the clip points at the new ones.
    with django_capture_on_commit_callbacks(execute=True):
        reanalyse_clip(clip.pk, admin_user.pk)
    clip.refresh_from_db()
    new = clip.derived_names()
    assert len(new) == 4 and set(new).isdisjoint(old)
    # The old files are gone, the new ones are all there is beside the video.
    assert _stored_names() == sorted([clip.file.name, *new])
    event = AuditEvent.objects.get(action="clip.reanalyse")
    assert event.actor == admin_user


def test_clip_changelist_shows_loudness_and_qc(client, qc_media) -> None:
    clip = _ingested(qc_media.loud)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get(reverse("admin:assets_clip_changelist"))

    assert response.status_code == 200
    content = response.content.decode()
    assert "loudness, true_peak" in content
    assert str(clip.uuid) in content


def test_a_reanalysis_that_cannot_run_is_recorded_for_ops() -> None:
    clip = ClipFactory(status=Clip.Status.FAILED, sha256="")
    actor = UserFactory(is_staff=True)

    reanalyse_clip(clip.pk, actor.pk)

    event = AuditEvent.objects.get(action="clip.reanalyse_failed")
    assert (event.actor, event.data["reason"]) == (actor, f"clip {clip.uuid} is failed, not ready")
