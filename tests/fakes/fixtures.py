"""pytest fixtures starting each provider fake and pointing Greenlight's settings at it.

Test packages that use them import the fixtures into their conftest.py. `fake.env()` gives the
environment a worker subprocess needs to reach the same fake.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from generation.providers import fal as fal_adapter
from tests.fakes.dashscope import DashScopeFake
from tests.fakes.fal import FalFake
from tests.fakes.replicate import SECRET as REPLICATE_SECRET
from tests.fakes.replicate import ReplicateFake
from tests.fakes.runway import RunwayFake

FAL_KEY = "fal-test-key-id:fal-test-key-secret"
DASHSCOPE_KEY = "sk-dashscope-test-key"
REPLICATE_TOKEN = "r8_replicate_test_token"
RUNWAY_SECRET = "key_runway_test_secret"


@pytest.fixture
def fake_video(media_files) -> bytes:
    return media_files.faststart.read_bytes()


def _point(settings, name: str, url: str) -> None:
    settings.GREENLIGHT_PROVIDER_URLS = {**settings.GREENLIGHT_PROVIDER_URLS, name: url}


@pytest.fixture
def fal_fake(settings, fake_video) -> Iterator[FalFake]:
    fake = FalFake(video=fake_video).start()
    _point(settings, "fal", fake.origin)
    _point(settings, "fal_jwks", fake.jwks_url)
    settings.FAL_KEY = FAL_KEY
    settings.FAL_WEBHOOK_USER_ID = fake.user_id
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.env = lambda: {
        "FAL_QUEUE_URL": fake.origin,
        "FAL_JWKS_URL": fake.jwks_url,
        "FAL_KEY": FAL_KEY,
        "FAL_WEBHOOK_USER_ID": fake.user_id,
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
    }
    fal_adapter.clear_webhook_keys()
    yield fake
    fake.stop()
    fal_adapter.clear_webhook_keys()


@pytest.fixture
def dashscope_fake(settings, fake_video) -> Iterator[DashScopeFake]:
    fake = DashScopeFake(video=fake_video).start()
    _point(settings, "dashscope", fake.base_url)
    settings.DASHSCOPE_API_KEY = DASHSCOPE_KEY
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.env = lambda: {
        "DASHSCOPE_BASE_URL": fake.base_url,
        "DASHSCOPE_API_KEY": DASHSCOPE_KEY,
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
    }
    yield fake
    fake.stop()


@pytest.fixture
def replicate_fake(settings, fake_video) -> Iterator[ReplicateFake]:
    fake = ReplicateFake(video=fake_video).start()
    _point(settings, "replicate", fake.base_url)
    settings.REPLICATE_API_TOKEN = REPLICATE_TOKEN
    settings.REPLICATE_WEBHOOK_SECRET = REPLICATE_SECRET
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.env = lambda: {
        "REPLICATE_BASE_URL": fake.base_url,
        "REPLICATE_API_TOKEN": REPLICATE_TOKEN,
        "REPLICATE_WEBHOOK_SECRET": REPLICATE_SECRET,
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
    }
    yield fake
    fake.stop()


@pytest.fixture
def runway_fake(settings, fake_video) -> Iterator[RunwayFake]:
    fake = RunwayFake(video=fake_video).start()
    _point(settings, "runway", fake.base_url)
    settings.RUNWAYML_API_SECRET = RUNWAY_SECRET
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]
    fake.env = lambda: {
        "RUNWAY_BASE_URL": fake.base_url,
        "RUNWAYML_API_SECRET": RUNWAY_SECRET,
        "GREENLIGHT_DOWNLOAD_TEST_HOSTS": "127.0.0.1",
    }
    yield fake
    fake.stop()
