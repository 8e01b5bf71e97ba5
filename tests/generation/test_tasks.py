"""Task-level retry policy: waits grow while a provider stays unwell and honour Retry-After."""

from __future__ import annotations

import pytest

from generation import tasks
from generation.models import GenerationJob
from generation.providers.base import RateLimited, TransientError
from tests.factories import JobFactory
from tests.generation.test_services import fake_provider  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


class Retried(Exception):
    pass


@pytest.fixture
def retries(monkeypatch):
    """Run poll_job in-process at a given retry count, recording the countdown it asks for."""
    asked: list[float] = []

    def fake_retry(*, exc, countdown):
        asked.append(countdown)
        return Retried()

    monkeypatch.setattr(tasks.poll_job, "retry", fake_retry)

    def run(job_id: int, *, attempt: int) -> None:
        tasks.poll_job.push_request(retries=attempt)
        try:
            with pytest.raises(Retried):
                tasks.poll_job(job_id)
        finally:
            tasks.poll_job.pop_request()

    run.asked = asked
    return run


def _failing_job(fake_provider, error):  # noqa: F811
    def status(self, request_id):
        raise error

    fake_provider.status = status
    return JobFactory(
        provider="fake", status=GenerationJob.Status.SUBMITTED, provider_request_id="fake-1"
    )


def test_poll_waits_longer_each_time_the_provider_fails(fake_provider, retries):  # noqa: F811
    job = _failing_job(fake_provider, TransientError("502 from the provider"))
    for attempt in (0, 1, 3, 20):
        retries(job.pk, attempt=attempt)
    assert retries.asked == [2.0, 4.0, 16.0, 300.0]
    assert GenerationJob.objects.get(pk=job.pk).status == GenerationJob.Status.SUBMITTED


def test_poll_honours_retry_after(fake_provider, retries):  # noqa: F811
    job = _failing_job(fake_provider, RateLimited("slow down", retry_after=42))
    retries(job.pk, attempt=5)
    assert retries.asked == [42.0]
