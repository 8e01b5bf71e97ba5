"""What Greenlight's own providers share: they make the file on this machine, inside `submit`.

The animatic (a rendered preview) and the sequence provider (a cut joined from approved shots)
differ only in how they make the MP4. Everything around it lives here: the request id derived
from the idempotency key (a repeated submit finds the finished file instead of making it
again), the files under `GREENLIGHT_PROVIDER_WORK_DIR / <name>` (`<id>.mp4`, the `<id>.json`
sidecar, `<id>.error` when making it failed), status, result, cancel and the file:// download,
and the guarded run of ffmpeg and friends.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings

from generation.providers.base import (
    CancelOutcome,
    GenerationRequest,
    Provider,
    ProviderError,
    RemoteState,
    ResultReport,
    StatusReport,
    Submission,
    TransientError,
)

_REQUEST_ID = re.compile(r"[0-9a-f]{32}")
_STDERR_TAIL = 1500


def request_id_for(idempotency_key: str) -> str:
    """The request id a key always maps to, so a repeated submit finds the first one."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader sees the old file or the whole new one."""
    part = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        part.write_text(text, encoding="utf-8")
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


def _libc_prctl():
    with contextlib.suppress(OSError, AttributeError):
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl
    return None


# Looked up once here: the child runs `_die_with_parent` between fork and exec while another
# thread (the lease heartbeat) may hold the import lock, so it must import nothing.
_PRCTL = _libc_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # A worker killed with SIGKILL cannot clean up after itself; the kernel then kills its
    # ffmpeg and espeak-ng children instead of leaving them running without an owner.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


def run_tool(args: list[str], *, tool: str, timeout: float, step: str) -> None:
    """Run a media tool to completion, its output captured.

    Raises ProviderError `missing_binary` when it is not installed, `<step>_failed` when it
    refuses (it will refuse again), TransientError `timeout` or `<step>_killed` (a signal: OOM,
    shutdown) when trying again may succeed.
    """
    if shutil.which(args[0]) is None:
        raise ProviderError(
            f"{tool} is not installed (looked for {args[0]!r} on PATH)", code="missing_binary"
        )
    try:
        # run() kills the child on any exception, a Celery soft time limit included.
        completed = subprocess.run(
            args,
            capture_output=True,
            timeout=timeout,
            check=False,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - it only calls prctl(2)
        )
    except FileNotFoundError as exc:
        raise ProviderError(f"{tool} is not installed: {exc}", code="missing_binary") from exc
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"{tool} took longer than {timeout:.0f} s", code="timeout") from exc
    if completed.returncode != 0:
        tail = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_TAIL:]
        message = f"{tool} exited with status {completed.returncode}: {tail}"
        if completed.returncode < 0:
            raise TransientError(message, code=f"{step}_killed")
        raise ProviderError(message, code=f"{step}_failed")


class LocalProvider(Provider):
    """A provider that makes its MP4 synchronously in `submit`; free, so a stored request id
    is always final. Subclasses name themselves and implement `make`."""

    local = True
    poll_interval_s = 0.0
    idempotent_submit = True
    # How a failure reads in status reports and messages.
    failure_code = "render_failed"
    noun = "request"

    def validate(self, request: GenerationRequest) -> None:
        """Refuse (RequestRejected) what this provider cannot make, before anything is kept."""

    def make(self, request: GenerationRequest, *, idempotency_key: str, paths: dict) -> None:
        """Write `paths["mp4"]` (atomically) and the `paths["json"]` sidecar; raise
        ProviderError when it cannot be made."""
        raise NotImplementedError

    def result_raw(self, sidecar: dict[str, Any], mp4: Path) -> dict[str, Any]:
        """What `result` reports as the provider's raw answer."""
        return {"path": str(mp4), "bytes": mp4.stat().st_size}

    def estimate_cost(self, request: GenerationRequest) -> Decimal:
        return Decimal(0)

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        """Make the file now and return its submission.

        The request id is derived from the idempotency key: a repeated submit of a finished
        request returns it without making it again; one interrupted midway makes it again (the
        dead run's partial file is removed first). A failure also leaves `<id>.error` behind.
        """
        self.validate(request)
        request_id = request_id_for(idempotency_key)
        paths = self._paths(request_id)
        submission = Submission(request_id=request_id)
        if paths["mp4"].exists():
            return submission
        directory = self._directory()
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob(f".{request_id}.mp4.*.part"):
            stale.unlink(missing_ok=True)
        paths["error"].unlink(missing_ok=True)
        try:
            self.make(request, idempotency_key=idempotency_key, paths=paths)
        except ProviderError as exc:
            write_atomic(paths["error"], str(exc))
            raise
        return submission

    def lookup(self, *, idempotency_key: str) -> Submission | None:
        """The finished request for this key, or None (nothing made under it)."""
        request_id = request_id_for(idempotency_key)
        return (
            Submission(request_id=request_id) if self._paths(request_id)["mp4"].exists() else None
        )

    def status(self, submission: Submission) -> StatusReport:
        """Report COMPLETED or FAILED; an unknown or malformed id is ProviderError `not_found`."""
        paths = self._paths(submission.request_id)
        if paths["mp4"].exists():
            return StatusReport(state=RemoteState.COMPLETED, progress=1.0)
        if paths["error"].exists():
            return StatusReport(
                state=RemoteState.FAILED,
                error=paths["error"].read_text(encoding="utf-8"),
                error_code=self.failure_code,
            )
        raise ProviderError(f"no {self.noun} {submission.request_id!r}", code="not_found")

    def result(self, submission: Submission) -> ResultReport:
        """Return the finished file as a file:// URL; ProviderError `not_found` if absent."""
        paths = self._paths(submission.request_id)
        if not paths["mp4"].exists():
            raise ProviderError(
                f"no finished {self.noun} {submission.request_id!r}", code="not_found"
            )
        sidecar: dict[str, Any] = {}
        # The sidecar is informational; a file without it is still a finished file.
        with contextlib.suppress(OSError, ValueError):
            sidecar = json.loads(paths["json"].read_text(encoding="utf-8"))
        return ResultReport(
            url=paths["mp4"].resolve().as_uri(),
            content_type="video/mp4",
            seed=sidecar.get("seed"),
            cost_usd=Decimal(0),
            usage={"duration_s": sidecar.get("duration_s")},
            raw=self.result_raw(sidecar, paths["mp4"]),
        )

    def cancel(self, submission: Submission) -> CancelOutcome:
        """Delete the request's files: making them cost nothing, so there is no result to
        keep. NOT_FOUND when nothing was there."""
        removed = False
        for path in self._paths(submission.request_id).values():
            if path.exists():
                path.unlink(missing_ok=True)
                removed = True
        return CancelOutcome.CANCELED if removed else CancelOutcome.NOT_FOUND

    def download(
        self, result: ResultReport, target: Path, *, max_bytes: int, deadline_s: float
    ) -> int:
        """Copy the finished file; only file:// URLs inside this provider's own folder."""
        from generation.providers.download import copy_local

        return copy_local(result.url, target, root=self._directory(), max_bytes=max_bytes)

    def _directory(self) -> Path:
        return Path(settings.GREENLIGHT_PROVIDER_WORK_DIR) / self.name

    def _paths(self, request_id: str) -> dict[str, Path]:
        # Ids are only ever our own hex digests; anything else could walk out of the directory.
        if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            raise ProviderError(f"malformed {self.noun} id {request_id!r}", code="not_found")
        directory = self._directory()
        return {ext: directory / f"{request_id}.{ext}" for ext in ("mp4", "json", "error")}
