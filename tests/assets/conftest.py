"""The media fixtures live in tests/conftest.py; test_media.py imports its names from here."""

from tests.conftest import DURATION_S, MediaFiles

__all__ = ["DURATION_S", "MediaFiles"]
