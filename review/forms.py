from __future__ import annotations

from django import forms

from review.models import Decision


class DecisionForm(forms.Form):
    outcome = forms.ChoiceField(choices=Decision.Outcome.choices)
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
        required=False,
        label="Reason",
    )

    def clean(self) -> dict:
        data = super().clean()
        outcome = data.get("outcome")
        if outcome and outcome != Decision.Outcome.APPROVE and not data.get("note", "").strip():
            self.add_error("note", "Say why: a rejection or change request needs a reason.")
        return data
