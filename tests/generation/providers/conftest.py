from tests.fakes.fixtures import fake_video, fal_fake  # noqa: F401
