"""factory_boy factories for every model, with sensible defaults."""

from __future__ import annotations

import hashlib
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone as django_timezone

from assets.models import Clip
from generation.models import Brief, Campaign, GenerationJob, Membership, Variant
from review.models import Review, Stage, StageStep

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.test")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    budget_usd = None


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    campaign = factory.SubFactory(CampaignFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.REVIEWER


class BriefFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brief

    campaign = factory.SubFactory(CampaignFactory)
    title = factory.Sequence(lambda n: f"Brief {n}")
    # Most tests need a brief that has variants, which only a launched brief has.
    status = Brief.Status.LAUNCHED
    prompt = "A {hook} shot of a green bottle"
    script = "Spring is here."
    shots = "Spring is here\nFind it today"
    aspect_ratios = factory.LazyFunction(lambda: ["16:9"])
    durations = factory.LazyFunction(lambda: [3])
    languages = factory.LazyFunction(lambda: ["en"])
    resolution = "720p"
    provider = "animatic"
    model = "animatic-v1"


class VariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Variant

    brief = factory.SubFactory(BriefFactory)
    position = factory.Sequence(lambda n: n + 1)
    aspect_ratio = "16:9"
    duration_s = 3
    language = "en"
    resolution = "720p"
    prompt = "A shot of a green bottle"
    script = "Spring is here."


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenerationJob

    variant = factory.SubFactory(VariantFactory)
    attempt = 1
    provider = "animatic"
    model = "animatic-v1"
    status = GenerationJob.Status.QUEUED
    cost_estimate_usd = Decimal("0")
    request = factory.LazyAttribute(
        lambda j: {
            "prompt": j.variant.prompt,
            "script": j.variant.script,
            "duration_s": j.variant.duration_s,
            "aspect_ratio": j.variant.aspect_ratio,
            "resolution": j.variant.resolution,
            "language": j.variant.language,
            "shots": ["Spring is here"],
        }
    )

    class Params:
        succeeded = factory.Trait(
            status=GenerationJob.Status.SUCCEEDED,
            provider_request_id=factory.Sequence(lambda n: f"req{n:08x}"),
            output="jobs/1/video.mp4",
            cost_usd=Decimal("0"),
        )


class ClipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clip

    job = factory.SubFactory(JobFactory, succeeded=True)
    variant = factory.LazyAttribute(lambda c: c.job.variant)
    version = factory.LazyAttribute(lambda c: c.job.attempt)
    status = Clip.Status.READY
    file = "clips/sample/video.mp4"
    poster = "clips/sample/poster.jpg"
    duration_s = 3.0
    width, height = 1280, 720
    video_codec, audio_codec, has_audio = "h264", "aac", True
    sha256 = factory.Sequence(lambda n: hashlib.sha256(str(n).encode()).hexdigest())
    size_bytes = 1000


def default_stage(campaign: Campaign | None = None) -> Stage:
    """The first stage of `campaign` (copied from the templates when it has none)."""
    from review.services import campaign_stages

    return campaign_stages(campaign=campaign or CampaignFactory())[0]


class ReviewFactory(factory.django.DjangoModelFactory):
    """A review with its step: open at `stage` while the review is open."""

    class Meta:
        model = Review
        skip_postgeneration_save = True

    clip = factory.SubFactory(ClipFactory)
    stage = factory.LazyAttribute(lambda r: default_stage(r.clip.variant.brief.campaign))
    status = Review.Status.PENDING
    decided_at = factory.LazyAttribute(
        lambda r: None if r.status in Review.OPEN else django_timezone.now()
    )

    @factory.post_generation
    def _step(obj, create, extracted, **kwargs):
        if create and obj.stage_id is not None:
            StageStep.objects.create(
                review=obj,
                stage=obj.stage,
                status="open" if obj.is_open else "passed",
                closed_at=None if obj.is_open else obj.updated_at,
            )


def brief_form_data(**overrides) -> dict:
    """POST data for the brief form: two 3 s variants (16:9 and 9:16) in English.

    `script` sets the English script (`script_en`); other languages take `script_<code>`.
    """
    data = {
        "title": "Launch teaser",
        "prompt": "A green bottle on a table, {aspect_ratio}",
        "script_en": "Fresh and bright.",
        "shots": "Fresh\nBright",
        "aspect_ratios": ["16:9", "9:16"],
        "durations": "3",
        "languages": ["en"],
        "resolution": "720p",
        "model": "animatic:animatic-v1",
    }
    if "script" in overrides:
        data["script_en"] = overrides.pop("script")
    data.update(overrides)
    return data


def launch_brief(client, brief_form: dict, campaign_slug: str):
    """Post the brief form, then launch the draft with every cell ticked; return the launch
    response."""
    from django.urls import reverse

    saved = client.post(reverse("generation:brief_create", args=[campaign_slug]), brief_form)
    assert saved.status_code == 302, saved.content[:3000]
    brief = Brief.objects.latest("pk")
    return client.post(reverse("generation:brief_launch", args=[brief.pk]))


def launch_shot_brief(*, campaign: Campaign, creator, title: str, shots: list[str]) -> Brief:
    """Launch a multi-shot animatic brief (one 16:9, 3 s, English cell): one variant a shot."""
    from generation import services

    return services.brief_create(
        campaign=campaign,
        user=creator,
        data=services.BriefInput(
            title=title,
            prompt="A bright kitchen",
            script="Good morning.",
            shots="\n".join(shots),
            hooks=[],
            aspect_ratios=["16:9"],
            durations=[3],
            languages=["en"],
            resolution="720p",
            provider="animatic",
            model="animatic-v1",
            multi_shot=True,
        ),
    )
