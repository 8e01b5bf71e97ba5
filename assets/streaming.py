"""File responses that honour HTTP Range, so browsers can seek in a video.

Django's FileResponse always answers 200 with the whole body, and a <video> element that
cannot get a 206 cannot seek. `ranged_file_response` serves one byte range of an already
opened file: through the server's sendfile path (wsgi.file_wrapper) where there is one, else
one chunk at a time. `accel_redirect_response` hands the whole job to nginx instead.
Permission checks belong to the calling view; this module only shapes the response.
"""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import (
    content_disposition_header,
    http_date,
    parse_http_date_safe,
    quote_etag,
)

CHUNK_SIZE = 64 * 1024
CACHE_CONTROL = "private, max-age=3600"

# The send buffer asked for on a Unix socket before a body larger than the default buffer.
# An AF_UNIX stream socket's send buffer stays at net.core.wmem_default (208 KiB) unless set,
# where TCP's grows by itself, and the sender sleeps each time it is full until the reader
# drains it: ~400 hand-offs for 100 MB (the worker's voluntary context switches per GET), and
# when the worker and its reader (nginx, or a client) run on different CPUs each costs a
# cross-CPU wakeup, which made a full GET ~3x slower than the same sendfile on one CPU. With
# 4 MiB the reader's own buffer bounds the round trips, and they cost the same on one CPU or
# two. The kernel caps the request at net.core.wmem_max; the buffer is a limit, not memory
# held while nothing is queued.
UNIX_SEND_BUFFER = 4 * 1024 * 1024
_DEFAULT_SEND_BUFFER = 256 * 1024

# RFC 9110 DIGIT is ASCII only; `\d` would also take Arabic-Indic or fullwidth digits, which
# int() then happily converts.
_RANGE_SPEC = re.compile(r"^(?P<start>[0-9]*)-(?P<end>[0-9]*)$", re.ASCII)
# Past this many significant digits a position is beyond any file (10**18 bytes is an exabyte),
# so it is compared as "huge" instead of converted: int() refuses strings of more than 4,300
# digits, and converting long ones is quadratic anyway.
_MAX_DIGITS = 18
_HUGE = 10**_MAX_DIGITS


class SeekableBinaryFile(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def close(self) -> None: ...


class _Malformed(Exception):
    """The Range header does not parse; RFC 9110 says to ignore it."""


class _Unsatisfiable(Exception):
    """The Range header parses but selects no byte of the file."""


def ranged_file_response(
    request: HttpRequest,
    *,
    file: SeekableBinaryFile,
    size: int,
    content_type: str,
    filename: str = "",
    as_attachment: bool = False,
    etag: str = "",
    last_modified: datetime | None = None,
) -> HttpResponseBase:
    """Answer GET or HEAD for an opened binary file, honouring a single byte range.

    - no usable Range: 200 with the whole file;
    - `bytes=a-b`, `bytes=a-`, `bytes=-n`: 206 with exactly those bytes (an end past the file
      is clamped to its last byte);
    - several ranges (`bytes=0-1,5-6`): 200 with the whole file, which RFC 9110 allows and
      spares a multipart/byteranges body no media player needs;
    - a malformed header or another unit: ignored, 200 (RFC 9110 §14.2);
    - a range starting past the end: 416 with `Content-Range: bytes */size`;
    - `If-Range` not matching `etag` (strong comparison) or `last_modified`: 200.

    The response owns `file` and closes it once the body is sent or the response is closed;
    for HEAD and 416 it is closed at once. `etag` may be given bare or quoted.
    """
    etag = quote_etag(etag) if etag else ""
    byte_range: tuple[int, int] | None = None
    status = 200
    range_header = request.headers.get("Range", "")
    if (
        range_header
        and request.method in ("GET", "HEAD")
        and _if_range_matches(request, etag=etag, last_modified=last_modified)
    ):
        try:
            byte_range = _parse_range(range_header, size=size)
        except _Malformed:
            byte_range = None
        except _Unsatisfiable:
            file.close()
            response = HttpResponse(status=416)
            response.headers["Content-Range"] = f"bytes */{size}"
            _set_common_headers(response, etag=etag, last_modified=last_modified)
            return response
        if byte_range is not None:
            status = 206

    start, end = byte_range if byte_range is not None else (0, size - 1)
    length = end - start + 1 if size > 0 else 0

    if request.method == "HEAD":
        file.close()
        response = HttpResponse(status=status, content_type=content_type)
    else:
        file.seek(start)
        body = _FileRange(file, length=length)
        response = StreamingHttpResponse(body, status=status, content_type=content_type)
        # Django hands `file_to_stream` to the server's wsgi.file_wrapper when there is one
        # (as FileResponse does), and gunicorn then sends it with sendfile(2): from the file's
        # current offset, Content-Length bytes, never through Python. Servers without
        # sendfile read it, and reads stop at the range's end.
        response.file_to_stream = body
        response.block_size = CHUNK_SIZE
        _widen_unix_send_buffer(request, length=length)
    response.headers["Content-Length"] = str(length)
    if status == 206:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    disposition = content_disposition_header(as_attachment, filename or None)
    if disposition:
        response.headers["Content-Disposition"] = disposition
    _set_common_headers(response, etag=etag, last_modified=last_modified)
    return response


def _widen_unix_send_buffer(request: HttpRequest, *, length: int) -> None:
    """Raise the connection's send buffer before a large body goes out over a Unix socket.

    gunicorn puts its client socket in the environ as `gunicorn.socket`; other servers do
    not, and nothing is done. TCP sockets are left alone: a fixed SO_SNDBUF switches off the
    kernel's autotuning, and loopback TCP measured no better with 1 or 4 MiB. See
    UNIX_SEND_BUFFER for why the Unix socket's default costs so much.
    """
    if length <= _DEFAULT_SEND_BUFFER:
        return
    sock = request.META.get("gunicorn.socket")
    if not isinstance(sock, socket.socket) or sock.family != socket.AF_UNIX:
        return
    # A closed or odd socket only loses the speed-up; sending reports real errors.
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, min(length, UNIX_SEND_BUFFER))


class _FileRange:
    """`length` bytes of `file` from its current position: a file and an iterator at once.

    As a file (`read`, `fileno`) it is what wsgi.file_wrapper gets, so a server can sendfile
    it and one that reads it cannot read past the range. As an iterator it is the streaming
    body everywhere else. A class, not a generator: StreamingHttpResponse calls `close()` on
    its content when the response is closed, and a generator that never started would skip
    its `finally` and leak the file handle.
    """

    def __init__(self, file: SeekableBinaryFile, *, length: int) -> None:
        self.file = file
        self.remaining = length

    def read(self, size: int = -1, /) -> bytes:
        if self.remaining <= 0:
            return b""
        if size < 0 or size > self.remaining:
            size = self.remaining
        chunk = self.file.read(size)
        # A file shorter than the caller said ends the body rather than spinning.
        self.remaining = self.remaining - len(chunk) if chunk else 0
        return chunk

    def fileno(self) -> int:
        return self.file.fileno()  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[bytes]:
        try:
            while chunk := self.read(CHUNK_SIZE):
                yield chunk
        finally:
            self.close()

    def close(self) -> None:
        self.file.close()


def _parse_range(header: str, *, size: int) -> tuple[int, int] | None:
    """Return the inclusive (start, end) selected by a Range header, or None to serve it all.

    Raises _Malformed for a header that does not parse, _Unsatisfiable for one that selects no
    byte of the file. Numbers of any length are handled without int() on the whole string.
    """
    unit, sep, ranges = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        raise _Malformed
    specs = [spec.strip() for spec in ranges.split(",")]
    matches = [_RANGE_SPEC.match(spec) for spec in specs]
    if not specs or any(m is None or m["start"] == m["end"] == "" for m in matches):
        raise _Malformed
    if len(matches) > 1:
        return None
    first, last = matches[0]["start"], matches[0]["end"]
    if first == "":
        # Suffix range: the final `last` bytes, or the whole file when it is shorter.
        suffix = _position(last)
        if suffix == 0 or size == 0:
            raise _Unsatisfiable
        return max(size - suffix, 0), size - 1
    start = _position(first)
    end = _position(last) if last else None
    if end is not None and end < start and not (end == start == _HUGE):
        raise _Malformed
    if end is not None and end == start == _HUGE and _compare_digits(last, first) < 0:
        raise _Malformed
    if start >= size:
        raise _Unsatisfiable
    return start, min(end, size - 1) if end is not None else size - 1


def _position(digits: str) -> int:
    """Convert ASCII digits to an int, capping anything past _MAX_DIGITS digits at _HUGE."""
    significant = digits.lstrip("0")
    if len(significant) > _MAX_DIGITS:
        return _HUGE
    return int(significant or "0")


def _compare_digits(a: str, b: str) -> int:
    """Compare two non-negative decimal strings by value without converting them."""
    a, b = a.lstrip("0"), b.lstrip("0")
    if len(a) != len(b):
        return -1 if len(a) < len(b) else 1
    return (a > b) - (a < b)


def accel_redirect_response(
    *,
    location: str,
    content_type: str,
    filename: str = "",
    as_attachment: bool = False,
) -> HttpResponse:
    """Answer with an empty body and `X-Accel-Redirect: location` for nginx to serve.

    nginx serves the internal location itself, Range, 206/416 and If-Range included; the
    view has already checked permission. Caching stays private, as for bytes sent here.
    """
    response = HttpResponse(content_type=content_type)
    response.headers["X-Accel-Redirect"] = quote(location, safe="/")
    disposition = content_disposition_header(as_attachment, filename or None)
    if disposition:
        response.headers["Content-Disposition"] = disposition
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response


def _if_range_matches(request: HttpRequest, *, etag: str, last_modified: datetime | None) -> bool:
    if_range = request.headers.get("If-Range", "").strip()
    if not if_range:
        return True
    if if_range.startswith(('"', "W/")):
        # If-Range needs a strong match: a weak tag on either side never matches.
        return bool(etag) and not etag.startswith("W/") and if_range == etag
    if last_modified is None:
        return False
    timestamp = parse_http_date_safe(if_range)
    return timestamp is not None and timestamp == int(last_modified.timestamp())


def _set_common_headers(
    response: HttpResponseBase, *, etag: str, last_modified: datetime | None
) -> None:
    response.headers["Accept-Ranges"] = "bytes"
    # Media is permission-checked per request, so no shared cache may keep it.
    response.headers["Cache-Control"] = CACHE_CONTROL
    if etag:
        response.headers["ETag"] = etag
    if last_modified is not None:
        response.headers["Last-Modified"] = http_date(last_modified.timestamp())
