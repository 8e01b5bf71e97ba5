from django.dispatch import receiver

from assets.signals import clip_ready
from review import services


@receiver(clip_ready)
def open_review(sender, clip, **kwargs) -> None:
    services.review_open(clip=clip)
