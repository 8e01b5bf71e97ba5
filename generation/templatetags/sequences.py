"""Template tags for cuts: the brief page's cells and the clip page's parts.

They exist so the pages that show cuts (a brief, a clip) include one partial each without
their views having to know about cuts.
"""

from __future__ import annotations

from typing import Any

from django import template

from generation import sequences

register = template.Library()


@register.simple_tag
def brief_cut_panel(brief: Any) -> dict[str, Any]:
    """The brief's multi-shot cells with their shots and cuts, and whether a cut is being
    made (the panel polls until none is); no query for other briefs."""
    return sequences.brief_cut_panel(brief=brief)


@register.simple_tag
def clip_cut_parts(clip: Any) -> list:
    """The parts of a cut's clip in order; empty (no query) for any other clip."""
    if not clip.variant.is_cut:
        return []
    return sequences.cut_parts(job=clip.job)
