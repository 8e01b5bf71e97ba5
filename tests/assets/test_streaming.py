from __future__ import annotations

import fcntl
import socket
import struct
import termios
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from django.http import StreamingHttpResponse
from django.test import RequestFactory
from django.utils.http import http_date

from assets import streaming
from assets.streaming import ranged_file_response

SIZE = 1000
CONTENT = bytes(i % 251 for i in range(SIZE))  # no period of 2**n, so offsets show
MODIFIED = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def media_path(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(CONTENT)
    return path


@pytest.fixture
def opened(media_path: Path):
    """Open files handed to responses, kept so tests can check they were closed."""
    handles: list[BinaryIO] = []

    def open_() -> BinaryIO:
        handle = media_path.open("rb")
        handles.append(handle)
        return handle

    open_.handles = handles  # type: ignore[attr-defined]
    yield open_
    for handle in handles:
        handle.close()


def _respond(opened, method: str = "get", *, headers: dict[str, str] | None = None, **kwargs):
    request = getattr(RequestFactory(), method)("/media/clip.mp4", headers=headers or {})
    kwargs.setdefault("content_type", "video/mp4")
    return ranged_file_response(request, file=opened(), size=SIZE, **kwargs)


def _body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content)


def _assert_common(response) -> None:
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "private, max-age=3600"


def test_without_range_streams_the_whole_file(opened) -> None:
    response = _respond(opened)

    assert response.status_code == 200
    assert response["Content-Type"] == "video/mp4"
    assert response["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response
    assert "Content-Disposition" not in response
    _assert_common(response)
    assert _body(response) == CONTENT
    assert opened.handles[0].closed


def test_whole_file_is_sent_in_bounded_chunks(opened, monkeypatch) -> None:
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 64)

    response = _respond(opened)
    chunks = list(response.streaming_content)

    assert max(len(chunk) for chunk in chunks) == 64
    assert b"".join(chunks) == CONTENT


# close() sends request_finished, whose handler looks at database connections an earlier test
# in this thread may have opened; the mark lets it.
@pytest.mark.django_db
def test_file_is_closed_when_the_response_closes_unread(opened) -> None:
    response = _respond(opened)

    response.close()

    assert opened.handles[0].closed


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-0", 0, 0),
        ("bytes=100-199", 100, 199),
        ("bytes=990-", 990, 999),
        ("bytes=0-", 0, 999),
        ("bytes=-10", 990, 999),
        ("bytes=-1", 999, 999),
        ("bytes=-5000", 0, 999),  # suffix longer than the file: all of it
        ("bytes=900-5000", 900, 999),  # end past the file is clamped
        ("bytes=999-999", 999, 999),
        ("Bytes = 10-19", 10, 19),
    ],
)
def test_single_range_is_partial_content(opened, header: str, start: int, end: int) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response["Content-Length"] == str(end - start + 1)
    assert response["Content-Type"] == "video/mp4"
    _assert_common(response)
    assert _body(response) == CONTENT[start : end + 1]
    assert opened.handles[0].closed


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges: served whole rather than multipart
        "bytes=5-2",
        "bytes=x-y",
        "bytes=-",
        "bytes=",
        "bytes=1-2-3",
        "items=0-1",
        "0-1",
    ],
)
def test_multiple_or_malformed_ranges_serve_the_whole_file(opened, header: str) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert "Content-Range" not in response
    assert _body(response) == CONTENT


@pytest.mark.parametrize(
    "header", ["bytes=1000-", "bytes=1000-2000", "bytes=5000-5001", "bytes=-0"]
)
def test_unsatisfiable_range_is_416(opened, header: str) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"
    _assert_common(response)
    assert response.content == b""
    assert opened.handles[0].closed


def test_any_range_of_an_empty_file_is_416(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")
    request = RequestFactory().get("/", headers={"Range": "bytes=0-"})

    with path.open("rb") as fh:
        response = ranged_file_response(request, file=fh, size=0, content_type="video/mp4")

        assert response.status_code == 416
        assert response["Content-Range"] == "bytes */0"
        assert fh.closed


def test_empty_file_without_range_is_an_empty_200(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.write_bytes(b"")

    with path.open("rb") as fh:
        response = ranged_file_response(
            RequestFactory().get("/"), file=fh, size=0, content_type="video/mp4"
        )

        assert response.status_code == 200
        assert response["Content-Length"] == "0"
        assert _body(response) == b""


def test_head_sends_headers_only(opened) -> None:
    response = _respond(opened, "head")

    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response["Accept-Ranges"] == "bytes"
    assert not response.streaming
    assert response.content == b""
    assert opened.handles[0].closed


def test_head_with_range_describes_the_partial_response(opened) -> None:
    response = _respond(opened, "head", headers={"Range": "bytes=10-19"})

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 10-19/{SIZE}"
    assert response["Content-Length"] == "10"
    assert response.content == b""


def test_range_is_ignored_for_other_methods(opened) -> None:
    response = _respond(opened, "post", headers={"Range": "bytes=0-1"})

    assert response.status_code == 200
    assert _body(response) == CONTENT


@pytest.mark.parametrize(
    ("kwargs", "disposition"),
    [
        ({"filename": "take 1.mp4"}, 'inline; filename="take 1.mp4"'),
        ({"filename": "take.mp4", "as_attachment": True}, 'attachment; filename="take.mp4"'),
        ({"as_attachment": True}, "attachment"),
        ({"filename": "café.mp4"}, "inline; filename*=utf-8''caf%C3%A9.mp4"),
    ],
)
def test_content_disposition(opened, kwargs: dict, disposition: str) -> None:
    response = _respond(opened, **kwargs)

    assert response["Content-Disposition"] == disposition


def test_etag_and_last_modified_are_sent(opened) -> None:
    response = _respond(opened, etag="abc123", last_modified=MODIFIED)

    assert response["ETag"] == '"abc123"'
    assert response["Last-Modified"] == "Sat, 01 Mar 2025 12:00:00 GMT"


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ('"abc123"', 206),
        ('"other"', 200),
        ('W/"abc123"', 200),  # If-Range needs a strong match
        (http_date(MODIFIED.timestamp()), 206),
        (http_date(MODIFIED.timestamp() - 60), 200),
        ("not a date", 200),
    ],
)
def test_if_range(opened, if_range: str, status: int) -> None:
    headers = {"Range": "bytes=10-19", "If-Range": if_range}

    response = _respond(opened, headers=headers, etag='"abc123"', last_modified=MODIFIED)

    assert response.status_code == status
    assert _body(response) == (CONTENT[10:20] if status == 206 else CONTENT)


def test_if_range_without_a_known_validator_serves_the_whole_file(opened) -> None:
    headers = {"Range": "bytes=10-19", "If-Range": '"abc123"'}

    response = _respond(opened, headers=headers)

    assert response.status_code == 200
    assert _body(response) == CONTENT


def test_if_range_mismatch_does_not_hide_unsatisfiable_as_416(opened) -> None:
    headers = {"Range": "bytes=5000-", "If-Range": '"stale"'}

    response = _respond(opened, headers=headers, etag='"abc123"')

    assert response.status_code == 200
    assert _body(response) == CONTENT


# --- hostile Range headers: 206, 416 or ignored, never a 500 ----------------------------------

HUGE = "9" * 5000  # past int()'s 4,300-digit limit for str -> int conversion


@pytest.mark.parametrize(
    ("header", "status", "start", "end"),
    [
        (f"bytes=0-{HUGE}", 206, 0, SIZE - 1),  # an end past the file is clamped
        (f"bytes=10-{HUGE}", 206, 10, SIZE - 1),
        (f"bytes=-{HUGE}", 206, 0, SIZE - 1),  # a suffix longer than the file: all of it
        (f"bytes={'0' * 5000}5-9", 206, 5, 9),  # leading zeros are still the number 5
        (f"bytes=0-{'0' * 5000}9", 206, 0, 9),
    ],
)
def test_ranges_with_huge_numbers_are_served(opened, header, status, start, end) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == status
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert _body(response) == CONTENT[start : end + 1]


@pytest.mark.parametrize("header", [f"bytes={HUGE}-", f"bytes={HUGE}-{HUGE}9"])
def test_a_huge_start_is_416(opened, header: str) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={HUGE}9-{HUGE}",  # end before start
        f"bytes=0-1,{HUGE}-",  # several ranges, one huge: whole file
        "bytes=\u0661-\u0662",  # Arabic-Indic digits: int() takes them, RFC 9110 does not
        "bytes=\uff11-\uff12",  # fullwidth digits
        "bytes=1 -2",
        "bytes=+1-2",
        "bytes=0x10-",
        "bytes=1_000-",
        "bytes=" + ",".join(["0-1"] * 2000),
        "bytes=" + "-" * 5000,
        "bytes==0-1",
        "\x00bytes=0-1",
    ],
)
def test_malformed_ranges_are_ignored(opened, header: str) -> None:
    response = _respond(opened, headers={"Range": header})

    assert response.status_code == 200
    assert "Content-Range" not in response
    assert _body(response) == CONTENT


@pytest.mark.django_db
def test_a_huge_range_through_the_whole_stack_is_not_a_500(client) -> None:
    # The view path too (middleware, headers): RequestFactory above skips none of the parsing.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from generation.models import Membership
    from tests.factories import ClipFactory, MembershipFactory

    name = default_storage.save("clips/huge/video.mp4", ContentFile(CONTENT))
    clip = ClipFactory(file=name)
    member = MembershipFactory(campaign=clip.variant.brief.campaign, role=Membership.Role.REVIEWER)
    client.force_login(member.user)

    whole = client.get(clip.video_url, headers={"Range": f"bytes=0-{HUGE}"})
    assert whole.status_code == 206
    assert b"".join(whole.streaming_content) == CONTENT
    past = client.get(clip.video_url, headers={"Range": f"bytes={HUGE}-"})
    assert past.status_code == 416


# --- The send buffer of gunicorn's Unix socket ----------------------------------------------

BIG = 2 * 1024 * 1024  # past the default 208 KiB send buffer, within UNIX_SEND_BUFFER


def _wmem_max() -> int:
    return int(Path("/proc/sys/net/core/wmem_max").read_text())


@pytest.fixture
def wide_wmem_max() -> None:
    """The kernel caps SO_SNDBUF at net.core.wmem_max: a host below the body size cannot show
    the raise, and that is a failure to fix on the host (sysctl), not a test to pass over."""
    assert _wmem_max() >= BIG, (
        f"net.core.wmem_max is {_wmem_max()}: raise it to at least {BIG} "
        "(sysctl -w net.core.wmem_max=4194304) to test the Unix socket's send buffer"
    )


@pytest.fixture
def big_file(tmp_path: Path):
    path = tmp_path / "big.mp4"
    path.write_bytes(bytes(i % 251 for i in range(BIG)))
    with path.open("rb") as handle:
        yield handle


def _sndbuf(sock: socket.socket) -> int:
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)


def _respond_on(sock: socket.socket, file, *, method: str = "get", size: int = BIG, **headers):
    """The response is left unclosed: closing sends request_finished, which wants the
    database; `big_file` closes the handle."""
    request = getattr(RequestFactory(), method)("/media/clip.mp4", headers=headers)
    request.META["gunicorn.socket"] = sock
    return ranged_file_response(request, file=file, size=size, content_type="video/mp4")


def test_a_large_body_raises_the_send_buffer_of_a_unix_socket(big_file, wide_wmem_max) -> None:
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    reference, _peer = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, client, reference, _peer:
        default = _sndbuf(server)
        reference.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BIG)

        _respond_on(server, big_file)

        assert _sndbuf(server) == _sndbuf(reference) > default


@pytest.mark.parametrize(
    ("method", "headers"),
    [
        ("head", {}),  # no body
        ("get", {"Range": "bytes=0-65535"}),  # a body the default buffer holds
    ],
)
def test_no_large_body_leaves_the_send_buffer_alone(big_file, method, headers) -> None:
    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, client:
        default = _sndbuf(server)

        _respond_on(server, big_file, method=method, **headers)

        assert _sndbuf(server) == default


def test_a_tcp_socket_keeps_its_autotuned_send_buffer(big_file) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        with server, client:
            default = _sndbuf(server)

            _respond_on(server, big_file)

            assert _sndbuf(server) == default


def test_under_gunicorn_a_unix_socket_takes_the_whole_body_before_the_reader_reads(
    big_file, wide_wmem_max
) -> None:
    """gunicorn's own environ and sendfile path, on a Unix socket nobody reads yet.

    With the default send buffer the sendfile stalls after ~208 KiB until the reader drains
    it (each stall a wakeup of the reader, and of the sender after it); with the raised one
    the 2 MiB body is queued whole and the response finishes.
    """
    from django.core.handlers.wsgi import WSGIRequest
    from gunicorn.config import Config
    from gunicorn.http import get_parser
    from gunicorn.http.wsgi import create

    server, client = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with server, client:
        client.sendall(b"GET /media/clip.mp4 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        cfg = Config()
        request = next(get_parser(cfg, server, ""))
        resp, environ = create(request, server, "", "", cfg)
        response = ranged_file_response(
            WSGIRequest(environ), file=big_file, size=BIG, content_type="video/mp4"
        )
        # As Django's WSGIHandler hands a file response to the server.
        resp.start_response(f"{response.status_code} OK", list(response.items()))
        wrapped = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        sender = threading.Thread(target=resp.write_file, args=(wrapped,), daemon=True)
        sender.start()
        sender.join(timeout=10)
        finished = not sender.is_alive()
        queued = _queued_bytes(client)
        # Unblock a stalled sender before failing, so the thread ends with the test.
        while sender.is_alive() and client.recv(1 << 20):
            pass

        assert finished, f"sendfile stalled with {queued} bytes queued"
        assert queued > BIG


def _queued_bytes(sock: socket.socket) -> int:
    return struct.unpack("i", fcntl.ioctl(sock, termios.FIONREAD, b"\0" * 4))[0]
