"""What every provider fake shares: a real HTTP server on 127.0.0.1, jobs, faults, media.

A fake runs in a daemon thread of the test process, so a Celery worker subprocess reaches it
by its port like any host. Each fake counts accepted submissions (`submissions`), records every
call (`calls`), and can be told to:

- answer the next call to a route with an error once (`fail_next`: 429 with or without
  Retry-After, 5xx, 422, a garbled body);
- hold a submit after counting it (`submit_delay_s`), so a test can kill the client mid-call;
- move each job through its states one poll at a time (default), or finish it at submit
  (`instant`), or finish it after `complete_after_s` seconds and deliver its webhook;
- end a job with a scripted outcome (a "[content_policy]" or "[error]" marker in its input,
  else `next_outcomes`, else `outcome`): "ok", "error", "content_policy";
- serve the result file under /media/, answering 404 once `expire_media` was called or
  `media_ttl_s` passed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

QUEUED, RUNNING, DONE, CANCELED = "queued", "running", "done", "canceled"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON; bytes → as is; None → empty
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> tuple[bytes, str]:
        if self.body is None:
            return b"", "application/json"
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        return json.dumps(self.body).encode(), "application/json"


@dataclass
class Job:
    id: str
    model: str
    input: dict[str, Any]
    outcome: str = "ok"
    state: str = QUEUED
    polls: int = 0
    webhook: str = ""
    created: float = field(default_factory=time.time)
    media_expired: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Delivery:
    url: str
    headers: dict[str, str]
    body: bytes
    status: int | None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (the lost-answer tests) is expected; anything else shows.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeProvider:
    """Subclasses implement `handle(call) -> Reply` and the webhook signature if any."""

    name = "fake"

    def __init__(self, *, video: bytes) -> None:
        self.video = video
        self.lock = threading.RLock()
        self.jobs: dict[str, Job] = {}
        self.calls: list[Call] = []
        self.deliveries: list[Delivery] = []
        self.submissions = 0
        self.connections = 0  # TCP connections accepted, to see whether clients keep them alive
        self.faults: list[tuple[str, Reply]] = []
        self.submit_delay_s = 0.0
        self.instant = False
        self.complete_after_s: float | None = None
        self.outcome = "ok"
        self.next_outcomes: list[str] = []
        self.media_ttl_s: float | None = None
        self.polls_per_state = 1
        self.send_webhooks = True
        self._server = _Server(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._timers: list[threading.Timer] = []

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._server.shutdown()
        self._server.server_close()

    # -- scripting ------------------------------------------------------------------------------

    def fail_next(self, route: str, reply: Reply, *, times: int = 1) -> None:
        """Answer the next `times` calls whose route name is `route` with `reply`."""
        with self.lock:
            self.faults.extend((route, reply) for _ in range(times))

    def expire_media(self, job_id: str) -> None:
        with self.lock:
            self.jobs[job_id].media_expired = True

    def calls_to(self, method: str, fragment: str = "") -> list[Call]:
        return [c for c in self.calls if c.method == method and fragment in c.path]

    def only_job(self) -> Job:
        (job,) = self.jobs.values()
        return job

    # -- job helpers for subclasses ---------------------------------------------------------------

    def new_job(self, *, model: str, input: dict[str, Any], webhook: str = "") -> Job:
        """Count a submission and make its job (outcome scripted, maybe finished at once)."""
        with self.lock:
            self.submissions += 1
            outcome = self.next_outcomes.pop(0) if self.next_outcomes else self.outcome
            # A prompt can script its own outcome ("[content_policy]", "[error]"), which a
            # test driving several jobs through a worker cannot do by submit order.
            for marker in ("content_policy", "error"):
                if f"[{marker}]" in json.dumps(input):
                    outcome = marker
            job = Job(
                id=str(uuid.uuid4()), model=model, input=input, outcome=outcome, webhook=webhook
            )
            self.jobs[job.id] = job
        if self.submit_delay_s:
            time.sleep(self.submit_delay_s)
        if self.instant:
            self.finish(job)
        elif self.complete_after_s is not None:
            timer = threading.Timer(self.complete_after_s, self.finish, args=(job,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()
        return job

    def observe(self, job: Job) -> str:
        """The state a status poll sees, then move the job on by one poll."""
        with self.lock:
            seen = job.state
            if job.state in (QUEUED, RUNNING):
                job.polls += 1
                if job.polls >= self.polls_per_state:
                    job.polls = 0
                    if job.state == QUEUED:
                        job.state = RUNNING
                    else:
                        self.finish(job)
            return seen

    def finish(self, job: Job) -> None:
        with self.lock:
            if job.state in (DONE, CANCELED):
                return
            job.state = DONE
        if job.webhook and self.send_webhooks:
            self.deliver(job)

    def media_url(self, job: Job) -> str:
        return f"{self.origin}/media/{job.id}.mp4"

    # -- webhooks -------------------------------------------------------------------------------

    def webhook_body(self, job: Job) -> bytes:
        raise NotImplementedError

    def sign(self, job: Job, body: bytes) -> dict[str, str]:
        return {}

    def deliver(self, job: Job, *, body: bytes | None = None) -> Delivery:
        """POST the job's completion webhook now (signed); record and return the delivery."""
        body = self.webhook_body(job) if body is None else body
        headers = {"Content-Type": "application/json", **self.sign(job, body)}
        try:
            status = httpx.post(job.webhook, content=body, headers=headers, timeout=30).status_code
        except httpx.HTTPError:
            status = None
        delivery = Delivery(url=job.webhook, headers=headers, body=body, status=status)
        with self.lock:
            self.deliveries.append(delivery)
        return delivery

    # -- HTTP -----------------------------------------------------------------------------------

    def route_name(self, call: Call) -> str:
        """A short name for the route a call hits ("submit", "status", …), for `fail_next`."""
        raise NotImplementedError

    def handle(self, call: Call) -> Reply:
        raise NotImplementedError

    def _dispatch(self, call: Call) -> Reply:
        if call.method == "GET" and call.path.startswith("/media/"):
            return self._media(call.path.removeprefix("/media/").removesuffix(".mp4"))
        with self.lock:
            self.calls.append(call)
            route = self.route_name(call)
            for index, (name, reply) in enumerate(self.faults):
                if name == route:
                    del self.faults[index]
                    return reply
        return self.handle(call)

    def _media(self, job_id: str) -> Reply:
        job = self.jobs.get(job_id)
        expired = job is None or job.media_expired or job.state != DONE
        if job is not None and self.media_ttl_s is not None:
            expired = expired or time.time() - job.created > self.media_ttl_s
        if expired:
            return Reply(404, b"expired", {"Content-Type": "text/plain"})
        return Reply(200, self.video, {"Content-Type": "video/mp4"})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # TCP_NODELAY: headers and body go out as two writes, and with Nagle on the body
            # waited for the client's delayed ACK (~40 ms every call on a kept-alive
            # connection), which made the "instant" fake the slowest part of a fan-out bench.
            disable_nagle_algorithm = True

            def setup(self) -> None:
                super().setup()
                with fake.lock:
                    fake.connections += 1

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                call = Call(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    reply = fake._dispatch(call)
                except Exception as exc:  # a bug in a fake must show, not hang the client
                    reply = Reply(599, {"fake_error": repr(exc)})
                payload, content_type = reply.encode()
                self.send_response(reply.status)
                headers = {"Content-Type": content_type, **reply.headers}
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def json_body(call: Call) -> Any:
    """The call's JSON body, or None when it is not JSON."""
    try:
        return json.loads(call.body or b"null")
    except ValueError:
        return None


Factory = Callable[..., FakeProvider]
