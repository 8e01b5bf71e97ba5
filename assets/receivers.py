from django.dispatch import receiver

from assets import services
from generation.signals import job_succeeded


@receiver(job_succeeded)
def create_clip(sender, job, **kwargs) -> None:
    services.clip_create_for_job(job=job)
