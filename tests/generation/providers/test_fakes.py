"""The provider fakes themselves: a zero-latency fake must not add latency of its own."""

from __future__ import annotations

import httpx

from generation.providers.base import GenerationRequest


def test_a_fake_sends_without_waiting_for_delayed_acks(fal_fake) -> None:
    """Headers and body leave at once: the fake's sockets have Nagle off.

    Written as two small sends with Nagle on, the body waits for the client's delayed ACK
    (about 40 ms on Linux) on every call after the first on a kept-alive connection, so a
    benchmark against the "instant" fake measured the fake's TCP stack rather than the driver
    (bench/fanout.py prints the speed; this checks the setting that gives it).
    """
    handler = fal_fake._server.RequestHandlerClass
    assert handler.disable_nagle_algorithm is True
    with httpx.Client() as client:
        for _ in range(3):  # kept alive: the calls after the first reuse the connection
            client.get(fal_fake.jwks_url).raise_for_status()
    assert fal_fake.connections == 1


def test_downloads_from_one_host_reuse_a_kept_alive_connection(fal_fake, tmp_path) -> None:
    """Each result download used to build a client and open a connection (a TLS handshake per
    job against a real CDN); a client is now kept per host and checked address, so the second
    download from the same host rides the first one's connection. Every hop is still resolved
    and checked before it is fetched."""
    from generation.providers.fal import FalProvider

    fal_fake.instant = True
    provider = FalProvider()
    results = []
    for n in range(2):
        submission = provider.submit(
            GenerationRequest(prompt=f"a horse {n}", duration_s=5),
            idempotency_key=f"k{n}",
        )
        results.append(provider.result(submission))
    api_connections = fal_fake.connections

    for n, result in enumerate(results):
        size = provider.download(result, tmp_path / f"{n}.mp4", max_bytes=10**8, deadline_s=30)
        assert size == len(fal_fake.video)

    assert fal_fake.connections - api_connections == 1
