"""In-process providers for unit tests: scripted answers on contract v2, no HTTP.

The HTTP fakes that speak each hosted provider's real protocol live in `tests/fakes/`; these
stand in where a test is about the driver, not about a protocol.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from generation import providers
from generation.providers.base import (
    CancelOutcome,
    GenerationRequest,
    Provider,
    RemoteState,
    ResultReport,
    StatusReport,
    Submission,
)
from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register


def register_spec(provider: str, model: str, usd_per_second: str) -> ModelSpec:
    """Register a permissive model spec for a test provider (3–15 s, every format)."""
    return register(
        ModelSpec(
            provider=provider,
            model=model,
            label=model,
            modes=frozenset({Mode.TEXT, Mode.IMAGE}),
            durations=tuple(range(1, 61)),
            resolutions=("720p", "1080p"),
            aspect_ratios=("16:9", "9:16", "1:1"),
            audio=Audio.OPTIONAL,
            prices=(Price(Decimal(usd_per_second), source="test", as_of=date(2026, 11, 24)),),
        )
    )


def install(monkeypatch, *classes: type[Provider]) -> None:
    """Make `classes` (beside the animatic) the provider registry for one test."""
    from generation.providers.animatic import AnimaticProvider

    registry = {cls.name: cls for cls in (AnimaticProvider, *classes)}
    monkeypatch.setattr(providers, "provider_classes", lambda: registry)


register_spec("fake", "fake-1", "0.5")


class ScriptedProvider(Provider):
    """A scriptable provider; a test takes a fresh subclass from the `fake_provider` fixture."""

    name = "fake"
    label = "Fake"
    poll_interval_s = 2.0

    submit_calls: list
    cancel_calls: list
    submit_error: Exception | None = None
    status_report: StatusReport = StatusReport(state=RemoteState.RUNNING, progress=0.5)
    result_report: ResultReport | None = None
    result_url: str = ""
    cancel_outcome: CancelOutcome = CancelOutcome.CANCELED
    # Called inside submit after the request "reached" the provider (for race tests).
    during_submit = None

    def submit(
        self, request: GenerationRequest, *, idempotency_key: str, webhook_url: str | None = None
    ) -> Submission:
        type(self).submit_calls.append((request, idempotency_key))
        if self.during_submit is not None:
            type(self).during_submit()
        if self.submit_error is not None:
            raise self.submit_error
        return Submission(request_id=f"fake-{len(self.submit_calls)}")

    def status(self, submission: Submission) -> StatusReport:
        return self.status_report

    def result(self, submission: Submission) -> ResultReport:
        return self.result_report or ResultReport(url=self.result_url)

    def cancel(self, submission: Submission) -> CancelOutcome:
        type(self).cancel_calls.append(submission.request_id)
        return self.cancel_outcome
