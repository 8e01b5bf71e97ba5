"""Fetching a provider's output: the only place result bytes enter Greenlight.

Hosted providers hand back URLs that Greenlight then requests from inside its own network, so a
hostile or compromised answer could point at internal services. `fetch_remote` therefore:

- accepts https only (hosts named in GREENLIGHT_DOWNLOAD_TEST_HOSTS may use http: the test
  fakes on loopback);
- resolves the host itself, refuses if ANY address is private, loopback, link-local, multicast,
  reserved or unspecified (test hosts excepted), and connects to the checked address with the
  original name for TLS (SNI and certificate check), so a second DNS answer cannot differ;
- follows at most five redirects by hand, checking every hop the same way;
- stops at a byte cap and a total deadline; 403/404/410 means the URL expired.

Connections are kept alive between downloads by one client per (host, checked address, port):
such a client only ever sends that host's requests to that address, so a kept connection was
verified for the very name it serves, and a host that resolves elsewhere gets another client.
Without it every job paid a new connection (a TLS handshake against a real CDN).

`copy_local` serves local providers: file:// URLs whose path lies inside the provider's folder.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import shutil
import socket
import ssl
import threading
import time
from collections import OrderedDict
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import certifi
import httpx
from django.conf import settings

from generation.providers.base import (
    MalformedResponse,
    ProviderError,
    RequestRejected,
    ResultExpired,
    TransientError,
)

MAX_REDIRECTS = 5
CHUNK = 1 << 20
# Kept-alive download clients per process; the least recently used is closed past this.
MAX_CLIENTS = 16


class UnsafeURL(RequestRejected):
    """A result URL Greenlight refuses to fetch (scheme, address or redirect)."""


def copy_local(url: str, target: Path, *, root: Path, max_bytes: int) -> int:
    """Copy a file:// result that lies inside `root`; return the byte count."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        raise UnsafeURL(f"a local provider answered a non-file URL: {url[:200]}", code="bad_url")
    source = Path(unquote(parts.path)).resolve()
    if not source.is_relative_to(Path(root).resolve()):
        raise UnsafeURL(f"{source} is outside the provider's folder", code="bad_url")
    if not source.is_file():
        raise MalformedResponse(f"the provider's result file is missing: {source}")
    size = source.stat().st_size
    if size > max_bytes:
        raise ProviderError(f"the result is larger than {max_bytes} bytes", code="too_large")
    shutil.copyfile(source, target)
    return size


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one costs more than a small download."""
    return ssl.create_default_context(cafile=certifi.where())


_clients: OrderedDict[tuple, httpx.Client] = OrderedDict()
_clients_lock = threading.Lock()


def _client_for(scheme: str, host: str, address: str, port: int) -> httpx.Client:
    """The process's client for `host` at the checked `address` (a forked child builds its own)."""
    key = (os.getpid(), scheme, host, address, port)
    with _clients_lock:
        client = _clients.pop(key, None)
        if client is None:
            client = httpx.Client(verify=_tls_context(), follow_redirects=False)
        _clients[key] = client
        while len(_clients) > MAX_CLIENTS:
            _key, oldest = _clients.popitem(last=False)
            oldest.close()
        return client


def _test_hosts() -> set[str]:
    return {h.lower() for h in getattr(settings, "GREENLIGHT_DOWNLOAD_TEST_HOSTS", [])}


def _unsafe_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified


def resolve_checked(url: str) -> tuple[str, str, int]:
    """Return (host, address to connect to, port) for a URL Greenlight may fetch.

    Raises UnsafeURL for another scheme, credentials in the URL, or a host with any address
    outside the public internet; TransientError when the name does not resolve.
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    test_host = host in _test_hosts()
    if parts.scheme != "https" and not (parts.scheme == "http" and test_host):
        raise UnsafeURL(f"result URLs must be https: {url[:200]}", code="bad_url")
    if not host or parts.username or parts.password:
        raise UnsafeURL(
            f"result URL has no host or carries credentials: {url[:200]}", code="bad_url"
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise TransientError(f"cannot resolve {host}: {exc}", code="dns") from exc
    addresses = sorted({info[4][0] for info in infos})
    if not addresses:
        raise TransientError(f"{host} has no address", code="dns")
    if not test_host:
        bad = [a for a in addresses if _unsafe_address(a)]
        if bad:
            raise UnsafeURL(
                f"{host} resolves to a non-public address ({', '.join(bad)}); refused",
                code="ssrf_blocked",
            )
    return host, addresses[0], port


def fetch_remote(
    url: str,
    target: Path,
    *,
    headers: dict[str, str] | None = None,
    max_bytes: int,
    deadline_s: float,
) -> int:
    """Download `url` into `target` under the rules in this module's docstring."""
    deadline = time.monotonic() + deadline_s
    current = url
    timeout = httpx.Timeout(min(30.0, deadline_s), connect=10.0)
    for _hop in range(MAX_REDIRECTS + 1):
        host, address, port = resolve_checked(current)
        parts = urlsplit(current)
        ip_host = f"[{address}]" if ":" in address else address
        pinned = parts._replace(netloc=f"{ip_host}:{port}").geturl()
        client = _client_for(parts.scheme, host, address, port)
        request = client.build_request(
            "GET",
            pinned,
            headers={**(headers or {}), "Host": parts.netloc.rsplit("@", 1)[-1]},
            extensions={"sni_hostname": host},
            timeout=timeout,
        )
        try:
            response = client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise TransientError(f"downloading the result failed: {exc}") from exc
        try:
            if response.is_redirect:
                location = response.headers.get("location", "")
                if not location:
                    raise MalformedResponse("a redirect without a Location header")
                current = urljoin(current, location)
                continue
            return _write_body(response, target, max_bytes=max_bytes, deadline=deadline)
        finally:
            response.close()
    raise UnsafeURL(f"more than {MAX_REDIRECTS} redirects from {url[:200]}", code="redirects")


def _write_body(response: httpx.Response, target: Path, *, max_bytes: int, deadline: float) -> int:
    if response.status_code in (403, 404, 410):
        raise ResultExpired(
            f"the result URL answered {response.status_code} (expired or gone)",
            code="result_expired",
            status_code=response.status_code,
        )
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(
            f"the result URL answered {response.status_code}", status_code=response.status_code
        )
    if response.status_code != 200:
        raise ProviderError(
            f"the result URL answered {response.status_code}",
            code="download_failed",
            status_code=response.status_code,
        )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise ProviderError(f"the result is larger than {max_bytes} bytes", code="too_large")
    written = 0
    try:
        with target.open("wb") as out:
            try:
                for chunk in response.iter_bytes(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ProviderError(
                            f"the result is larger than {max_bytes} bytes", code="too_large"
                        )
                    if time.monotonic() > deadline:
                        raise TransientError("the download ran past its deadline", code="timeout")
                    out.write(chunk)
            except httpx.HTTPError as exc:
                raise TransientError(f"downloading the result failed: {exc}") from exc
    except BaseException:
        # A partial file is never left for anyone to mistake for the result.
        target.unlink(missing_ok=True)
        raise
    return written
