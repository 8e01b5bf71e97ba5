from __future__ import annotations

from django import forms

from generation.matrix import ASPECT_RATIOS, LANGUAGES
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
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Note for the creator…"}),
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


class QueueFilterForm(forms.Form):
    """The queue's filters (GET); an unknown value is a form error, shown above the list."""

    scope = forms.ChoiceField(
        choices=[("mine", "Waiting for me"), ("all", "All open")], required=False
    )
    campaign = forms.SlugField(required=False)
    brief = forms.IntegerField(required=False, min_value=1)
    stage = forms.CharField(required=False, max_length=80)
    tag = forms.CharField(required=False, max_length=40)
    language = forms.ChoiceField(choices=[("", "Any language"), *LANGUAGES], required=False)
    aspect = forms.ChoiceField(choices=[("", "Any aspect"), *ASPECT_RATIOS], required=False)
    qc = forms.ChoiceField(
        choices=[
            ("", "Any QC"),
            ("findings", "QC findings"),
            ("passed", "QC passed"),
            ("black", "Black frames"),
            ("silence", "Silence"),
            ("freeze", "Frozen picture"),
            ("loudness", "Loudness off"),
            ("true_peak", "True peak over"),
            ("audio_missing", "No audio"),
            ("duration", "Duration off"),
            ("aspect_ratio", "Aspect off"),
            ("resolution", "Resolution off"),
        ],
        required=False,
    )
    sort = forms.ChoiceField(
        choices=[
            ("oldest", "Oldest first"),
            ("newest", "Newest first"),
            ("due", "Due soonest"),
            ("campaign", "Campaign"),
        ],
        required=False,
    )


class TagForm(forms.Form):
    name = forms.CharField(max_length=40, label="Tag")


class CommentForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=4000, label="Comment"
    )
    at_s = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
    end_s = forms.FloatField(required=False, min_value=0, widget=forms.HiddenInput)
    parent = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    drawing = forms.JSONField(required=False, widget=forms.HiddenInput)


class GuestForm(forms.Form):
    name = forms.CharField(max_length=120, label="Your name")
    email = forms.EmailField(label="Your email")
    password = forms.CharField(
        widget=forms.PasswordInput, required=False, label="Password", max_length=200
    )


class ShareForm(forms.Form):
    days = forms.IntegerField(min_value=1, max_value=30, initial=7, label="Works for (days)")
    password = forms.CharField(
        required=False, max_length=200, widget=forms.PasswordInput, label="Password (optional)"
    )
    label = forms.CharField(required=False, max_length=120, label="Label")
