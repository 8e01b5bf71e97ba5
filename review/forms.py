from __future__ import annotations

from django import forms

from review.models import Decision, NotificationPreference, RejectReason


class DecisionForm(forms.Form):
    """A verdict at one stage step: the step the reviewer saw travels with the form."""

    outcome = forms.ChoiceField(choices=Decision.Outcome.choices)
    step = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    reason = forms.ModelChoiceField(
        queryset=RejectReason.objects.filter(active=True),
        required=False,
        empty_label="Choose a reason…",
        label="Reason",
    )
    note = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=4000,
        required=False,
        label="Note",
    )

    def clean(self) -> dict:
        data = super().clean()
        outcome = data.get("outcome")
        needs_reason = outcome in (Decision.Outcome.REJECT, Decision.Outcome.REQUEST_CHANGES)
        note = data.get("note", "").strip()
        if needs_reason and not note and data.get("reason") is not None:
            # A reason from the list is enough; it becomes the note the creator reads.
            data["note"] = note = data["reason"].label
        if needs_reason and not note:
            self.add_error("note", "Say why: a rejection or change request needs a reason.")
        return data


class PreferenceForm(forms.Form):
    DEFAULT = NotificationPreference.Email.DIGEST

    email = forms.ChoiceField(
        choices=NotificationPreference.Email.choices,
        widget=forms.RadioSelect,
        label="Review email",
    )
