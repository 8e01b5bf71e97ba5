"""Contract tests: each provider's official Python client against its loopback fake.

If the official client can drive a fake through submit, status, result and cancel, the fake
speaks the provider's protocol and not only Greenlight's reading of it; the adapter tests then
hold the adapter to the same fake.
"""

from tests.fakes.fixtures import (  # noqa: F401
    dashscope_fake,
    fake_video,
    fal_fake,
    replicate_fake,
    runway_fake,
)
