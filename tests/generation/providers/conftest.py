from tests.fakes.fixtures import dashscope_fake, fake_video, fal_fake  # noqa: F401
