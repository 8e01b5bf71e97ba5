"""The provider layer's download: https only, SSRF-checked, capped, expired URLs named."""

from __future__ import annotations

import socket
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from generation.providers import download
from generation.providers.base import (
    ErrorKind,
    MalformedResponse,
    ProviderError,
    ResultExpired,
    TransientError,
)
from generation.providers.download import UnsafeURL, copy_local, fetch_remote
from tests.generation.conftest import VIDEO, _Handler


@pytest.fixture
def test_hosts(settings):
    settings.GREENLIGHT_DOWNLOAD_TEST_HOSTS = ["127.0.0.1"]


def _fetch(url: str, target: Path, max_bytes: int = 10**6) -> int:
    return fetch_remote(url, target, max_bytes=max_bytes, deadline_s=30)


def test_fetch_200(http_base, test_hosts, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    assert _fetch(f"{http_base}/video.mp4", target, max_bytes=len(VIDEO)) == len(VIDEO)
    assert target.read_bytes() == VIDEO


def test_redirects_are_followed_and_rechecked(http_base, test_hosts, tmp_path: Path) -> None:
    target = tmp_path / "out.mp4"
    _fetch(f"{http_base}/redirect-to/video.mp4", target)
    assert target.read_bytes() == VIDEO
    # A redirect to the cloud metadata address is refused at that hop.
    with pytest.raises(UnsafeURL, match="169.254.169.254"):
        _fetch(f"{http_base}/redirect-internal", tmp_path / "x")
    with pytest.raises(UnsafeURL, match="redirects"):
        _fetch(f"{http_base}/loop", tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


@pytest.mark.parametrize("path", ["/expired.mp4", "/gone.mp4", "/forbidden.mp4"])
def test_fetch_expired(http_base, test_hosts, tmp_path: Path, path: str) -> None:
    with pytest.raises(ResultExpired) as excinfo:
        _fetch(f"{http_base}{path}", tmp_path / "out.mp4")
    assert excinfo.value.kind == ErrorKind.EXPIRED
    assert excinfo.value.code == "result_expired"
    assert not (tmp_path / "out.mp4").exists()


def test_fetch_500_is_transient(http_base, test_hosts, tmp_path: Path) -> None:
    with pytest.raises(TransientError) as excinfo:
        _fetch(f"{http_base}/boom.mp4", tmp_path / "out.mp4")
    assert "500" in str(excinfo.value)


def test_fetch_too_large_leaves_no_partial_file(http_base, test_hosts, tmp_path: Path) -> None:
    with pytest.raises(ProviderError) as excinfo:
        _fetch(f"{http_base}/video.mp4", tmp_path / "out.mp4", max_bytes=1000)
    assert excinfo.value.code == "too_large"
    assert not (tmp_path / "out.mp4").exists()


def test_fetch_connection_refused_is_transient(test_hosts, tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    server.server_close()
    with pytest.raises(TransientError):
        _fetch(f"http://127.0.0.1:{port}/video.mp4", tmp_path / "out")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/v.mp4",  # plain http to a real host
        "file:///etc/passwd",
        "ftp://example.test/v.mp4",
        "https://user:secret@example.com/v.mp4",
        "https:///v.mp4",
    ],
)
def test_only_https_urls_without_credentials(url: str, tmp_path: Path) -> None:
    with pytest.raises(UnsafeURL):
        _fetch(url, tmp_path / "out")


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "fd00::1",
    ],
)
def test_names_resolving_to_private_addresses_are_refused(monkeypatch, address, tmp_path) -> None:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET

    def resolve(host, port, **kwargs):
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(download.socket, "getaddrinfo", resolve)
    with pytest.raises(UnsafeURL) as excinfo:
        _fetch("https://cdn.example.com/v.mp4", tmp_path / "out")
    assert excinfo.value.code == "ssrf_blocked"


def test_one_private_address_among_public_ones_is_refused(monkeypatch, tmp_path) -> None:
    def resolve(host, port, **kwargs):
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port)),
        ]

    monkeypatch.setattr(download.socket, "getaddrinfo", resolve)
    with pytest.raises(UnsafeURL, match="10.0.0.5"):
        _fetch("https://cdn.example.com/v.mp4", tmp_path / "out")


def test_copy_local_stays_inside_the_provider_folder(tmp_path: Path) -> None:
    root = tmp_path / "provider"
    root.mkdir()
    source = root / "source.mp4"
    source.write_bytes(VIDEO)
    assert copy_local(source.as_uri(), tmp_path / "copy.mp4", root=root, max_bytes=len(VIDEO))
    assert (tmp_path / "copy.mp4").read_bytes() == VIDEO

    with pytest.raises(ProviderError) as excinfo:
        copy_local(source.as_uri(), tmp_path / "copy2.mp4", root=root, max_bytes=10)
    assert excinfo.value.code == "too_large"
    with pytest.raises(MalformedResponse):
        copy_local((root / "missing.mp4").as_uri(), tmp_path / "x", root=root, max_bytes=10)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    with pytest.raises(UnsafeURL):
        copy_local(outside.as_uri(), tmp_path / "x", root=root, max_bytes=10**6)
    with pytest.raises(UnsafeURL):
        copy_local((root / ".." / "secret.txt").as_uri(), tmp_path / "x", root=root, max_bytes=99)
    with pytest.raises(UnsafeURL):
        copy_local("https://example.com/v.mp4", tmp_path / "x", root=root, max_bytes=10)
