"""0002 fills `qc_flags` from the findings clips already carried."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)


def test_0002_fills_qc_flags_from_existing_findings() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate([("assets", "0001_initial")])
    old_apps = executor.loader.project_state([("assets", "0001_initial")]).apps
    OldClip = old_apps.get_model("assets", "Clip")
    from tests.factories import JobFactory

    job = JobFactory(succeeded=True)
    OldClip.objects.create(
        job_id=job.pk,
        variant_id=job.variant_id,
        version=1,
        status="ready",
        file="clips/x/video.mp4",
        sha256="a" * 64,
        qc=[{"code": "duration", "severity": "warning", "message": "runs 3s"}],
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from assets.models import Clip

    assert Clip.objects.get(job_id=job.pk).qc_flags == {"duration": "warning"}
