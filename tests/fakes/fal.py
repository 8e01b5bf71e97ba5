"""fal's queue protocol on loopback (PROVIDERS.md §1), with Ed25519-signed webhooks and a JWKS.

Routes: POST /{model id}[?fal_webhook=] submit; GET /{owner}/{app}/requests/{id}/status
(202 IN_QUEUE{queue_position} → 202 IN_PROGRESS{logs} → 200 COMPLETED{logs, metrics} or
COMPLETED{error, error_type}); GET /{owner}/{app}/requests/{id} result (200 output, 422
`detail[]` for a failed one, 400 while not done); PUT …/cancel (202 CANCELLATION_REQUESTED
while queued or running, 400 ALREADY_COMPLETED, 404 NOT_FOUND); GET /.well-known/jwks.json.
Requests without `Authorization: Key …` get 401.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.fakes.base import CANCELED, DONE, QUEUED, RUNNING, Call, FakeProvider, Job, Reply
from tests.fakes.base import json_body as _json

USER_ID = "fal-user-greenlight"
_REQUEST = re.compile(r"^/(?P<app>[^/]+/[^/]+)/requests/(?P<id>[^/]+)(?P<rest>/status|/cancel)?$")

CONTENT_POLICY = {
    "detail": [
        {
            "loc": ["body", "prompt"],
            "msg": "The prompt was flagged by the content checker.",
            "type": "content_policy_violation",
            "url": "https://docs.fal.ai/errors#content_policy_violation",
            "categories": ["violence"],
        }
    ]
}
MODEL_ERROR = {
    "detail": [{"loc": ["body", "image_url"], "msg": "image is too small", "type": "value_error"}]
}


class FalFake(FakeProvider):
    name = "fal"

    def __init__(self, *, video: bytes) -> None:
        super().__init__(video=video)
        self.private_key = Ed25519PrivateKey.generate()
        self.user_id = USER_ID

    @property
    def jwks_url(self) -> str:
        return f"{self.origin}/.well-known/jwks.json"

    def jwks(self) -> dict:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fake-1"}]}

    def route_name(self, call: Call) -> str:
        match = _REQUEST.match(call.path)
        if call.path == "/.well-known/jwks.json":
            return "jwks"
        if match is None:
            return "submit"
        return {"/status": "status", "/cancel": "cancel"}.get(match["rest"] or "", "result")

    def _urls(self, job: Job) -> dict[str, str]:
        app = "/".join(job.model.split("/")[:2])
        base = f"{self.origin}/{app}/requests/{job.id}"
        return {
            "response_url": base,
            "status_url": f"{base}/status",
            "cancel_url": f"{base}/cancel",
        }

    def handle(self, call: Call) -> Reply:
        route = self.route_name(call)
        if route == "jwks":
            return Reply(200, self.jwks())
        if not call.headers.get("authorization", "").startswith("Key "):
            return Reply(401, {"detail": "No credentials"})
        if route == "submit":
            body = _json(call)
            if not isinstance(body, dict):
                return Reply(422, {"detail": [{"loc": ["body"], "msg": "not a JSON object"}]})
            if not body.get("prompt") and "image_url" not in body:
                return Reply(
                    422, {"detail": [{"loc": ["body", "prompt"], "msg": "field required"}]}
                )
            webhook = (call.query.get("fal_webhook") or [""])[0]
            job = self.new_job(model=call.path.strip("/"), input=body, webhook=webhook)
            return Reply(
                200,
                {
                    "status": "IN_QUEUE",
                    "request_id": job.id,
                    "gateway_request_id": job.id,
                    "queue_position": 0,
                    **self._urls(job),
                },
            )
        match = _REQUEST.match(call.path)
        job = self.jobs.get(match["id"])
        if (
            job is None
            or not job.model.startswith(match["app"] + "/")
            and job.model != match["app"]
        ):
            return Reply(404, {"detail": "Request not found"})
        if route == "status":
            return self._status(job)
        if route == "cancel":
            return self._cancel(job)
        return self._result(job)

    def _status(self, job: Job) -> Reply:
        seen = self.observe(job)
        logs = [{"message": "generating", "level": "INFO", "source": "user", "timestamp": "t"}]
        response_url = self._urls(job)["response_url"]
        if seen == QUEUED:
            return Reply(
                202, {"status": "IN_QUEUE", "queue_position": 0, "response_url": response_url}
            )
        if seen == RUNNING:
            return Reply(202, {"status": "IN_PROGRESS", "logs": logs, "response_url": response_url})
        body = {"status": "COMPLETED", "logs": logs, "metrics": {}, "response_url": response_url}
        if seen == CANCELED:
            body.update(error="Request was cancelled", error_type="request_cancelled")
        elif job.outcome != "ok":
            body.update(error="Invalid status code: 422", error_type="validation_error")
        else:
            body["metrics"] = {"inference_time": 1.5}
        return Reply(200, body)

    def _result(self, job: Job) -> Reply:
        if job.state != DONE:
            return Reply(400, {"detail": "Request is still in progress"})
        if job.outcome == "content_policy":
            return Reply(422, CONTENT_POLICY, {"X-Fal-Retryable": "false"})
        if job.outcome == "error":
            return Reply(422, MODEL_ERROR)
        return Reply(200, self.output(job))

    def output(self, job: Job) -> dict:
        return {
            "video": {
                "url": self.media_url(job),
                "content_type": "video/mp4",
                "file_name": f"{job.id}.mp4",
                "file_size": len(self.video),
            },
            "seed": 42,
        }

    def _cancel(self, job: Job) -> Reply:
        with self.lock:
            if job.state in (DONE, CANCELED):
                return Reply(400, {"status": "ALREADY_COMPLETED"})
            job.state = CANCELED
        return Reply(202, {"status": "CANCELLATION_REQUESTED"})

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_body(self, job: Job) -> bytes:
        if job.outcome == "ok":
            body = {
                "request_id": job.id,
                "gateway_request_id": job.id,
                "status": "OK",
                "payload": self.output(job),
            }
        else:
            body = {
                "request_id": job.id,
                "gateway_request_id": job.id,
                "status": "ERROR",
                "error": "Invalid status code: 422",
                "payload": CONTENT_POLICY if job.outcome == "content_policy" else MODEL_ERROR,
            }
        return json.dumps(body).encode()

    def sign(self, job: Job, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
        return self.signed_headers(job.id, body, timestamp=timestamp)

    def signed_headers(
        self, request_id: str, body: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        sent = str(int(time.time()) if timestamp is None else timestamp)
        # Written out here, not imported from the adapter, so the fake checks the adapter.
        digest = hashlib.sha256(body).hexdigest()
        message = f"{request_id}\n{self.user_id}\n{sent}\n{digest}".encode()
        return {
            "X-Fal-Webhook-Request-Id": request_id,
            "X-Fal-Webhook-User-Id": self.user_id,
            "X-Fal-Webhook-Timestamp": sent,
            "X-Fal-Webhook-Signature": self.private_key.sign(message).hex(),
        }
