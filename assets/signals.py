"""Signals that let the review app react to media without assets importing it."""

from django.dispatch import Signal

# Sent inside the transaction that marks a clip ready; kwargs: clip.
clip_ready = Signal()
