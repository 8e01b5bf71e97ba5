"""Expand a brief's axes of variation into variants, and fill its prompt and script templates.

A template is text with slots in braces: `{hook}`, `{scene}`, `{language}`. Slots are plain
names; `{{` and `}}` are literal braces. Attribute access, indexing, conversions and format
specs (`{a.b}`, `{a[0]}`, `{a!r}`, `{a:>9}`) are refused, so a template can never reach into
Python objects the way `str.format` could. Every error names its line and column.

The matrix is the product of the brief's named axes (in the order written) with its aspect
ratios, durations and languages. Each cell has a stable key (a digest of its values), so a
person can untick cells in the preview and the choice still means the same cells later.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace

LANGUAGES = (
    ("en", "English"),
    ("zh", "Mandarin Chinese"),
    ("yue", "Cantonese"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("de", "German"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("it", "Italian"),
    ("pt-BR", "Portuguese (Brazil)"),
)
LANGUAGE_NAMES = dict(LANGUAGES)
ASPECT_RATIOS = (("16:9", "16:9 landscape"), ("9:16", "9:16 vertical"), ("1:1", "1:1 square"))
RESOLUTIONS = (("720p", "720p"), ("1080p", "1080p"))
MIN_DURATION_S, MAX_DURATION_S = 3, 15
BUILTIN_SLOTS = ("language", "aspect_ratio", "duration", "title", "campaign")
# Slots a template may use when no axes are given: the built-ins plus the classic hook axis.
TEMPLATE_FIELDS = ("hook", *BUILTIN_SLOTS)
AXIS_NAME = re.compile(r"[a-z][a-z0-9_]{0,29}")
MAX_AXIS_VALUE_CHARS = 300
# The default per-brief cap; the setting GREENLIGHT_BRIEF_MAX_VARIANTS overrides it.
MAX_VARIANTS = 100
# The most cells a full matrix may list in a preview before any are unticked.
MAX_CELLS = 1000


class TemplateError(ValueError):
    """A template names a slot the brief does not fill, or is not well formed."""

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class MatrixError(ValueError):
    """The axes are empty or multiply out to more variants than one brief may hold."""


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One combination of axis values; `key` names it stably across requests."""

    key: str
    axis_values: tuple[tuple[str, str], ...]
    aspect_ratio: str
    duration_s: int
    language: str

    @property
    def values(self) -> dict[str, str]:
        return dict(self.axis_values)

    @property
    def label(self) -> str:
        parts = [v for _n, v in self.axis_values if v]
        parts += [self.aspect_ratio, f"{self.duration_s}s", self.language]
        return " · ".join(parts)


@dataclass(frozen=True)
class VariantSpec:
    position: int
    key: str
    hook: str
    aspect_ratio: str
    duration_s: int
    language: str
    resolution: str
    prompt: str
    script: str
    axis_values: dict[str, str] = field(default_factory=dict)
    # Multi-shot: the one shot this variant shows, its 1-based number, and the cell it
    # belongs to (the variants of one cell share a seed).
    shots: tuple[str, ...] = ()
    shot_index: int | None = None
    group: str = ""


def _where(template: str, position: int) -> str:
    line = template.count("\n", 0, position) + 1
    column = position - (template.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def template_parse(template: str) -> list[tuple[str, str | None]]:
    """Split a template into (literal, slot) pairs; raise TemplateError with the position.

    Only the syntax is checked here; `template_check` also checks the slot names.
    """
    return [(literal, slot) for literal, slot, _pos in _parse(template)]


def _parse(template: str) -> list[tuple[str, str | None, int]]:
    parts: list[tuple[str, str | None, int]] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        char = template[i]
        if char == "{":
            if i + 1 < n and template[i + 1] == "{":
                literal.append("{")
                i += 2
                continue
            end = i + 1
            while end < n and template[end] not in "{}":
                end += 1
            if end >= n or template[end] == "{":
                raise TemplateError(
                    f"'{{' at {_where(template, i)} is never closed; write '{{{{' for a "
                    "literal brace",
                    position=i,
                )
            name = template[i + 1 : end]
            _check_slot_syntax(name, template=template, position=i)
            parts.append(("".join(literal), name, i))
            literal = []
            i = end + 1
            continue
        if char == "}":
            if i + 1 < n and template[i + 1] == "}":
                literal.append("}")
                i += 2
                continue
            raise TemplateError(
                f"'}}' at {_where(template, i)} closes nothing; write '}}}}' for a literal brace",
                position=i,
            )
        literal.append(char)
        i += 1
    if literal or not parts:
        parts.append(("".join(literal), None, n))
    return parts


def _check_slot_syntax(name: str, *, template: str, position: int) -> None:
    where = _where(template, position)
    stripped = name.strip()
    if not stripped:
        raise TemplateError(f"empty slot '{{}}' at {where}; name a slot", position=position)
    if "." in name:
        raise TemplateError(
            f"'{{{name}}}' at {where} uses attribute access; write a plain slot such as "
            f"'{{{name.split('.')[0].strip()}}}'",
            position=position,
        )
    if "[" in name or "]" in name:
        raise TemplateError(
            f"'{{{name}}}' at {where} uses index access; write a plain slot such as "
            f"'{{{name.split('[')[0].strip()}}}'",
            position=position,
        )
    if "!" in name or ":" in name:
        raise TemplateError(
            f"'{{{name}}}' at {where} carries a conversion or format; write a plain slot",
            position=position,
        )
    if not stripped.isidentifier() or stripped != name:
        raise TemplateError(f"'{{{name}}}' at {where} is not a slot name", position=position)


def template_slots(template: str) -> list[str]:
    """The slot names a template uses, in order of first use."""
    seen: list[str] = []
    for _literal, slot in template_parse(template):
        if slot is not None and slot not in seen:
            seen.append(slot)
    return seen


def template_check(template: str, slots: Iterable[str] | None = None) -> None:
    """Raise TemplateError for bad syntax or a slot outside `slots` (default TEMPLATE_FIELDS)."""
    allowed = tuple(TEMPLATE_FIELDS if slots is None else slots)
    for _literal, slot, position in _parse(template):
        if slot is not None and slot not in allowed:
            offered = ", ".join("{" + s + "}" for s in allowed)
            raise TemplateError(
                f"unknown slot '{{{slot}}}' at {_where(template, position)}; "
                f"this brief fills {offered}",
                position=position,
            )


def template_render(template: str, values: Mapping[str, str]) -> str:
    """Fill a template; values are inserted as written (braces in them are not re-read)."""
    out = []
    for literal, slot in template_parse(template):
        out.append(literal)
        if slot is not None:
            if slot not in values:
                raise TemplateError(f"no value for slot '{{{slot}}}'")
            out.append(str(values[slot]))
    return "".join(out).strip()


def axes_from(raw: Iterable[Mapping | Axis]) -> tuple[Axis, ...]:
    """Normalise stored axes ([{"name", "values"}]) into Axis tuples."""
    axes = []
    for item in raw:
        if isinstance(item, Axis):
            axes.append(item)
        else:
            axes.append(Axis(name=str(item["name"]), values=tuple(item["values"])))
    return tuple(axes)


def axes_check(axes: Iterable[Axis]) -> None:
    """Raise MatrixError for a bad axis name, a duplicate name, or an empty or bad value list."""
    names: set[str] = set()
    for axis in axes:
        if not AXIS_NAME.fullmatch(axis.name):
            raise MatrixError(
                f"axis name {axis.name!r} must start with a lowercase letter and hold only "
                "lowercase letters, digits and _ (at most 30)"
            )
        if axis.name in BUILTIN_SLOTS:
            raise MatrixError(f"axis name {axis.name!r} is taken by a built-in slot")
        if axis.name in names:
            raise MatrixError(f"axis {axis.name!r} is named twice")
        names.add(axis.name)
        if not axis.values:
            raise MatrixError(f"axis {axis.name!r} has no values")
        if len(set(axis.values)) != len(axis.values):
            raise MatrixError(f"axis {axis.name!r} lists a value twice")
        for value in axis.values:
            if len(value) > MAX_AXIS_VALUE_CHARS:
                raise MatrixError(
                    f"a value of axis {axis.name!r} is {len(value)} characters; "
                    f"at most {MAX_AXIS_VALUE_CHARS}"
                )


def matrix_count(
    *,
    axes: Iterable[Axis] = (),
    aspect_ratios: list,
    durations: list,
    languages: list,
    hooks: list[str] | None = None,
) -> int:
    """How many cells the full matrix has: the product of every axis's length."""
    lengths = [len(a.values) for a in axes]
    if hooks:
        lengths.append(len(hooks))
    return math.prod(lengths) * len(aspect_ratios) * len(durations) * len(languages)


def cell_key(axis_values: Iterable[tuple[str, str]], aspect: str, duration: int, lang: str) -> str:
    payload = json.dumps([list(axis_values), aspect, int(duration), lang], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def matrix_cells(
    *, axes: Iterable[Axis], aspect_ratios: list, durations: list, languages: list
) -> Iterator[Cell]:
    """Every cell of the full matrix, named axes first (in order), then format and language."""
    axes = tuple(axes)
    value_lists = [[(a.name, v) for v in a.values] for a in axes]
    for combo in itertools.product(*value_lists, aspect_ratios, durations, languages):
        *named, aspect, duration, language = combo
        named_t = tuple(named)
        yield Cell(
            key=cell_key(named_t, aspect, duration, language),
            axis_values=named_t,
            aspect_ratio=aspect,
            duration_s=int(duration),
            language=language,
        )


def matrix_expand(
    *,
    title: str,
    campaign: str,
    prompt: str,
    aspect_ratios: list[str],
    durations: list[int],
    languages: list[str],
    resolution: str,
    axes: Iterable[Axis] = (),
    scripts: Mapping[str, str] | None = None,
    script: str = "",
    hooks: list[str] | None = None,
    exclude: Iterable[str] = (),
    cap: int = MAX_VARIANTS,
    max_cells: int = MAX_CELLS,
) -> list[VariantSpec]:
    """Return one VariantSpec per chosen cell, numbered from 1 in matrix order.

    `scripts` maps a language to its own script template; `script` is used for a language
    without one. `hooks` is the classic single axis, added as an axis named "hook". Raises
    MatrixError for empty or bad axes, a full matrix past `max_cells` or a chosen set past
    `cap`, and TemplateError for a template that uses a slot the brief does not fill.
    """
    axes = tuple(axes)
    if hooks:
        axes = (Axis(name="hook", values=tuple(hooks)), *axes)
    axes_check(axes)
    named = {"aspect ratio": aspect_ratios, "duration": durations, "language": languages}
    for name, values in named.items():
        if not values:
            raise MatrixError(f"choose at least one {name}")
    total = matrix_count(
        axes=axes, aspect_ratios=aspect_ratios, durations=durations, languages=languages
    )
    if total > max_cells:
        raise MatrixError(
            f"these axes make {total} combinations; a brief may list at most {max_cells}. "
            "Use fewer values."
        )
    slots = (*[a.name for a in axes], *BUILTIN_SLOTS)
    scripts = dict(scripts or {})
    template_check(prompt, slots)
    for template in {script, *scripts.values()}:
        template_check(template, slots)
    excluded = set(exclude)
    specs: list[VariantSpec] = []
    cells = matrix_cells(
        axes=axes, aspect_ratios=aspect_ratios, durations=durations, languages=languages
    )
    for cell in cells:
        if cell.key in excluded:
            continue
        if len(specs) >= cap:
            chosen = total - len(excluded & _keys(axes, aspect_ratios, durations, languages))
            raise MatrixError(
                f"{chosen} variants are chosen; one brief may launch at most {cap}. "
                f"Untick {chosen - cap} or use fewer values."
            )
        values = {
            "hook": "",
            **cell.values,
            "language": cell.language,
            "aspect_ratio": cell.aspect_ratio,
            "duration": str(cell.duration_s),
            "title": title,
            "campaign": campaign,
        }
        template = scripts.get(cell.language) or script
        specs.append(
            VariantSpec(
                position=len(specs) + 1,
                key=cell.key,
                hook=values["hook"],
                aspect_ratio=cell.aspect_ratio,
                duration_s=cell.duration_s,
                language=cell.language,
                resolution=resolution,
                prompt=template_render(prompt, values),
                script=template_render(template, values) if template else "",
                axis_values=cell.values,
            )
        )
    if not specs:
        raise MatrixError("every cell is unticked; choose at least one variant")
    return specs


def matrix_split_shots(specs: list[VariantSpec], shots: list[str]) -> list[VariantSpec]:
    """Turn each variant into one variant per shot (multi-shot), numbered again from 1.

    Each keeps its cell's key as `group`; its prompt ends with the shot it shows, so a
    generation model makes that shot and not the whole storyboard.
    """
    if not shots:
        return specs
    out: list[VariantSpec] = []
    total = len(shots)
    for spec in specs:
        for index, shot in enumerate(shots, start=1):
            out.append(
                replace(
                    spec,
                    position=len(out) + 1,
                    key=f"{spec.key}-{index}",
                    prompt=f"{spec.prompt}\nShot {index} of {total}: {shot}",
                    shots=(shot,),
                    shot_index=index,
                    group=spec.key,
                )
            )
    return out


def _keys(axes, aspect_ratios, durations, languages) -> set[str]:
    return {
        c.key
        for c in matrix_cells(
            axes=axes, aspect_ratios=aspect_ratios, durations=durations, languages=languages
        )
    }
