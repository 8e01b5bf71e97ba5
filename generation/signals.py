"""Signals that let later apps react to generation without generation importing them."""

from django.dispatch import Signal

# Sent inside the transaction that marks a job succeeded; kwargs: job.
job_succeeded = Signal()
