from __future__ import annotations

import pytest

from generation.forms import BriefForm
from generation.matrix import MAX_VARIANTS
from generation.services import BriefInput
from tests.factories import brief_form_data


def _data(**overrides) -> dict:
    values = {
        "title": "Spring teaser",
        "prompt": "{hook} A green bottle, {aspect_ratio}",
        "script": "Fresh, in {language}.",
        "shots": "  Fresh \n\n Bright  \n",
        "hooks": "Wake up\n\nGood night\n",
        "durations": "3, 6; 6",
    }
    return brief_form_data(**{**values, **overrides})


def test_valid_data_becomes_a_brief_input() -> None:
    form = BriefForm(_data())

    assert form.is_valid(), form.errors
    assert form.to_input() == BriefInput(
        title="Spring teaser",
        prompt="{hook} A green bottle, {aspect_ratio}",
        script="Fresh, in {language}.",
        shots="Fresh\nBright",
        hooks=["Wake up", "Good night"],
        aspect_ratios=["16:9", "9:16"],
        durations=[3, 6],
        languages=["en"],
        resolution="720p",
        provider="animatic",
        model="",
    )


def test_provider_choices_come_from_the_registry() -> None:
    assert ("animatic", "Animatic (local preview)") in BriefForm().fields["provider"].choices
    form = BriefForm(_data(provider="nope"))
    assert not form.is_valid()
    assert form.errors["provider"] == [
        "Select a valid choice. nope is not one of the available choices."
    ]


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ("2", "'2' is not a whole number of seconds from 3 to 15"),
        ("16", "'16' is not a whole number of seconds from 3 to 15"),
        ("abc", "'abc' is not a whole number of seconds from 3 to 15"),
        ("6, 4.5", "'4.5' is not a whole number of seconds from 3 to 15"),
        ("-3", "'-3' is not a whole number of seconds from 3 to 15"),
        (" , ; ", "give at least one duration"),
        ("", "This field is required."),
    ],
)
def test_bad_durations(durations: str, message: str) -> None:
    form = BriefForm(_data(durations=durations))

    assert not form.is_valid()
    assert form.errors["durations"] == [message]


def test_duplicate_hooks() -> None:
    form = BriefForm(_data(hooks="Wake up\nGood night\n  Wake up "))

    assert not form.is_valid()
    assert form.errors["hooks"] == ["each hook may appear once"]


@pytest.mark.parametrize("field", ["prompt", "script"])
def test_unknown_template_field(field: str) -> None:
    form = BriefForm(_data(**{field: "Buy now at {price}"}))

    assert not form.is_valid()
    assert form.errors[field] == [
        "unknown field {price}; use {hook}, {language}, {aspect_ratio}, {duration}, {title}, "
        "{campaign}"
    ]


def test_bad_braces_and_format_specs() -> None:
    form = BriefForm(_data(prompt="{hook", script="{duration:03}"))

    assert not form.is_valid()
    assert form.errors["prompt"][0].startswith("the template's braces do not match")
    assert form.errors["script"] == ["field {duration} may not carry a format or conversion"]


def test_too_many_variants() -> None:
    hooks = "\n".join(f"hook {n}" for n in range(5))
    form = BriefForm(
        _data(
            hooks=hooks,
            aspect_ratios=["16:9", "9:16", "1:1"],
            durations="3, 6",
            languages=["en", "fr"],
        )
    )

    assert not form.is_valid()
    assert form.non_field_errors() == [
        f"these choices make 60 variants; one brief may hold at most {MAX_VARIANTS}. "
        "Choose fewer hooks, formats, durations or languages."
    ]


def test_exactly_max_variants_is_valid() -> None:
    hooks = "\n".join(f"hook {n}" for n in range(4))
    form = BriefForm(
        _data(
            hooks=hooks,
            aspect_ratios=["16:9", "9:16", "1:1"],
            durations="3, 6",
            languages=["en", "fr"],
        )
    )
    assert form.is_valid(), form.errors


def test_missing_axes_are_required() -> None:
    form = BriefForm(_data(aspect_ratios=[], languages=[]))

    assert not form.is_valid()
    assert form.errors["aspect_ratios"] == ["This field is required."]
    assert form.errors["languages"] == ["This field is required."]
    assert not form.non_field_errors()
