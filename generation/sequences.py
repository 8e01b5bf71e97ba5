"""Cuts of multi-shot briefs: which cells can be assembled, and assembling one.

A multi-shot brief makes one variant per shot of each matrix cell (`Variant.shot_index`,
`cell_key` = `<cell key>-<n>`), each reviewed on its own. Once the latest version of every
shot of a cell is approved, a creator assembles the cell's **cut**: one variant per cell
(`Variant.is_cut`), each assembly a new job (version) of it on the local `sequence` provider,
with the exact shot versions it joins recorded as `SequencePart` rows. From there the cut is
a clip like any other: the driver runs the join, ingest analyses it, review opens it at the
campaign's first stage and the archive keeps it once approved.

Approval lives in a later app (review); it is read through relation names only
(`job.clip.review.status`), so this module imports nothing from assets or review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max, Prefetch, Q

from generation.audit import audit_record
from generation.jobs import job_send_drive
from generation.models import Brief, GenerationJob, SequencePart, Variant
from generation.providers.base import GenerationRequest
from generation.providers.sequence import MODEL, NAME
from generation.services import PermissionDenied, can_create_brief

APPROVED = ("approved", "archived")
_SHOT_SUFFIX = re.compile(r"\nShot \d+ of \d+: .*\Z", re.DOTALL)


class CutRefused(Exception):
    """The cell cannot be assembled as it stands; the message names what is missing."""


@dataclass
class ShotState:
    """The latest version of one shot of a cell and whether it may go into a cut."""

    variant: Variant
    job: GenerationJob | None

    @property
    def number(self) -> int:
        return self.variant.shot_index or 0

    @property
    def clip(self) -> Any:
        return getattr(self.job, "clip", None) if self.job is not None else None

    @property
    def review_status(self) -> str:
        review = getattr(self.clip, "review", None) if self.clip is not None else None
        return review.status if review is not None else ""

    @property
    def approved(self) -> bool:
        return self.review_status in APPROVED

    @property
    def waiting_for(self) -> str:
        """Why this shot is not approved yet, for the refusal and the brief page."""
        job = self.job
        if job is None:
            return "has no version"
        version = f"v{job.attempt}"
        if job.status in GenerationJob.ACTIVE:
            return f"{version} is being generated"
        if job.status != GenerationJob.Status.SUCCEEDED:
            return f"{version} {job.get_status_display().lower()}"
        clip = self.clip
        if clip is None or clip.status == "processing":
            return f"{version} is being analysed"
        if clip.status != "ready":
            return f"{version}'s clip failed"
        status = self.review_status
        if not status:
            return f"{version} has not entered review"
        return f"{version} is {status.replace('_', ' ')}"


@dataclass
class Cell:
    """One cell of a multi-shot brief: its shots in order and its cut, if one was made."""

    key: str
    shots: list[ShotState]
    cut: Variant | None = None
    cut_jobs: list[GenerationJob] = field(default_factory=list)

    @property
    def label(self) -> str:
        first = self.shots[0].variant
        return re.sub(r" · shot \d+$", "", first.label)

    @property
    def ready(self) -> bool:
        return all(shot.approved for shot in self.shots)

    @property
    def waiting(self) -> list[ShotState]:
        return [shot for shot in self.shots if not shot.approved]

    @property
    def latest_cut(self) -> GenerationJob | None:
        return self.cut_jobs[-1] if self.cut_jobs else None

    @property
    def assembling(self) -> bool:
        latest = self.latest_cut
        if latest is None:
            return False
        if latest.status in GenerationJob.ACTIVE:
            return True
        clip = getattr(latest, "clip", None)
        return latest.status == GenerationJob.Status.SUCCEEDED and (
            clip is None or clip.status == "processing"
        )

    @property
    def current(self) -> bool:
        """Whether the latest cut already joins exactly the shots' latest versions."""
        latest = self.latest_cut
        if latest is None or latest.status in (
            GenerationJob.Status.FAILED,
            GenerationJob.Status.CANCELED,
        ):
            return False
        clip = getattr(latest, "clip", None)
        if clip is not None and clip.status == "failed":
            return False
        joined = [part.shot_id for part in latest.sequence_parts.all()]
        return joined == [shot.job.pk for shot in self.shots if shot.job is not None]


def _cell_key(variant: Variant) -> str:
    return variant.cell_key.rsplit("-", 1)[0] if "-" in variant.cell_key else variant.cell_key


def brief_cells(*, brief: Brief) -> list[Cell]:
    """The cells of a multi-shot brief that have two or more shots, in brief order.

    Four queries whatever the number of cells (variants; their jobs with clip and review;
    the cut jobs' parts); none for a brief that is not multi-shot.
    """
    if not brief.multi_shot or brief.is_draft:
        return []
    jobs = GenerationJob.objects.select_related("clip", "clip__review").order_by("attempt")
    parts = SequencePart.objects.order_by("position")
    variants = (
        Variant.objects.filter(brief=brief)
        .filter(Q(is_cut=True) | Q(shot_index__isnull=False))
        .prefetch_related(
            Prefetch("jobs", queryset=jobs),
            Prefetch("jobs__sequence_parts", queryset=parts),
        )
        .order_by("position")
    )
    cells: dict[str, Cell] = {}
    cuts: dict[str, Variant] = {}
    for variant in variants:
        attempts = list(variant.jobs.all())
        if variant.is_cut:
            cuts[variant.cell_key] = variant
            variant.cut_attempts = attempts
            continue
        key = _cell_key(variant)
        cell = cells.setdefault(key, Cell(key=key, shots=[]))
        cell.shots.append(ShotState(variant=variant, job=attempts[-1] if attempts else None))
    found = []
    for key, cell in cells.items():
        if len(cell.shots) < 2:
            continue
        cell.shots.sort(key=lambda s: s.number)
        cut = cuts.get(key)
        if cut is not None:
            cell.cut, cell.cut_jobs = cut, cut.cut_attempts
        found.append(cell)
    return found


def brief_cut_panel(*, brief: Brief) -> dict[str, Any]:
    """The brief page's cuts panel: its cells, and whether a cut is being made (the panel
    polls until none is)."""
    cells = brief_cells(brief=brief)
    return {"cells": cells, "assembling": any(cell.assembling for cell in cells)}


@dataclass(frozen=True)
class Assembly:
    """What `cut_assemble` did: the cut's job, and whether this call queued it."""

    job: GenerationJob
    created: bool


@transaction.atomic
def cut_assemble(*, brief: Brief, cell_key: str, user: Any) -> Assembly:
    """Queue the join of a cell's approved shots as the next version of its cut.

    Locks the brief row, so two requests (a double click) make one cut: while a cut of the
    same shot versions exists or is being made, it is returned with `created=False`. A new
    version of any shot makes a new cut version; earlier cuts keep the parts they joined.
    Raises PermissionDenied for users who are not creators on the campaign and CutRefused
    naming each shot whose latest version is not approved.
    """
    if not can_create_brief(user=user, campaign=brief.campaign):
        raise PermissionDenied(f"{user} may not assemble cuts in {brief.campaign}")
    brief = Brief.objects.select_for_update().select_related("campaign").get(pk=brief.pk)
    cell = next((c for c in brief_cells(brief=brief) if c.key == cell_key), None)
    if cell is None:
        raise CutRefused("this brief has no multi-shot cell with that key")
    if not cell.ready:
        waiting = "; ".join(f"shot {s.number}: {s.waiting_for}" for s in cell.waiting)
        raise CutRefused(f"every shot must be approved before the cut is assembled ({waiting})")
    latest = cell.latest_cut
    if latest is not None and (latest.status in GenerationJob.ACTIVE or cell.current):
        return Assembly(job=latest, created=False)
    cut = cell.cut or _cut_variant(brief=brief, cell=cell)
    job = GenerationJob.objects.create(
        variant=cut,
        attempt=(cut.jobs.aggregate(n=Max("attempt"))["n"] or 0) + 1,
        provider=NAME,
        model=MODEL,
        request=_cut_request(brief=brief, cut=cut, cell=cell),
        requested_by=user,
        notes=", ".join(f"shot {s.number} v{s.job.attempt}" for s in cell.shots),
    )
    SequencePart.objects.bulk_create(
        SequencePart(cut=job, position=n, shot=shot.job)
        for n, shot in enumerate(cell.shots, start=1)
    )
    audit_record(
        action="cut.assemble",
        obj=job,
        actor=user,
        cell=cell.key,
        parts=[shot.job.pk for shot in cell.shots],
    )
    # The join is media work: its messages go to the media queue (GREENLIGHT_DRIVE_QUEUES),
    # this first one and any retry or re-drive alike.
    transaction.on_commit(partial(job_send_drive, job_id=job.pk, provider=job.provider))
    return Assembly(job=job, created=True)


def _cut_variant(*, brief: Brief, cell: Cell) -> Variant:
    first = cell.shots[0].variant
    base = _SHOT_SUFFIX.sub("", first.prompt)
    shots = [shot.variant.shot_list[0] if shot.variant.shot_list else "" for shot in cell.shots]
    try:
        with transaction.atomic():
            return Variant.objects.create(
                brief=brief,
                position=(brief.variants.aggregate(n=Max("position"))["n"] or 0) + 1,
                cell_key=cell.key,
                is_cut=True,
                hook=first.hook,
                axis_values=first.axis_values,
                aspect_ratio=first.aspect_ratio,
                duration_s=sum(shot.variant.duration_s for shot in cell.shots),
                language=first.language,
                resolution=first.resolution,
                prompt=f"{base}\nCut of shots 1–{len(cell.shots)}",
                script=first.script,
                shots="\n".join(s for s in shots if s),
                seed=first.seed,
            )
    except IntegrityError:
        # Made by a request that did not hold the brief lock (SQLite tests, admin): use it.
        return Variant.objects.get(brief=brief, cell_key=cell.key, is_cut=True)


def _cut_request(*, brief: Brief, cut: Variant, cell: Cell) -> dict[str, Any]:
    clips = [shot.clip for shot in cell.shots]
    duration = round(sum(clip.duration_s or 0.0 for clip in clips), 3)
    request = GenerationRequest(
        prompt=cut.prompt,
        script=cut.script,
        shots=tuple(cut.shot_list),
        title=brief.title,
        duration_s=duration,  # the parts' measured length, which QC compares the cut with
        aspect_ratio=cut.aspect_ratio,
        resolution=cut.resolution,
        language=cut.language,
        audio=any(clip.has_audio for clip in clips),
        seed=cut.seed,
        model=MODEL,
    ).as_dict()
    request["sequence"] = {
        "parts": [
            {
                "position": n,
                "shot": shot.number,
                "variant": shot.variant.position,
                "job": shot.job.pk,
                "version": shot.job.attempt,
                "clip": str(clip.uuid),
                "sha256": clip.sha256,
                "duration_s": clip.duration_s,
            }
            for n, (shot, clip) in enumerate(zip(cell.shots, clips, strict=True), start=1)
        ]
    }
    return request


def cut_parts(*, job: GenerationJob) -> list[SequencePart]:
    """The shot versions a cut job joined, in order, each with its job, variant and clip."""
    return list(
        SequencePart.objects.filter(cut=job)
        .select_related("shot__variant", "shot__clip", "shot__clip__review")
        .order_by("position")
    )
