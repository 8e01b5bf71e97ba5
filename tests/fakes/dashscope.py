"""Model Studio's async task API on loopback (PROVIDERS.md §2), under /api/v1.

POST /api/v1/services/aigc/video-generation/video-synthesis needs `Authorization: Bearer …`
(401 InvalidApiKey) and `X-DashScope-Async: enable` (403 AccessDenied); an unknown model is 404
ModelNotFound, a body without input.prompt 400 InvalidParameter. GET /api/v1/tasks/{id} goes
PENDING → RUNNING → SUCCEEDED (video_url, usage) or FAILED (InvalidParameter, or
DataInspectionFailed for "content_policy"); an unknown id is UNKNOWN. POST …/cancel succeeds
only while PENDING (else 400 UnsupportedOperation).
"""

from __future__ import annotations

import re
import time
import uuid

from tests.fakes.base import CANCELED, DONE, QUEUED, RUNNING, Call, FakeProvider, Job, Reply
from tests.fakes.base import json_body as _json

SUBMIT = "/api/v1/services/aigc/video-generation/video-synthesis"
_TASK = re.compile(r"^/api/v1/tasks/(?P<id>[^/]+)(?P<cancel>/cancel)?/?$")
MODELS = (
    "happyhorse-1.0-t2v",
    "happyhorse-1.0-i2v",
    "happyhorse-1.0-r2v",
    "wan2.6-t2v",
    "wan2.6-i2v",
)
THROTTLED = Reply(
    429,
    {
        "code": "Throttling.RateQuota",
        "message": "Requests rate limit exceeded, please try again later.",
        "request_id": "rq-throttled",
    },
)


def _error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"code": code, "message": message, "request_id": str(uuid.uuid4())})


class DashScopeFake(FakeProvider):
    name = "dashscope"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/api/v1"

    def route_name(self, call: Call) -> str:
        if call.path == SUBMIT:
            return "submit"
        match = _TASK.match(call.path)
        if match is None:
            return "other"
        return "cancel" if match["cancel"] else "status"

    def media_url(self, job: Job) -> str:
        # Signed OSS URLs carry Expires=<unix time>.
        return f"{super().media_url(job)}?Expires={int(job.created) + 86400}&Signature=fake"

    def handle(self, call: Call) -> Reply:
        if not call.headers.get("authorization", "").startswith("Bearer "):
            return _error(401, "InvalidApiKey", "No API-key provided.")
        route = self.route_name(call)
        if route == "submit":
            return self._submit(call)
        if route == "other":
            return _error(404, "NotFound", "no such API")
        job = self.jobs.get(_TASK.match(call.path)["id"])
        if route == "cancel":
            return self._cancel(job)
        return self._status(call, job)

    def _submit(self, call: Call) -> Reply:
        if call.headers.get("x-dashscope-async") != "enable":
            return _error(
                403, "AccessDenied", "current user api does not support synchronous calls"
            )
        body = _json(call)
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return _error(400, "InvalidParameter", "input is required")
        if body.get("model") not in MODELS:
            return _error(404, "ModelNotFound", f"Model not exist: {body.get('model')}")
        if not body["input"].get("prompt") and not body["input"].get("media"):
            return _error(400, "InvalidParameter", "input.prompt is required")
        job = self.new_job(model=body["model"], input=body)
        return Reply(
            200,
            {
                "output": {"task_status": "PENDING", "task_id": job.id},
                "request_id": str(uuid.uuid4()),
            },
        )

    def _status(self, call: Call, job: Job | None) -> Reply:
        request_id = str(uuid.uuid4())
        if job is None:
            task_id = _TASK.match(call.path)["id"]
            return Reply(
                200,
                {
                    "request_id": request_id,
                    "output": {"task_id": task_id, "task_status": "UNKNOWN"},
                },
            )
        seen = self.observe(job)
        output = {
            "task_id": job.id,
            "submit_time": time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime(job.created)),
        }
        if seen == QUEUED:
            output["task_status"] = "PENDING"
        elif seen == RUNNING:
            output["task_status"] = "RUNNING"
        elif seen == CANCELED:
            output["task_status"] = "CANCELED"
        elif job.outcome == "content_policy":
            output.update(
                task_status="FAILED",
                code="DataInspectionFailed",
                message="Output data may contain inappropriate content.",
            )
        elif job.outcome == "error":
            output.update(
                task_status="FAILED", code="InvalidParameter", message="The size is not match"
            )
        else:
            output.update(
                task_status="SUCCEEDED",
                orig_prompt=job.input["input"].get("prompt", ""),
                video_url=self.media_url(job),
            )
            params = job.input.get("parameters", {})
            size = str(params.get("size") or "0*0")
            big = params.get("resolution") == "1080P" or max(map(int, size.split("*"))) >= 1080
            short = 1080 if big else 720
            return Reply(
                200,
                {
                    "request_id": request_id,
                    "output": output,
                    # Usage numbers as numbers, except SR, which one doc shows as a string.
                    "usage": {
                        "duration": params.get("duration", 5),
                        "output_video_duration": params.get("duration", 5),
                        "video_count": 1,
                        "SR": str(short),
                        "ratio": params.get("ratio", "16:9"),
                    },
                },
            )
        return Reply(200, {"request_id": request_id, "output": output})

    def _cancel(self, job: Job | None) -> Reply:
        if job is None:
            return _error(404, "NotFound", "task not found")
        with self.lock:
            if job.state != QUEUED:
                return _error(
                    400,
                    "UnsupportedOperation",
                    "Failed to cancel the task, please confirm if the task is in PENDING status.",
                )
            job.state = CANCELED
        return Reply(200, {"request_id": str(uuid.uuid4())})

    def finish(self, job: Job) -> None:
        with self.lock:
            if job.state not in (DONE, CANCELED):
                job.state = DONE
