from __future__ import annotations

import pytest

from generation.forms import BriefForm, VariantReviseForm, model_choices
from generation.matrix import Axis
from generation.services import BriefInput
from tests.factories import brief_form_data


def _data(**overrides) -> dict:
    values = {
        "title": "Spring teaser",
        "prompt": "{hook} A green bottle, {aspect_ratio}",
        "script_en": "Fresh, in {language}.",
        "script_ja": "春です。",
        "shots": "  Fresh \n\n Bright  \n",
        "axis_1_name": "hook",
        "axis_1_values": "Wake up\n\nGood night\n",
        "durations": "3, 6; 6",
        "languages": ["en", "ja"],
    }
    return brief_form_data(**{**values, **overrides})


def _errors(**overrides) -> dict:
    form = BriefForm(_data(**overrides))
    assert not form.is_valid()
    return form.errors


def test_valid_data_becomes_a_brief_input() -> None:
    form = BriefForm(_data(axis_2_name="scene", axis_2_values="Kitchen\nBeach"))

    assert form.is_valid(), form.errors
    assert form.to_input() == BriefInput(
        title="Spring teaser",
        prompt="{hook} A green bottle, {aspect_ratio}",
        script="",
        scripts={"en": "Fresh, in {language}.", "ja": "春です。"},
        shots="Fresh\nBright",
        hooks=[],
        axes=(
            Axis(name="hook", values=("Wake up", "Good night")),
            Axis(name="scene", values=("Kitchen", "Beach")),
        ),
        aspect_ratios=["16:9", "9:16"],
        durations=[3, 6],
        languages=["en", "ja"],
        resolution="720p",
        provider="animatic",
        model="animatic-v1",
    )


def test_a_script_of_an_unticked_language_is_dropped() -> None:
    form = BriefForm(_data(script_fr="Bonjour", languages=["en"]))

    assert form.is_valid(), form.errors
    assert form.to_input().scripts == {"en": "Fresh, in {language}."}


# --- bugs seen by a new user ---------------------------------------------------------------


def test_a_hook_longer_than_300_characters_is_a_form_error() -> None:
    errors = _errors(axis_1_values="short\n" + "x" * 301)

    assert errors["axis_1_values"] == ["value 2 is longer than 300 characters"]


@pytest.mark.parametrize("durations", ["²", "٣", "6, ²", "１０"])
def test_a_unicode_digit_is_not_a_duration(durations: str) -> None:
    errors = _errors(durations=durations)

    assert "is not a whole number of seconds from 3 to 15" in errors["durations"][0]


def test_every_bad_duration_is_named_not_only_the_first() -> None:
    errors = _errors(durations="2, 6, 16, abc, 2")

    assert errors["durations"] == ["'2', '16', 'abc' are not whole numbers of seconds from 3 to 15"]


def test_the_model_is_a_choice_from_the_registry_not_free_text() -> None:
    options = [key for _group, items in model_choices() for key, _label in items]
    assert "animatic:animatic-v1" in options
    assert dict(model_choices())["Animatic (local preview)"] == [
        ("animatic:animatic-v1", "Animatic v1")
    ]

    errors = _errors(model="animatic:sora-9")

    assert errors["model"] == [
        "Select a valid choice. animatic:sora-9 is not one of the available choices."
    ]


def test_more_shots_than_the_shortest_duration_can_show() -> None:
    errors = _errors(shots="\n".join(f"Shot {n}" for n in range(7)), durations="3, 10")

    assert errors["shots"] == [
        "7 shots do not fit in a 3 s clip: at most 6, half a second each. Use fewer shots "
        "or longer durations."
    ]


@pytest.mark.parametrize(
    ("durations", "message"),
    [
        ("2", "'2' is not a whole number of seconds from 3 to 15"),
        ("16", "'16' is not a whole number of seconds from 3 to 15"),
        ("6, 4.5", "'4.5' is not a whole number of seconds from 3 to 15"),
        ("-3", "'-3' is not a whole number of seconds from 3 to 15"),
        (" , ; ", "give at least one duration"),
        ("", "This field is required."),
    ],
)
def test_bad_durations(durations: str, message: str) -> None:
    assert _errors(durations=durations)["durations"] == [message]


# --- the chosen model's limits -------------------------------------------------------------


def test_a_model_that_cannot_serve_the_request_is_refused_naming_the_limit(monkeypatch) -> None:
    from datetime import date
    from decimal import Decimal

    from generation.providers.base import Provider
    from generation.providers.capabilities import Audio, Mode, ModelSpec, Price, register
    from tests.providers import install

    class Narrow(Provider):
        name = "narrow"
        label = "Narrow"

    register(
        ModelSpec(
            provider="narrow",
            model="n-1",
            label="Narrow 1",
            modes=frozenset({Mode.TEXT}),
            durations=(5, 10),
            resolutions=("1080p",),
            aspect_ratios=("16:9",),
            audio=Audio.ALWAYS,
            languages=("en", "zh"),
            prices=(Price(Decimal("0.1"), source="test", as_of=date(2026, 11, 24)),),
        )
    )
    install(monkeypatch, Narrow)

    errors = _errors(model="narrow:n-1", durations="3, 5, 6")

    assert errors["durations"] == ["Narrow 1 makes clips of 5, 10 seconds, not 3, 6"]
    assert errors["aspect_ratios"] == ["Narrow 1 supports 16:9, not 9:16"]
    assert errors["resolution"] == ["Narrow 1 renders 1080p, not 720p"]
    assert errors["languages"] == ["Narrow 1 does not speak Japanese"]
    assert BriefForm().capabilities()["narrow:n-1"]["durations"] == [5, 10]


# --- axes and templates --------------------------------------------------------------------


def test_duplicate_axis_values() -> None:
    errors = _errors(axis_1_values="Wake up\nGood night\n  Wake up ")

    assert errors["axis_1_values"] == ["each value may appear once: 'Wake up' repeats"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("Hook", "start with a lowercase letter; use only lowercase letters, digits and _"),
        ("my-axis", "start with a lowercase letter; use only lowercase letters, digits and _"),
        ("language", "{language} is filled by Greenlight; pick another name"),
    ],
)
def test_bad_axis_names(name: str, message: str) -> None:
    assert _errors(axis_1_name=name, prompt="A bottle")["axis_1_name"] == [message]


def test_values_without_a_name_and_a_name_without_values() -> None:
    errors = _errors(axis_2_values="Kitchen", axis_3_name="offer")

    assert errors["axis_2_name"] == ["name this axis, e.g. hook, scene or offer"]
    assert errors["axis_3_values"] == ["give axis 'offer' at least one value, one per line"]


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (
            "Buy now at {price}",
            "unknown slot '{price}' at line 1, column 12; this brief fills {hook}, "
            "{language}, {aspect_ratio}, {duration}, {title}, {campaign}",
        ),
        (
            "Line one\nBuy {hook",
            "'{' at line 2, column 5 is never closed; write '{{' for a literal brace",
        ),
        ("Sale} now", "'}' at line 1, column 5 closes nothing; write '}}' for a literal brace"),
        (
            "{hook.__class__}",
            "'{hook.__class__}' at line 1, column 1 uses attribute access; write a plain slot "
            "such as '{hook}'",
        ),
        (
            "{hook[0]}",
            "'{hook[0]}' at line 1, column 1 uses index access; write a plain slot such as "
            "'{hook}'",
        ),
        (
            "{hook!r}",
            "'{hook!r}' at line 1, column 1 carries a conversion or format; write a plain slot",
        ),
        ("{}", "empty slot '{}' at line 1, column 1; name a slot"),
    ],
)
def test_template_errors_name_their_position(prompt: str, message: str) -> None:
    assert _errors(prompt=prompt)["prompt"] == [message]


def test_a_script_template_error_lands_on_that_language() -> None:
    errors = _errors(script_ja="{offer}です")

    assert errors["script_ja"][0].startswith("unknown slot '{offer}' at line 1, column 1")


def test_hook_is_only_a_slot_when_there_is_a_hook_axis() -> None:
    errors = _errors(axis_1_name="", axis_1_values="")

    assert errors["prompt"][0].startswith("unknown slot '{hook}' at line 1, column 1")


def test_a_matrix_past_the_ceiling_is_refused(settings) -> None:
    settings.GREENLIGHT_BRIEF_MAX_CELLS = 10

    errors = _errors(axis_1_values="\n".join(f"Hook {n}" for n in range(6)))

    assert errors["__all__"] == [
        "these choices make 48 combinations; a brief may list at most 10 (and launch at "
        "most 100). Use fewer axis values, formats, durations or languages."
    ]


def test_initial_for_a_saved_brief_round_trips(db) -> None:
    from tests.factories import BriefFactory

    brief = BriefFactory(
        axes=[{"name": "hook", "values": ["A", "B"]}],
        scripts={"en": "Hi", "ja": "やあ"},
        languages=["en", "ja"],
        durations=[3, 6],
        prompt="{hook}!",
    )

    form = BriefForm(
        {
            **BriefForm.initial_for(brief),
            "aspect_ratios": brief.aspect_ratios,
            "languages": brief.languages,
        }
    )

    assert form.is_valid(), form.errors
    assert form.to_input().axes == (Axis(name="hook", values=("A", "B")),)
    assert form.to_input().scripts == {"en": "Hi", "ja": "やあ"}


def test_revise_form_refuses_too_many_shots() -> None:
    form = VariantReviseForm({"prompt": "p", "shots": "a\nb\nc\nd\ne\nf\ng"}, duration_s=3)

    assert not form.is_valid()
    assert form.errors["shots"] == [
        "7 shots do not fit in a 3 s clip: at most 6, half a second each"
    ]


def test_multi_shot_lifts_the_shots_per_second_limit_and_needs_shots() -> None:
    many = "\n".join(f"Shot {n}" for n in range(8))
    form = BriefForm(_data(multi_shot="on", shots=many, durations="3"))

    assert form.is_valid(), form.errors
    assert form.to_input().multi_shot is True
    assert _errors(multi_shot="on", shots="")["shots"] == [
        "write the shots to generate one by one, one per line"
    ]


def test_multi_shot_counts_every_shot_against_the_ceiling(settings) -> None:
    settings.GREENLIGHT_BRIEF_MAX_CELLS = 20

    errors = _errors(multi_shot="on", shots="a\nb\nc")

    assert errors["__all__"][0].startswith("these choices make 48 combinations")


def test_a_brief_with_more_axes_than_rows_keeps_them_all_when_edited(db) -> None:
    from tests.factories import BriefFactory

    axes = [{"name": f"a{n}", "values": [f"v{n}"]} for n in range(5)]
    brief = BriefFactory(axes=axes, prompt="{a4}", scripts={"en": "Hi"})

    form = BriefForm({**BriefForm.initial_for(brief), "aspect_ratios": ["16:9"]})

    assert form.is_valid(), form.errors
    assert [a.name for a in form.to_input().axes] == ["a0", "a1", "a2", "a3", "a4"]
    assert len(form.axis_rows()) == 5
