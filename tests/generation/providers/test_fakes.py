"""The provider fakes themselves: a zero-latency fake must not add latency of its own."""

from __future__ import annotations

import time

import httpx


def test_a_fake_answers_calls_on_a_kept_alive_connection_at_once(fal_fake) -> None:
    """Headers and body leave in one segment with Nagle off.

    Written as two small sends with Nagle on, the body waits for the client's delayed ACK
    (about 40 ms on Linux) on every call after the first on a connection, so a benchmark
    against the "instant" fake measured the fake's TCP stack rather than the driver.
    """
    with httpx.Client() as client:
        client.get(fal_fake.jwks_url).raise_for_status()  # opens the connection
        started = time.perf_counter()
        for _ in range(20):
            client.get(fal_fake.jwks_url).raise_for_status()
        elapsed = time.perf_counter() - started
    # 20 delayed ACKs would take at least 0.8 s; unhindered calls take a few ms each.
    assert elapsed < 0.4, f"20 calls took {elapsed:.3f} s"
