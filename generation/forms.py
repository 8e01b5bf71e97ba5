from __future__ import annotations

from django import forms

from generation.matrix import (
    ASPECT_RATIOS,
    LANGUAGES,
    MAX_DURATION_S,
    MAX_VARIANTS,
    MIN_DURATION_S,
    RESOLUTIONS,
    TemplateError,
    matrix_count,
    template_check,
)
from generation.providers import provider_names
from generation.services import BriefInput


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


class BriefForm(forms.Form):
    title = forms.CharField(max_length=200)
    prompt = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=4000,
        help_text="May use {hook}, {language}, {aspect_ratio}, {duration}, {title}, {campaign}.",
    )
    script = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
        help_text="Voice-over, spoken in each variant's language. Same fields as the prompt.",
    )
    shots = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=2000,
        required=False,
        help_text="One shot per line: the text shown on screen.",
    )
    hooks = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,
        help_text="Optional: one opening hook per line; each makes its own variants.",
    )
    aspect_ratios = forms.MultipleChoiceField(
        choices=ASPECT_RATIOS, widget=forms.CheckboxSelectMultiple, initial=["16:9"]
    )
    durations = forms.CharField(
        max_length=100,
        initial="6",
        help_text=f"Seconds, {MIN_DURATION_S}–{MAX_DURATION_S}, separated by commas: 6, 10",
    )
    languages = forms.MultipleChoiceField(
        choices=LANGUAGES, widget=forms.CheckboxSelectMultiple, initial=["en"]
    )
    resolution = forms.ChoiceField(choices=RESOLUTIONS, initial="720p")
    provider = forms.ChoiceField(choices=())
    model = forms.CharField(max_length=120, required=False, help_text="Empty: the default.")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = provider_names()

    def _clean_template(self, name: str) -> str:
        value = self.cleaned_data.get(name, "")
        try:
            template_check(value)
        except TemplateError as exc:
            raise forms.ValidationError(str(exc)) from None
        return value

    def clean_prompt(self) -> str:
        return self._clean_template("prompt")

    def clean_script(self) -> str:
        return self._clean_template("script")

    def clean_hooks(self) -> list[str]:
        hooks = _lines(self.cleaned_data.get("hooks", ""))
        if len(set(hooks)) != len(hooks):
            raise forms.ValidationError("each hook may appear once")
        return hooks

    def clean_durations(self) -> list[int]:
        raw = [p.strip() for p in self.cleaned_data["durations"].replace(";", ",").split(",")]
        values = []
        for part in filter(None, raw):
            if not part.isdigit() or not MIN_DURATION_S <= int(part) <= MAX_DURATION_S:
                raise forms.ValidationError(
                    f"{part!r} is not a whole number of seconds from {MIN_DURATION_S} to "
                    f"{MAX_DURATION_S}"
                )
            if int(part) not in values:
                values.append(int(part))
        if not values:
            raise forms.ValidationError("give at least one duration")
        return values

    def clean(self) -> dict:
        data = super().clean()
        axes = {name: data.get(name) for name in ("aspect_ratios", "durations", "languages")}
        if all(axes.values()):
            count = matrix_count(hooks=data.get("hooks") or [], **axes)
            if count > MAX_VARIANTS:
                raise forms.ValidationError(
                    f"these choices make {count} variants; one brief may hold at most "
                    f"{MAX_VARIANTS}. Choose fewer hooks, formats, durations or languages."
                )
        return data

    def to_input(self) -> BriefInput:
        d = self.cleaned_data
        return BriefInput(
            title=d["title"],
            prompt=d["prompt"],
            script=d["script"],
            shots="\n".join(_lines(d["shots"])),
            hooks=d["hooks"],
            aspect_ratios=d["aspect_ratios"],
            durations=d["durations"],
            languages=d["languages"],
            resolution=d["resolution"],
            provider=d["provider"],
            model=d["model"],
        )
