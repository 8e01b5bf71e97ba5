"""Expand a brief's axes of variation into variants, and fill its prompt templates."""

from __future__ import annotations

import itertools
import string
from dataclasses import dataclass

LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("de", "German"),
    ("it", "Italian"),
    ("pt-BR", "Portuguese (Brazil)"),
    ("ja", "Japanese"),
)
ASPECT_RATIOS = (("16:9", "16:9 landscape"), ("9:16", "9:16 vertical"), ("1:1", "1:1 square"))
RESOLUTIONS = (("720p", "720p"), ("1080p", "1080p"))
MIN_DURATION_S, MAX_DURATION_S = 3, 15
TEMPLATE_FIELDS = ("hook", "language", "aspect_ratio", "duration", "title", "campaign")
MAX_VARIANTS = 48


class TemplateError(ValueError):
    """A template names a field Greenlight does not fill, or is not well formed."""


class MatrixError(ValueError):
    """The axes are empty or multiply out to more variants than one brief may hold."""


@dataclass(frozen=True)
class VariantSpec:
    position: int
    hook: str
    aspect_ratio: str
    duration_s: int
    language: str
    resolution: str
    prompt: str
    script: str


def template_check(template: str) -> None:
    """Raise TemplateError if `template` uses a field outside TEMPLATE_FIELDS or bad braces."""
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(f"the template's braces do not match: {exc}") from None
    for _literal, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            allowed = ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS)
            raise TemplateError(f"unknown field {{{field}}}; use {allowed}")
        if spec or conversion:
            raise TemplateError(f"field {{{field}}} may not carry a format or conversion")


def template_render(template: str, values: dict[str, str]) -> str:
    """Fill a checked template; literal `{{` and `}}` become single braces."""
    template_check(template)
    return template.format_map(values).strip()


def matrix_count(*, hooks: list[str], aspect_ratios: list, durations: list, languages: list) -> int:
    """How many variants these axes make; no hooks counts as one empty hook."""
    return max(1, len(hooks)) * len(aspect_ratios) * len(durations) * len(languages)


def matrix_expand(
    *,
    title: str,
    campaign: str,
    prompt: str,
    script: str,
    hooks: list[str],
    aspect_ratios: list[str],
    durations: list[int],
    languages: list[str],
    resolution: str,
) -> list[VariantSpec]:
    """Return one VariantSpec per combination of hook × aspect × duration × language."""
    axes = {"aspect ratio": aspect_ratios, "duration": durations, "language": languages}
    for name, values in axes.items():
        if not values:
            raise MatrixError(f"choose at least one {name}")
    hook_axis = hooks or [""]
    count = matrix_count(
        hooks=hooks, aspect_ratios=aspect_ratios, durations=durations, languages=languages
    )
    if count > MAX_VARIANTS:
        raise MatrixError(
            f"these axes make {count} variants; one brief may hold at most {MAX_VARIANTS}"
        )
    specs = []
    combos = itertools.product(hook_axis, aspect_ratios, durations, languages)
    for position, (hook, aspect, duration, language) in enumerate(combos, start=1):
        values = {
            "hook": hook,
            "language": language,
            "aspect_ratio": aspect,
            "duration": str(duration),
            "title": title,
            "campaign": campaign,
        }
        specs.append(
            VariantSpec(
                position=position,
                hook=hook,
                aspect_ratio=aspect,
                duration_s=int(duration),
                language=language,
                resolution=resolution,
                prompt=template_render(prompt, values),
                script=template_render(script, values) if script else "",
            )
        )
    return specs
