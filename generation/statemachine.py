"""One transition helper shared by every model that has a status field.

Each model declares its statuses as `TextChoices` and its allowed moves as one table
(`TRANSITIONS`: from-status to the set of to-statuses). Services call `instance.transition(to)`,
which checks the table and sets the field; nothing else writes the status.
"""

from __future__ import annotations

from typing import ClassVar


class InvalidTransition(Exception):
    """A move the model's transition table does not allow from the current state."""

    def __init__(self, obj: object, current: str, target: str) -> None:
        # Plain strings: a TextChoices member's repr would read "Model.Status.X" in messages.
        self.current = current = str(current)
        self.target = target = str(target)
        label = f"{type(obj).__name__} {getattr(obj, 'pk', '')}".strip()
        super().__init__(f"{label} cannot move from {current!r} to {target!r}")


class StatusMachine:
    """Mixin for models with a `status` field and a `TRANSITIONS` table."""

    TRANSITIONS: ClassVar[dict[str, frozenset[str]]] = {}

    def can_transition(self, target: str) -> bool:
        return target in self.TRANSITIONS.get(self.status, frozenset())

    def transition(self, target: str) -> str:
        """Set `status` to `target` if the table allows it; return the previous status."""
        if not self.can_transition(target):
            raise InvalidTransition(self, self.status, target)
        previous, self.status = self.status, target
        return previous

    @property
    def is_final(self) -> bool:
        return not self.TRANSITIONS.get(self.status)
