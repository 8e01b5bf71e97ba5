"""What each provider's models can do and what they cost: the one capability registry.

Forms offer only what the chosen model supports, services refuse a request a model cannot serve
before anything is sent (`ModelSpec.problems`), and estimates come from the prices here. Each
price carries its source and the date it was read, because provider prices move.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from generation.providers.base import GenerationRequest, RequestRejected


class Mode:
    TEXT = "text"  # text-to-video
    IMAGE = "image"  # image-to-video (one first frame)
    REFERENCE = "reference"  # reference-to-video (several subject images)


class Audio:
    ALWAYS = "always"  # the model always generates sound
    OPTIONAL = "optional"  # a request field turns it on or off
    NONE = "none"  # silent video only


@dataclass(frozen=True)
class Price:
    """USD per second of output; `resolution`/`audio` None means "any"."""

    usd_per_second: Decimal
    source: str
    as_of: date
    resolution: str | None = None
    audio: bool | None = None

    def applies(self, *, resolution: str, audio: bool) -> bool:
        return (self.resolution in (None, resolution)) and (self.audio in (None, audio))


@dataclass(frozen=True)
class ModelSpec:
    provider: str
    model: str
    label: str
    modes: frozenset[str]
    durations: tuple[int, ...]
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    audio: str
    prices: tuple[Price, ...]
    # None: the model takes any language the script is written in.
    languages: tuple[str, ...] | None = None
    max_reference_images: int = 0
    min_image_side: int = 0
    # Width over height a reference image may have; 0 means no limit on that side.
    min_image_aspect: float = 0.0
    max_image_aspect: float = 0.0
    # Provider-specific field names and value shapes live in each adapter; notes for people.
    notes: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.provider, self.model)

    def price_per_second(self, *, resolution: str, audio: bool) -> Decimal:
        """The first price that applies (most specific first in `prices`); 0 when none do."""
        for price in self.prices:
            if price.applies(resolution=resolution, audio=audio):
                return price.usd_per_second
        return Decimal(0)

    def cost(self, *, duration_s: int, resolution: str, audio: bool) -> Decimal:
        per_second = self.price_per_second(resolution=resolution, audio=audio)
        return (per_second * Decimal(int(duration_s))).quantize(Decimal("0.0001"))

    def problems(self, request: GenerationRequest) -> list[str]:
        """Every limit of this model that `request` breaks, each naming the limit."""
        found = []
        if request.duration_s not in self.durations:
            found.append(
                f"{self.label} makes clips of {_span(self.durations)} seconds, "
                f"not {request.duration_s}"
            )
        if request.resolution not in self.resolutions:
            found.append(
                f"{self.label} renders {', '.join(self.resolutions)}, not {request.resolution}"
            )
        if request.aspect_ratio not in self.aspect_ratios:
            found.append(
                f"{self.label} supports aspect ratios {', '.join(self.aspect_ratios)}, "
                f"not {request.aspect_ratio}"
            )
        if self.languages is not None and request.language not in self.languages:
            found.append(f"{self.label} speaks {', '.join(self.languages)}, not {request.language}")
        if request.image_url and not self.modes & {Mode.IMAGE, Mode.REFERENCE}:
            found.append(f"{self.label} does not take a reference image")
        if not request.image_url and Mode.TEXT not in self.modes:
            found.append(f"{self.label} needs a reference image")
        return found

    def check(self, request: GenerationRequest) -> None:
        """Raise RequestRejected naming every limit the request breaks."""
        found = self.problems(request)
        if found:
            raise RequestRejected("; ".join(found), code="unsupported_request")


def _span(values: tuple[int, ...]) -> str:
    ordered = sorted(values)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(v) for v in ordered)


_REGISTRY: dict[tuple[str, str], ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (provider modules call this at import)."""
    _REGISTRY[spec.key] = spec
    return spec


def _load() -> None:
    # Importing the provider registry imports every provider module, which registers its models.
    from generation.providers import provider_classes

    provider_classes()


def models_for(provider: str) -> list[ModelSpec]:
    """Every registered model of one provider, in registration order."""
    _load()
    return [spec for spec in _REGISTRY.values() if spec.provider == provider]


def all_models() -> list[ModelSpec]:
    _load()
    return list(_REGISTRY.values())


def spec_for(provider: str, model: str) -> ModelSpec:
    """The spec of one model; RequestRejected `unknown_model` naming what is offered."""
    _load()
    try:
        return _REGISTRY[(provider, model)]
    except KeyError:
        offered = ", ".join(s.model for s in _REGISTRY.values() if s.provider == provider)
        raise RequestRejected(
            f"{provider} has no model {model!r}; it offers: {offered or 'none'}",
            code="unknown_model",
        ) from None
