"""The baseline's task for bench/fanout.py: a no-op that counts itself in Redis.

Loaded into the bench's worker with `--include bench.fanout_tasks`; nothing else imports it.
"""

from __future__ import annotations

import os

import redis
from celery import shared_task

COUNTER = "greenlight:bench:noop"
_client: redis.Redis | None = None


def counter() -> redis.Redis:
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    return _client


@shared_task(name="bench.noop", ignore_result=True)
def noop() -> None:
    """Do nothing but count, so the bench knows when every chain has run to its end."""
    counter().incr(COUNTER)
