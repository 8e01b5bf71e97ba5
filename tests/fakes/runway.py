"""Runway's tasks API on loopback (PROVIDERS.md §4.1), under /v1.

Every call needs `Authorization: Bearer …` (401) and `X-Runway-Version: 2024-11-06` (400).
POST /v1/text_to_video and /v1/image_to_video answer `{"id"}`; GET /v1/tasks/{id} goes PENDING
→ (THROTTLED for `throttled_polls` polls) → RUNNING{progress} → SUCCEEDED{output: [url]} or
FAILED{failure, failureCode} ("content_policy" → SAFETY.INPUT.TEXT); DELETE /v1/tasks/{id}
cancels an unfinished task and deletes a finished one (404 afterwards), answering 204.
"""

from __future__ import annotations

import re
import time

from tests.fakes.base import CANCELED, DONE, QUEUED, RUNNING, Call, FakeProvider, Job, Reply
from tests.fakes.base import json_body as _json

VERSION = "2024-11-06"
MODELS = ("happyhorse_1_0", "veo3.1", "gen4_turbo", "gen4.5", "seedance2")
# What the fake bills: 14 credits a second ($0.14/s at $0.01 a credit).
CREDITS_PER_SECOND = 14
_TASK = re.compile(r"^/v1/tasks/(?P<id>[^/]+)$")
THROTTLED = Reply(
    429,
    {"error": "You have exceeded the rate limit."},
    {"retry-after-ms": "1500", "x-should-retry": "true"},
)


class RunwayFake(FakeProvider):
    name = "runway"

    def __init__(self, *, video: bytes) -> None:
        super().__init__(video=video)
        self.throttled_polls = 0

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def route_name(self, call: Call) -> str:
        if call.method == "POST" and call.path in ("/v1/text_to_video", "/v1/image_to_video"):
            return "submit"
        if _TASK.match(call.path):
            return "cancel" if call.method == "DELETE" else "status"
        return "other"

    def handle(self, call: Call) -> Reply:
        if not call.headers.get("authorization", "").startswith("Bearer "):
            return Reply(401, {"error": "Invalid API key"})
        if call.headers.get("x-runway-version") != VERSION:
            return Reply(400, {"error": "The X-Runway-Version header is required"})
        route = self.route_name(call)
        if route == "submit":
            return self._create(call)
        if route == "other":
            return Reply(404, {"error": "Not found"})
        job = self.jobs.get(_TASK.match(call.path)["id"])
        if job is None or job.extra.get("deleted"):
            return Reply(404, {"error": "Task not found"})
        if route == "cancel":
            with self.lock:
                if job.state in (QUEUED, RUNNING):
                    job.state = CANCELED
                else:
                    job.extra["deleted"] = True
            return Reply(204)
        return self._task(job)

    def _create(self, call: Call) -> Reply:
        body = _json(call)
        if not isinstance(body, dict) or body.get("model") not in MODELS:
            return Reply(
                400, {"error": "Validation of body failed", "issues": [{"path": ["model"]}]}
            )
        image = call.path.endswith("image_to_video")
        if image and not body.get("promptImage"):
            return Reply(400, {"error": "promptImage is required"})
        if not image and not body.get("promptText"):
            return Reply(400, {"error": "promptText is required"})
        job = self.new_job(model=body["model"], input=body)
        job.extra["throttled"] = self.throttled_polls
        return Reply(200, {"id": job.id})

    def _task(self, job: Job) -> Reply:
        created = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(job.created))
        credits = CREDITS_PER_SECOND * int(job.input.get("duration") or 5)
        base = {"id": job.id, "createdAt": created, "estimatedCost": {"credits": credits}}
        final = {"id": job.id, "createdAt": created, "cost": {"credits": credits}}
        refunded = {**final, "cost": {"credits": 0}}
        with self.lock:
            if job.state == QUEUED and job.extra.get("throttled", 0) > 0:
                job.extra["throttled"] -= 1
                return Reply(200, {**base, "status": "THROTTLED"})
        seen = self.observe(job)
        if seen == QUEUED:
            return Reply(200, {**base, "status": "PENDING"})
        if seen == RUNNING:
            return Reply(200, {**base, "status": "RUNNING", "progress": 0.42})
        if seen == CANCELED:
            return Reply(200, {**refunded, "status": "CANCELLED"})
        if job.outcome == "content_policy":
            return Reply(
                200,
                {
                    **refunded,
                    "status": "FAILED",
                    "failure": "Your prompt was flagged by our content moderation.",
                    "failureCode": "SAFETY.INPUT.TEXT",
                },
            )
        if job.outcome == "error":
            return Reply(
                200,
                {
                    **refunded,
                    "status": "FAILED",
                    "failure": "An unexpected error occurred.",
                    "failureCode": "INTERNAL.BAD_OUTPUT.CODE01",
                },
            )
        return Reply(200, {**final, "status": "SUCCEEDED", "output": [self.media_url(job)]})

    def finish(self, job: Job) -> None:
        with self.lock:
            if job.state not in (DONE, CANCELED):
                job.state = DONE
