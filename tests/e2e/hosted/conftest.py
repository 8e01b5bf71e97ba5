from tests.fakes.fixtures import (  # noqa: F401
    dashscope_fake,
    fake_video,
    fal_fake,
    replicate_fake,
    runway_fake,
)
