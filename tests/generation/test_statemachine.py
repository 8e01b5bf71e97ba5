"""Every (from, to) pair of every status machine, against moves written out here by hand.

The expected moves are stated independently of the models' TRANSITIONS tables, so a wrong
edit to a table fails here instead of being checked against itself.
"""

from __future__ import annotations

import pytest

from assets.models import Clip
from generation.models import GenerationJob
from generation.statemachine import InvalidTransition
from review.models import Review

MACHINES = (GenerationJob, Clip, Review)

EXPECTED_MOVES = {
    GenerationJob: {
        "queued → submitted", "queued → failed", "queued → canceled",
        "submitted → running", "submitted → downloading", "submitted → failed",
        "submitted → canceled",
        "running → downloading", "running → failed", "running → canceled",
        "downloading → succeeded", "downloading → failed",
    },
    Clip: {"processing → ready", "processing → failed"},
    Review: {
        "pending → in_review", "pending → approved", "pending → rejected",
        "pending → changes_requested",
        "in_review → approved", "in_review → rejected", "in_review → changes_requested",
        "approved → archived",
    },
}  # fmt: skip


def _pairs(model):
    statuses = [value for value, _label in model.Status.choices]
    for current in statuses:
        for target in statuses:
            allowed = f"{current} → {target}" in EXPECTED_MOVES[model]
            yield pytest.param(
                model, current, target, allowed, id=f"{model.__name__}:{current}->{target}"
            )


ALL_PAIRS = [pair for model in MACHINES for pair in _pairs(model)]


@pytest.mark.parametrize("model", MACHINES, ids=lambda m: m.__name__)
def test_table_covers_every_status(model) -> None:
    statuses = set(model.Status.values)
    assert set(model.TRANSITIONS) == statuses
    for targets in model.TRANSITIONS.values():
        assert targets <= statuses


@pytest.mark.parametrize(("model", "current", "target", "allowed"), ALL_PAIRS)
def test_transition(model, current: str, target: str, allowed: bool) -> None:
    obj = model(pk=7, status=current)

    assert obj.can_transition(target) is allowed
    if allowed:
        assert obj.transition(target) == current
        assert obj.status == target
    else:
        with pytest.raises(InvalidTransition) as excinfo:
            # Services pass TextChoices members; the message must still read plainly.
            obj.transition(model.Status(target))
        assert obj.status == current
        assert excinfo.value.current == current
        assert excinfo.value.target == target
        assert str(excinfo.value) == (
            f"{model.__name__} 7 cannot move from '{current}' to '{target}'"
        )


@pytest.mark.parametrize("model", MACHINES, ids=lambda m: m.__name__)
def test_final_states_are_those_with_no_way_out(model) -> None:
    for current, targets in model.TRANSITIONS.items():
        assert model(status=current).is_final is (not targets)
