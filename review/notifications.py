"""Who is told what, by email and in the app (filled in below the workflow)."""

from __future__ import annotations


def dispatch(event: str, pk: int) -> None:
    return None
