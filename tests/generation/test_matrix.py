from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generation.matrix import (
    BUILTIN_SLOTS,
    Axis,
    MatrixError,
    TemplateError,
    matrix_cells,
    matrix_count,
    matrix_expand,
    template_check,
    template_parse,
    template_render,
    template_slots,
)


def _expand(**overrides):
    values = {
        "title": "Spring",
        "campaign": "Launch",
        "prompt": "{hook} bottle, {aspect_ratio}, {duration}s, {language}",
        "scripts": {"en": "Fresh ({title})", "ja": "新鮮 {hook}"},
        "axes": (Axis("hook", ("Wake up", "Good night")),),
        "aspect_ratios": ["16:9", "9:16"],
        "durations": [3, 6],
        "languages": ["en", "ja"],
        "resolution": "720p",
    }
    values.update(overrides)
    return matrix_expand(**values)


def test_expand_multiplies_every_axis_in_order() -> None:
    specs = _expand()

    assert len(specs) == 16
    assert [s.position for s in specs] == list(range(1, 17))
    first = specs[0]
    assert (first.hook, first.aspect_ratio, first.duration_s, first.language) == (
        "Wake up",
        "16:9",
        3,
        "en",
    )
    assert first.prompt == "Wake up bottle, 16:9, 3s, en"
    assert first.script == "Fresh (Spring)"
    assert specs[1].script == "新鮮 Wake up"
    assert specs[-1].axis_values == {"hook": "Good night"}


def test_each_language_speaks_its_own_script_and_others_fall_back() -> None:
    specs = _expand(scripts={"ja": "やあ"}, script="Hello", axes=(), prompt="{language}")

    assert {s.language: s.script for s in specs} == {"en": "Hello", "ja": "やあ"}


def test_named_axes_fill_their_slots() -> None:
    specs = _expand(
        prompt="{scene}: {offer}",
        scripts={},
        axes=(Axis("scene", ("Kitchen", "Beach")), Axis("offer", ("2 for 1",))),
        aspect_ratios=["1:1"],
        durations=[3],
        languages=["en"],
    )

    assert [s.prompt for s in specs] == ["Kitchen: 2 for 1", "Beach: 2 for 1"]
    assert specs[0].hook == ""


def test_unticked_cells_are_left_out_and_the_rest_renumbered() -> None:
    cells = list(
        matrix_cells(
            axes=(Axis("hook", ("a", "b")),),
            aspect_ratios=["16:9"],
            durations=[3],
            languages=["en", "ja"],
        )
    )
    specs = _expand(
        axes=(Axis("hook", ("a", "b")),),
        aspect_ratios=["16:9"],
        durations=[3],
        exclude=[cells[1].key],
    )

    assert [(s.position, s.hook, s.language) for s in specs] == [
        (1, "a", "en"),
        (2, "b", "en"),
        (3, "b", "ja"),
    ]
    assert [s.key for s in specs] == [cells[0].key, cells[2].key, cells[3].key]


def test_cell_keys_are_stable_and_distinct() -> None:
    kwargs = {
        "axes": (Axis("hook", ("a", "b")),),
        "aspect_ratios": ["16:9", "1:1"],
        "durations": [3],
        "languages": ["en"],
    }
    first = [c.key for c in matrix_cells(**kwargs)]

    assert first == [c.key for c in matrix_cells(**kwargs)]
    assert len(set(first)) == 4


def test_the_cap_refuses_too_many_chosen_variants() -> None:
    with pytest.raises(MatrixError) as excinfo:
        _expand(cap=10)

    assert str(excinfo.value) == (
        "16 variants are chosen; one brief may launch at most 10. Untick 6 or use fewer values."
    )


def test_a_matrix_past_the_ceiling_is_refused_before_it_is_listed() -> None:
    huge = Axis("hook", tuple(str(n) for n in range(10_000)))

    with pytest.raises(MatrixError) as excinfo:
        _expand(axes=(huge, Axis("scene", tuple(str(n) for n in range(10_000)))))

    assert str(excinfo.value).startswith("these axes make 800000000 combinations")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"languages": []}, "choose at least one language"),
        ({"aspect_ratios": []}, "choose at least one aspect ratio"),
        ({"axes": (Axis("hook", ()),)}, "axis 'hook' has no values"),
        ({"axes": (Axis("Hook", ("a",)),)}, "axis name 'Hook' must start with a lowercase"),
        ({"axes": (Axis("title", ("a",)),)}, "axis name 'title' is taken by a built-in slot"),
        ({"axes": (Axis("hook", ("a",)), Axis("hook", ("b",)))}, "axis 'hook' is named twice"),
        ({"axes": (Axis("hook", ("x" * 301,)),)}, "a value of axis 'hook' is 301 characters"),
    ],
)
def test_bad_axes(overrides, message) -> None:
    with pytest.raises(MatrixError) as excinfo:
        _expand(**overrides)

    assert str(excinfo.value).startswith(message)


def test_every_cell_unticked_is_refused() -> None:
    keys = [
        c.key
        for c in matrix_cells(
            axes=(Axis("hook", ("a",)),), aspect_ratios=["1:1"], durations=[3], languages=["en"]
        )
    ]

    with pytest.raises(MatrixError, match="every cell is unticked"):
        _expand(axes=(Axis("hook", ("a",)),), aspect_ratios=["1:1"], durations=[3],
                languages=["en"], exclude=keys)  # fmt: skip


def test_a_template_slot_outside_the_axes_is_refused() -> None:
    with pytest.raises(TemplateError, match=r"unknown slot '\{offer\}' at line 1, column 1"):
        _expand(prompt="{offer}")


# --- templates -----------------------------------------------------------------------------


def test_render_literal_braces_and_values_are_not_reread() -> None:
    assert template_render("{{x}} {hook}", {"hook": "{title}"}) == "{x} {title}"


def test_slots_in_order_of_first_use() -> None:
    assert template_slots("{b} {a} {b}") == ["b", "a"]


def test_render_never_reaches_into_objects() -> None:
    with pytest.raises(TemplateError, match="attribute access"):
        template_render("{hook.__class__.__mro__}", {"hook": "x"})


# --- properties ----------------------------------------------------------------------------

_names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda n: n not in BUILTIN_SLOTS
)
_values = st.text(min_size=0, max_size=40)
_literal = st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(st.tuples(_literal, st.one_of(st.none(), _names)), max_size=8),
    values=st.dictionaries(_names, _values, max_size=8),
)
def test_property_render_fills_every_slot_with_its_value(parts, values) -> None:
    template = "".join(lit + ("{" + slot + "}" if slot else "") for lit, slot in parts)
    slots = {slot for _lit, slot in parts if slot}
    filled = {**{s: f"<{s}>" for s in slots}, **values}

    template_check(template, filled.keys())
    expected = "".join(lit + (filled[slot] if slot else "") for lit, slot in parts).strip()

    assert template_render(template, filled) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_property_any_text_parses_or_fails_with_a_position(text) -> None:
    try:
        template_parse(text)
    except TemplateError as exc:
        assert exc.position is not None
        assert 0 <= exc.position < len(text)
        assert "line " in str(exc) and "column " in str(exc)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=60))
def test_property_escaped_text_renders_as_written(text) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")

    assert template_render(escaped, {}) == text.strip()


_axes = st.lists(
    st.tuples(_names, st.lists(st.text(max_size=30), min_size=1, max_size=5, unique=True)),
    max_size=3,
    unique_by=lambda pair: pair[0],
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    axes=_axes,
    aspects=st.lists(st.sampled_from(["16:9", "9:16", "1:1"]), min_size=1, max_size=3, unique=True),
    durations=st.lists(st.integers(3, 15), min_size=1, max_size=3, unique=True),
    languages=st.lists(st.sampled_from(["en", "ja", "zh", "yue"]), min_size=1, unique=True),
    cap=st.integers(1, 200),
    drop=st.sets(st.integers(0, 500), max_size=40),
)
def test_property_count_is_the_product_or_the_subset_and_the_cap_holds(
    axes, aspects, durations, languages, cap, drop
) -> None:
    axes = tuple(Axis(name, tuple(values)) for name, values in axes)
    kwargs = {"axes": axes, "aspect_ratios": aspects, "durations": durations}
    total = matrix_count(**kwargs, languages=languages)
    assert total == math.prod(len(a.values) for a in axes) * (
        len(aspects) * len(durations) * len(languages)
    )
    cells = list(matrix_cells(**kwargs, languages=languages))
    assert len(cells) == total
    excluded = [cells[i].key for i in drop if i < len(cells)]
    chosen = total - len(set(excluded))
    prompt = " ".join("{" + a.name + "}" for a in axes) + " {language}"
    try:
        specs = matrix_expand(
            title="T",
            campaign="C",
            prompt=prompt,
            resolution="720p",
            languages=languages,
            exclude=excluded,
            cap=cap,
            **kwargs,
        )
    except MatrixError as exc:
        assert chosen > cap or chosen == 0, str(exc)
        return
    assert len(specs) == chosen <= cap
    assert [s.position for s in specs] == list(range(1, chosen + 1))
    assert not {s.key for s in specs} & set(excluded)
