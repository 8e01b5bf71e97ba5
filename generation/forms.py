from __future__ import annotations

import re

from django import forms
from django.conf import settings

from generation import providers
from generation.matrix import (
    ASPECT_RATIOS,
    AXIS_NAME,
    BUILTIN_SLOTS,
    LANGUAGE_NAMES,
    LANGUAGES,
    MAX_AXIS_VALUE_CHARS,
    MAX_DURATION_S,
    MIN_DURATION_S,
    RESOLUTIONS,
    Axis,
    TemplateError,
    matrix_count,
    template_check,
)
from generation.models import Brief
from generation.providers.capabilities import Mode, ModelSpec, all_models
from generation.references import (
    ReferenceRejected,
    reference_clean,
    reference_limit,
    takes_images,
)
from generation.services import BriefInput

AXIS_ROWS = 3
# Each on-screen shot needs half a second or it flashes by unread.
SHOTS_PER_SECOND = 2
_ASCII_DIGITS = re.compile(r"[0-9]+")


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def model_key(spec: ModelSpec) -> str:
    return f"{spec.provider}:{spec.model}"


def unconfigured_providers() -> set[str]:
    """Providers whose credentials are not set: listed in the form, never used."""
    return {name for name, cls in providers.provider_classes().items() if not cls().is_configured()}


def model_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every registered model, grouped under its provider's label, as "provider:model"; a
    provider without credentials says so in its group's label."""
    missing = unconfigured_providers()
    labels = {
        name: f"{cls.label} — not configured" if name in missing else cls.label
        for name, cls in providers.provider_classes().items()
    }
    groups: dict[str, list[tuple[str, str]]] = {}
    for spec in all_models():
        if spec.provider not in labels:
            continue
        groups.setdefault(labels[spec.provider], []).append((model_key(spec), spec.label))
    return list(groups.items())


def model_capabilities() -> dict[str, dict]:
    """What each model can do, for the form's script to grey out what it cannot."""
    return {
        model_key(spec): {
            "durations": list(spec.durations),
            "aspect_ratios": list(spec.aspect_ratios),
            "resolutions": list(spec.resolutions),
            "languages": None if spec.languages is None else list(spec.languages),
            "image": Mode.IMAGE in spec.modes or Mode.REFERENCE in spec.modes,
            "min_image_side": spec.min_image_side,
        }
        for spec in all_models()
    }


def _axis_rows(data, initial) -> int:
    """Three axis rows, or as many as the posted data or the saved brief already has (a brief
    written through the API may hold more), so editing never drops an axis."""
    numbers = [
        int(m.group(1))
        for key in [*data.keys(), *initial.keys()]
        if (m := re.fullmatch(r"axis_(\d{1,2})_name", key))
    ]
    return max([AXIS_ROWS, *numbers])


def _specs() -> dict[str, ModelSpec]:
    return {model_key(spec): spec for spec in all_models()}


def _span(values) -> str:
    ordered = sorted(values)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}–{ordered[-1]}"
    return ", ".join(str(v) for v in ordered)


class MultipleImageInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleImageField(forms.FileField):
    """Any number of uploaded files (the model says how many it takes)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault(
            "widget", MultipleImageInput(attrs={"accept": "image/jpeg,image/png,image/webp"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        if isinstance(data, list | tuple):
            return [super(MultipleImageField, self).clean(d, initial) for d in data if d]
        return [super().clean(data, initial)] if data else []


class BriefForm(forms.Form):
    """A brief's creative intent: templates, named axes, formats, languages and their scripts.

    Only what the chosen model can do passes: durations, formats, resolution, languages and a
    reference image are checked against its entry in the capability registry.
    """

    title = forms.CharField(max_length=200)
    model = forms.ChoiceField(
        label="Model", help_text="Provider and model; the choices below follow what it can do."
    )
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="Use an axis by name, e.g. {hook}; also {language}, {aspect_ratio}, "
        "{duration}, {title}, {campaign}. Write {{ and }} for literal braces.",
    )
    shots = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
        help_text="One shot per line: the text shown on screen (half a second each at least).",
    )
    multi_shot = forms.BooleanField(
        required=False,
        label="Generate each shot as its own clip",
        help_text="The shots of one variant share its seed and references, are reviewed one by "
        "one and joined once approved.",
    )
    aspect_ratios = forms.MultipleChoiceField(
        choices=ASPECT_RATIOS, widget=forms.CheckboxSelectMultiple, initial=["16:9"]
    )
    durations = forms.CharField(
        max_length=100,
        initial="6",
        help_text=f"Seconds, {MIN_DURATION_S}–{MAX_DURATION_S}, separated by commas: 6, 10",
    )
    resolution = forms.ChoiceField(choices=RESOLUTIONS, initial="720p")
    languages = forms.MultipleChoiceField(
        choices=LANGUAGES, widget=forms.CheckboxSelectMultiple, initial=["en"]
    )
    reference = MultipleImageField(
        required=False,
        label="Reference images",
        help_text="JPEG, PNG or WEBP, for models with image input. Stored without metadata.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        choices = model_choices()
        self.fields["model"].choices = choices
        if choices and choices[0][1]:
            default = f"{settings.GREENLIGHT_DEFAULT_PROVIDER}:"
            keys = [key for _group, options in choices for key, _label in options]
            self.fields["model"].initial = next((k for k in keys if k.startswith(default)), keys[0])
        self.axis_count = _axis_rows(self.data, self.initial)
        for row in range(1, self.axis_count + 1):
            self.fields[f"axis_{row}_name"] = forms.CharField(
                max_length=30,
                required=False,
                label=f"Axis {row} name",
                widget=forms.TextInput(
                    attrs={"placeholder": ("hook", "scene", "offer")[row - 1] if row <= 3 else ""}
                ),
            )
            self.fields[f"axis_{row}_values"] = forms.CharField(
                max_length=20000,
                required=False,
                label=f"Axis {row} values",
                widget=forms.Textarea(attrs={"rows": 3, "placeholder": "One value per line"}),
            )
        for code, name in LANGUAGES:
            self.fields[f"script_{code}"] = forms.CharField(
                max_length=2000,
                required=False,
                label=f"{name} script",
                widget=forms.Textarea(attrs={"rows": 2, "lang": code}),
                help_text=f"Voice-over spoken in {name}; same slots as the prompt.",
            )

    # --- layout helpers for the template

    def axis_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"axis_{row}_name"], self[f"axis_{row}_values"])
            for row in range(1, self.axis_count + 1)
        ]

    def script_fields(self) -> list[tuple[str, forms.BoundField]]:
        return [(code, self[f"script_{code}"]) for code, _name in LANGUAGES]

    def capabilities(self) -> dict[str, dict]:
        return model_capabilities()

    @classmethod
    def initial_for(cls, brief: Brief) -> dict:
        """The form's initial data from a saved brief, so a draft can be edited."""
        data = {
            "title": brief.title,
            "model": f"{brief.provider}:{brief.model}",
            "prompt": brief.prompt,
            "shots": brief.shots,
            "multi_shot": brief.multi_shot,
            "aspect_ratios": brief.aspect_ratios,
            "durations": ", ".join(str(d) for d in brief.durations),
            "resolution": brief.resolution,
            "languages": brief.languages,
        }
        for row, axis in enumerate(brief.axis_list, start=1):
            data[f"axis_{row}_name"] = axis.name
            data[f"axis_{row}_values"] = "\n".join(axis.values)
        for code in brief.languages:
            data[f"script_{code}"] = brief.script_for(code)
        return data

    # --- field cleaning

    def clean_durations(self) -> list[int]:
        raw = re.split(r"[,;\s]+", self.cleaned_data["durations"])
        values: list[int] = []
        bad: list[str] = []
        for part in filter(None, raw):
            # str.isdigit() is true for "²" and "٣"; only ASCII digits are seconds here.
            if not _ASCII_DIGITS.fullmatch(part) or not (
                MIN_DURATION_S <= int(part) <= MAX_DURATION_S
            ):
                if part not in bad:
                    bad.append(part)
                continue
            if int(part) not in values:
                values.append(int(part))
        if bad:
            shown = ", ".join(repr(p) for p in bad)
            verb = "is not a whole number" if len(bad) == 1 else "are not whole numbers"
            raise forms.ValidationError(
                f"{shown} {verb} of seconds from {MIN_DURATION_S} to {MAX_DURATION_S}"
            )
        if not values:
            raise forms.ValidationError("give at least one duration")
        return values

    def _clean_axes(self) -> list[Axis]:
        axes: list[Axis] = []
        names: set[str] = set()
        for row in range(1, self.axis_count + 1):
            name_key, values_key = f"axis_{row}_name", f"axis_{row}_values"
            name = (self.cleaned_data.get(name_key) or "").strip()
            values = _lines(self.cleaned_data.get(values_key) or "")
            if not name and not values:
                continue
            if not name:
                self.add_error(name_key, "name this axis, e.g. hook, scene or offer")
                continue
            if not AXIS_NAME.fullmatch(name):
                self.add_error(
                    name_key,
                    "start with a lowercase letter; use only lowercase letters, digits and _",
                )
                continue
            if name in BUILTIN_SLOTS:
                self.add_error(name_key, f"{{{name}}} is filled by Greenlight; pick another name")
                continue
            if name in names:
                self.add_error(name_key, f"axis {name!r} is named twice")
                continue
            if not values:
                self.add_error(values_key, f"give axis {name!r} at least one value, one per line")
                continue
            long = [i for i, v in enumerate(values, start=1) if len(v) > MAX_AXIS_VALUE_CHARS]
            if long:
                self.add_error(
                    values_key,
                    f"value {', '.join(map(str, long))} is longer than "
                    f"{MAX_AXIS_VALUE_CHARS} characters",
                )
                continue
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                self.add_error(values_key, f"each value may appear once: {dupes[0]!r} repeats")
                continue
            names.add(name)
            axes.append(Axis(name=name, values=tuple(values)))
        return axes

    def clean(self) -> dict:
        data = super().clean()
        axes = self._clean_axes()
        data["axes"] = axes
        spec = _specs().get(data.get("model", ""))
        if spec is not None and spec.provider in unconfigured_providers():
            label = providers.provider_classes()[spec.provider].label
            self.add_error(
                "model",
                f"{label} is not configured on this Greenlight: ops set its credentials in the "
                "environment (README, Hosted providers). Pick another model meanwhile.",
            )
            spec = None
        if spec is not None:
            self._check_model(spec, data)
        uploads = data.get("reference") or []
        data["reference"] = []
        if uploads and spec is not None:
            limit = reference_limit(spec)
            if limit and len(uploads) > limit:
                self.add_error(
                    "reference", f"{spec.label} takes at most {limit} reference image(s)"
                )
                uploads = []
            for upload in uploads:
                try:
                    data["reference"].append(reference_clean(upload, spec=spec, name=upload.name))
                except ReferenceRejected as exc:
                    self.add_error("reference", f"{upload.name}: {exc}")
        slots = (*[a.name for a in axes], *BUILTIN_SLOTS)
        self._check_template("prompt", data.get("prompt", ""), slots)
        languages = data.get("languages") or []
        scripts = {}
        for code in languages:
            text = (data.get(f"script_{code}") or "").strip()
            if text and self._check_template(f"script_{code}", text, slots):
                scripts[code] = text
        data["scripts"] = scripts
        durations = data.get("durations") or []
        shots = _lines(data.get("shots", ""))
        if data.get("multi_shot") and not shots:
            self.add_error("shots", "write the shots to generate one by one, one per line")
        elif data.get("multi_shot"):
            data["shot_count"] = len(shots)
        elif durations and len(shots) > min(durations) * SHOTS_PER_SECOND:
            shortest = min(durations)
            self.add_error(
                "shots",
                f"{len(shots)} shots do not fit in a {shortest} s clip: at most "
                f"{shortest * SHOTS_PER_SECOND}, half a second each. Use fewer shots or "
                "longer durations.",
            )
        aspects = data.get("aspect_ratios") or []
        if aspects and durations and languages:
            count = matrix_count(
                axes=axes, aspect_ratios=aspects, durations=durations, languages=languages
            )
            count *= data.get("shot_count") or 1
            ceiling = settings.GREENLIGHT_BRIEF_MAX_CELLS
            if count > ceiling:
                raise forms.ValidationError(
                    f"these choices make {count} combinations; a brief may list at most "
                    f"{ceiling} (and launch at most {settings.GREENLIGHT_BRIEF_MAX_VARIANTS}). "
                    "Use fewer axis values, formats, durations or languages."
                )
        return data

    def _check_template(self, name: str, value: str, slots) -> bool:
        try:
            template_check(value, slots)
        except TemplateError as exc:
            self.add_error(name, str(exc))
            return False
        return True

    def _check_model(self, spec: ModelSpec, data: dict) -> None:
        durations = data.get("durations") or []
        bad = [d for d in durations if d not in spec.durations]
        if bad:
            self.add_error(
                "durations",
                f"{spec.label} makes clips of {_span(spec.durations)} seconds, not "
                f"{', '.join(map(str, bad))}",
            )
        bad = [a for a in data.get("aspect_ratios") or [] if a not in spec.aspect_ratios]
        if bad:
            self.add_error(
                "aspect_ratios",
                f"{spec.label} supports {', '.join(spec.aspect_ratios)}, not {', '.join(bad)}",
            )
        resolution = data.get("resolution")
        if resolution and resolution not in spec.resolutions:
            self.add_error(
                "resolution",
                f"{spec.label} renders {', '.join(spec.resolutions)}, not {resolution}",
            )
        if spec.languages is not None:
            bad = [c for c in data.get("languages") or [] if c not in spec.languages]
            if bad:
                names = ", ".join(LANGUAGE_NAMES.get(c, c) for c in bad)
                self.add_error("languages", f"{spec.label} does not speak {names}")

    def references(self) -> list:
        """The validated, re-encoded reference images the form carried."""
        return list(self.cleaned_data.get("reference") or [])

    def to_input(self) -> BriefInput:
        d = self.cleaned_data
        provider, _, model = d["model"].partition(":")
        return BriefInput(
            title=d["title"],
            prompt=d["prompt"],
            script="",
            shots="\n".join(_lines(d["shots"])),
            hooks=[],
            axes=tuple(d["axes"]),
            scripts=d["scripts"],
            aspect_ratios=d["aspect_ratios"],
            durations=d["durations"],
            languages=d["languages"],
            resolution=d["resolution"],
            provider=provider,
            model=model,
            multi_shot=bool(d.get("multi_shot")),
        )


class VariantReviseForm(forms.Form):
    """The next version of one variant: its prompt, script and shots, prefilled for editing."""

    prompt = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=6000)
    script = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), max_length=4000, required=False
    )
    shots = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=2000,
        required=False,
        help_text="One shot per line.",
    )
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
        required=False,
        label="What changes and why",
        help_text="Kept beside the new version; the reviewer's notes are prefilled.",
    )
    pin_seed = forms.BooleanField(
        required=False,
        label="Keep the same seed",
        help_text="Off: the new version takes a new seed, so it looks different.",
    )
    reference = forms.FileField(
        required=False,
        label="Reference image for this variant",
        help_text="JPEG, PNG or WEBP; replaces the brief's image for this variant only.",
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}),
    )

    def __init__(self, *args, duration_s: int, spec: ModelSpec | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.duration_s = duration_s
        self.spec = spec
        if spec is None or not takes_images(spec):
            del self.fields["reference"]

    def clean_reference(self):
        upload = self.cleaned_data.get("reference")
        if not upload:
            return None
        try:
            return reference_clean(upload, spec=self.spec, name=upload.name)
        except ReferenceRejected as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_shots(self) -> str:
        shots = _lines(self.cleaned_data.get("shots", ""))
        limit = self.duration_s * SHOTS_PER_SECOND
        if len(shots) > limit:
            raise forms.ValidationError(
                f"{len(shots)} shots do not fit in a {self.duration_s} s clip: at most {limit}, "
                "half a second each"
            )
        return "\n".join(shots)


class LocalizeForm(forms.Form):
    """Language versions of one clip: a script per language; the filled ones are made."""

    def __init__(self, *args, languages: list[str], initial_scripts: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.languages = languages
        for code in languages:
            self.fields[f"script_{code}"] = forms.CharField(
                max_length=2000,
                required=False,
                label=f"{LANGUAGE_NAMES.get(code, code)} script",
                initial=initial_scripts.get(code, ""),
                widget=forms.Textarea(attrs={"rows": 2, "lang": code}),
            )

    def clean(self) -> dict:
        data = super().clean()
        data["scripts"] = {
            code: data[f"script_{code}"].strip()
            for code in self.languages
            if (data.get(f"script_{code}") or "").strip()
        }
        if not data["scripts"] and not self.errors:
            raise forms.ValidationError("write the script of at least one language")
        return data
