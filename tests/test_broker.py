"""The embedded broker never hands a consumer a half-written message."""

from __future__ import annotations

import threading

from kombu import Connection, Queue
from kombu.simple import SimpleQueue

from config.broker import FilesystemTransport


def _connection(folder) -> Connection:
    return Connection(
        "filesystem://",
        transport=FilesystemTransport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "control_folder": str(folder / "control"),
            "polling_interval": 0.001,
        },
    )


def test_messages_are_renamed_into_place_and_never_read_half_written(tmp_path) -> None:
    count = 400
    received: list[dict] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            with _connection(tmp_path) as conn:
                queue = SimpleQueue(conn, Queue("q", routing_key="q"))
                while len(received) < count:
                    message = queue.get(timeout=10)
                    received.append(message.payload)
                    message.ack()
        except BaseException as exc:  # reported below, with the count reached
            errors.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    with _connection(tmp_path) as conn:
        queue = SimpleQueue(conn, Queue("q", routing_key="q"))
        for n in range(count):
            # Big enough that a write is not a single atomic syscall-sized blob.
            queue.put({"n": n, "pad": "x" * 200_000})
    consumer.join(60)

    assert errors == [], (len(received), errors)
    assert sorted(m["n"] for m in received) == list(range(count))
    assert not list(tmp_path.glob(".*.part"))


def test_the_filesystem_broker_uses_this_transport(settings) -> None:
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        assert settings.CELERY_BROKER_TRANSPORT == "config.broker:FilesystemTransport"
