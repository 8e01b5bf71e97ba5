from __future__ import annotations

import pytest

from generation.matrix import (
    MAX_VARIANTS,
    TEMPLATE_FIELDS,
    MatrixError,
    TemplateError,
    matrix_expand,
    template_check,
    template_render,
)

VALUES = {
    "hook": "Wake up",
    "language": "en",
    "aspect_ratio": "16:9",
    "duration": "6",
    "title": "Spring",
    "campaign": "Launch",
}


def _expand(**overrides):
    kwargs = {
        "title": "Spring",
        "campaign": "Launch",
        "prompt": "{hook} for {campaign}: {title}, {aspect_ratio}, {duration}s, {language}",
        "script": "Say {hook} in {language}",
        "hooks": ["Wake up", "Good night"],
        "aspect_ratios": ["16:9", "9:16"],
        "durations": [3, 6],
        "languages": ["en", "fr"],
        "resolution": "1080p",
    }
    kwargs.update(overrides)
    return matrix_expand(**kwargs)


@pytest.mark.parametrize(
    "template",
    [
        "",
        "no fields at all",
        "{hook} {language} {aspect_ratio} {duration} {title} {campaign}",
        "literal {{braces}} are fine",
    ],
)
def test_template_check_accepts_good_templates(template: str) -> None:
    template_check(template)


def test_every_documented_field_is_accepted() -> None:
    for field in TEMPLATE_FIELDS:
        template_check(f"{{{field}}}")


@pytest.mark.parametrize(
    ("template", "field"),
    [("{price}", "{price}"), ("{}", "{}"), ("{0}", "{0}"), ("{hook.upper}", "{hook.upper}")],
)
def test_template_check_rejects_unknown_fields(template: str, field: str) -> None:
    with pytest.raises(TemplateError) as excinfo:
        template_check(template)
    assert str(excinfo.value).startswith(f"unknown field {field}; use ")
    assert "{hook}, {language}, {aspect_ratio}, {duration}, {title}, {campaign}" in str(
        excinfo.value
    )


@pytest.mark.parametrize("template", ["{hook", "hook}", "{hook}}", "{{hook}"])
def test_template_check_rejects_bad_braces(template: str) -> None:
    with pytest.raises(TemplateError) as excinfo:
        template_check(template)
    assert "the template's braces do not match" in str(excinfo.value)


@pytest.mark.parametrize("template", ["{duration:>5}", "{hook!r}", "{title!s:10}"])
def test_template_check_rejects_format_specs_and_conversions(template: str) -> None:
    with pytest.raises(TemplateError) as excinfo:
        template_check(template)
    assert "may not carry a format or conversion" in str(excinfo.value)


def test_template_render_fills_fields_and_unescapes_braces() -> None:
    rendered = template_render("  {hook}: {title} {{not a field}} in {language}  ", VALUES)
    assert rendered == "Wake up: Spring {not a field} in en"


def test_template_render_checks_first() -> None:
    with pytest.raises(TemplateError):
        template_render("{price}", VALUES)


def test_matrix_expand_makes_every_combination_in_order() -> None:
    specs = _expand()

    assert len(specs) == 2 * 2 * 2 * 2
    assert [s.position for s in specs] == list(range(1, 17))
    combos = {(s.hook, s.aspect_ratio, s.duration_s, s.language) for s in specs}
    assert len(combos) == 16
    first = specs[0]
    assert (first.hook, first.aspect_ratio, first.duration_s, first.language) == (
        "Wake up",
        "16:9",
        3,
        "en",
    )
    assert first.prompt == "Wake up for Launch: Spring, 16:9, 3s, en"
    assert first.script == "Say Wake up in en"
    assert first.resolution == "1080p"
    assert specs[-1].prompt == "Good night for Launch: Spring, 9:16, 6s, fr"


def test_matrix_expand_without_hooks_or_script() -> None:
    specs = _expand(hooks=[], script="", prompt="{hook}Plain {title}", aspect_ratios=["1:1"])

    assert len(specs) == 4
    assert {s.hook for s in specs} == {""}
    assert {s.script for s in specs} == {""}
    assert specs[0].prompt == "Plain Spring"


@pytest.mark.parametrize(
    ("axis", "name"),
    [("aspect_ratios", "aspect ratio"), ("durations", "duration"), ("languages", "language")],
)
def test_matrix_expand_rejects_empty_axes(axis: str, name: str) -> None:
    with pytest.raises(MatrixError) as excinfo:
        _expand(**{axis: []})
    assert str(excinfo.value) == f"choose at least one {name}"


def test_matrix_expand_allows_exactly_max_variants() -> None:
    hooks = [f"hook {n}" for n in range(MAX_VARIANTS // 4)]
    specs = _expand(hooks=hooks, durations=[3], languages=["en", "fr"])
    assert len(specs) == MAX_VARIANTS


def test_matrix_expand_rejects_more_than_max_variants() -> None:
    hooks = [f"hook {n}" for n in range(MAX_VARIANTS // 4 + 1)]
    with pytest.raises(MatrixError) as excinfo:
        _expand(hooks=hooks, durations=[3], languages=["en", "fr"])
    count = len(hooks) * 4
    assert str(excinfo.value) == (
        f"these axes make {count} variants; one brief may hold at most {MAX_VARIANTS}"
    )


def test_matrix_expand_rejects_bad_templates() -> None:
    with pytest.raises(TemplateError):
        _expand(prompt="{offer}")
    with pytest.raises(TemplateError):
        _expand(script="{hook")
