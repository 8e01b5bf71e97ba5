"""The processes `make run` starts: every queue a task is routed to has a worker."""

from __future__ import annotations

import shlex
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]


def _workers() -> dict[str, list[str]]:
    found = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        words = shlex.split(command)
        if words and words[0].endswith("celery") and "worker" in words:
            found[name.strip()] = words
    return found


def _queues(words: list[str]) -> set[str]:
    if "-Q" not in words:
        return set(settings.GREENLIGHT_QUEUES)
    return set(words[words.index("-Q") + 1].split(","))


def test_every_queue_has_a_worker_and_media_work_has_its_own() -> None:
    workers = _workers()
    consumed = set().union(*(_queues(words) for words in workers.values()))
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed <= set(settings.GREENLIGHT_QUEUES)
    assert consumed == set(settings.GREENLIGHT_QUEUES)
    # Ingest runs beside the provider lanes, never in them: an ffmpeg analysis must not hold
    # up a poll or a submit.
    assert _queues(workers["media"]) == {"media"}
    assert "media" not in _queues(workers["worker"])
    # Two workers on one host need their own node names.
    names = [words[words.index("-n") + 1] for words in workers.values()]
    assert len(set(names)) == len(names)
