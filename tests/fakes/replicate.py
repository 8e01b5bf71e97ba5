"""Replicate's predictions API on loopback (PROVIDERS.md §3), under /v1.

POST /v1/predictions (with `version`) and POST /v1/models/{owner}/{name}/predictions create;
GET /v1/predictions/{id}; POST /v1/predictions/{id}/cancel; GET /v1/predictions lists newest
first, two to a page, with a `next` cursor URL. Statuses starting → processing → succeeded |
failed; `Prefer: wait` is accepted and changes nothing (the prediction is returned as it
stands). Errors are problem JSON. Webhooks are signed Standard Webhooks style with a
`whsec_` secret, one delivery per event in `webhook_events_filter` (start, completed).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime

from tests.fakes.base import CANCELED, DONE, QUEUED, RUNNING, Call, FakeProvider, Job, Reply
from tests.fakes.base import json_body as _json

SECRET = "whsec_" + base64.b64encode(b"replicate-fake-signing-key-32byt").decode()
_PREDICTION = re.compile(r"^/v1/predictions/(?P<id>[^/]+)(?P<cancel>/cancel)?$")
_MODEL = re.compile(r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions$")
PAGE = 2
THROTTLED = Reply(
    429,
    {"detail": "Request was throttled. Your rate limit resets in ~30s.", "status": 429},
    {"Retry-After": "30"},
)


def _problem(status: int, title: str, detail: str) -> Reply:
    return Reply(
        status, {"type": "about:blank", "title": title, "detail": detail, "status": status}
    )


def _iso(ts: float | None) -> str | None:
    return (
        None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    )


class ReplicateFake(FakeProvider):
    name = "replicate"

    def __init__(self, *, video: bytes) -> None:
        super().__init__(video=video)
        self.secret = SECRET
        self.list_shows_webhooks = True

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def route_name(self, call: Call) -> str:
        if call.method == "POST" and (call.path == "/v1/predictions" or _MODEL.match(call.path)):
            return "submit"
        if call.path == "/v1/predictions":
            return "list"
        match = _PREDICTION.match(call.path)
        if match is None:
            return "other"
        return "cancel" if match["cancel"] else "status"

    def handle(self, call: Call) -> Reply:
        if not call.headers.get("authorization", "").startswith("Bearer "):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        route = self.route_name(call)
        if route == "submit":
            return self._create(call)
        if route == "list":
            return self._list(call)
        if route == "other":
            return _problem(404, "Not found", "no such endpoint")
        job = self.jobs.get(_PREDICTION.match(call.path)["id"])
        if job is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if route == "cancel":
            with self.lock:
                if job.state in (QUEUED, RUNNING):
                    job.state = CANCELED
                    job.extra["completed_at"] = time.time()
            return Reply(200, self.prediction(job))
        data = self.prediction(job)  # as this poll sees it; the poll then moves it on
        self.observe(job)
        return Reply(200, data)

    def _create(self, call: Call) -> Reply:
        body = _json(call)
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return _problem(422, "Input validation failed", "- input: input is required")
        model_match = _MODEL.match(call.path)
        if model_match:
            model = f"{model_match['owner']}/{model_match['name']}"
            version = "latest-" + hashlib.sha256(model.encode()).hexdigest()[:16]
        elif isinstance(body.get("version"), str):
            version = body["version"].split(":")[-1]
            model = body["version"].split(":")[0] if ":" in body["version"] else "owner/model"
        else:
            return _problem(422, "Invalid version", "version is required")
        if not body["input"].get("prompt"):
            return _problem(422, "Input validation failed", "- input.prompt: prompt is required")
        job = self.new_job(model=model, input=body["input"], webhook=body.get("webhook") or "")
        job.extra.update(
            version=version,
            filter=body.get("webhook_events_filter") or ["start", "output", "logs", "completed"],
        )
        return Reply(201, self.prediction(job))

    def prediction(self, job: Job, *, with_webhook: bool = True) -> dict:
        status = {QUEUED: "starting", RUNNING: "processing", CANCELED: "canceled"}.get(job.state)
        output = error = None
        if job.state == DONE:
            if job.outcome == "ok":
                status, output = "succeeded", self.media_url(job)
            else:
                status = "failed"
                error = (
                    "NSFW content detected. Try running it again, or try a different prompt."
                    if job.outcome == "content_policy"
                    else "CUDA out of memory"
                )
        data = {
            "id": job.id,
            "model": job.model,
            "version": job.extra.get("version", ""),
            "status": status,
            "input": job.input,
            "output": output,
            "error": error,
            "logs": "starting\ngenerating frames" if job.state != QUEUED else "",
            "metrics": {"predict_time": 12.5} if job.state == DONE else {},
            "created_at": _iso(job.created),
            "started_at": _iso(job.created) if job.state != QUEUED else None,
            "completed_at": _iso(job.extra.get("completed_at")),
            "urls": {
                "get": f"{self.base_url}/predictions/{job.id}",
                "cancel": f"{self.base_url}/predictions/{job.id}/cancel",
                "stream": f"{self.origin}/stream/{job.id}",
            },
        }
        if with_webhook:
            data["webhook"] = job.webhook or None
            data["webhook_events_filter"] = job.extra.get("filter")
        return data

    def _list(self, call: Call) -> Reply:
        newest = sorted(self.jobs.values(), key=lambda j: j.created, reverse=True)
        start = int((call.query.get("cursor") or ["0"])[0])
        page = newest[start : start + PAGE]
        more = start + PAGE < len(newest)
        return Reply(
            200,
            {
                "results": [
                    self.prediction(j, with_webhook=self.list_shows_webhooks) for j in page
                ],
                "next": f"{self.base_url}/predictions?cursor={start + PAGE}" if more else None,
                "previous": None,
            },
        )

    def finish(self, job: Job) -> None:
        with self.lock:
            if job.state in (DONE, CANCELED):
                return
            job.state = DONE
            job.extra["completed_at"] = time.time()
        if job.webhook and "completed" in job.extra.get("filter", ["completed"]):
            self.deliver(job)

    def webhook_body(self, job: Job) -> bytes:
        return json.dumps(self.prediction(job)).encode()

    def sign(
        self, job: Job, body: bytes, *, timestamp: int | None = None, webhook_id: str = ""
    ) -> dict:
        webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
        sent = str(int(time.time()) if timestamp is None else timestamp)
        # Written out here (Standard Webhooks), not imported from the adapter.
        key = base64.b64decode(self.secret.split("_", 1)[1])
        digest = hmac.new(key, f"{webhook_id}.{sent}.".encode() + body, hashlib.sha256).digest()
        return {
            "webhook-id": webhook_id,
            "webhook-timestamp": sent,
            "webhook-signature": f"v1,{base64.b64encode(b'x' * 32).decode()} v1,"
            + base64.b64encode(digest).decode(),
        }
