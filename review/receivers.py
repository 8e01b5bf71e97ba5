from django.db.models.signals import post_save
from django.dispatch import receiver

from assets.signals import clip_ready
from generation.models import Campaign
from review import services


@receiver(clip_ready)
def open_review(sender, clip, **kwargs) -> None:
    services.review_open(clip=clip)


@receiver(post_save, sender=Campaign)
def copy_stage_templates(sender, instance, created, raw=False, **kwargs) -> None:
    """A new campaign starts with a copy of the stage templates ops manage."""
    if created and not raw:
        services.stages_copy_templates(campaign=instance)
