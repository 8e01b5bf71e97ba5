"""A small HTTP server on loopback that serves result files and their failure modes."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/redirect-to/"):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/redirect-to"))
            self.end_headers()
            return
        if self.path == "/redirect-internal":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path == "/loop":
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
            return
        routes = {
            "/video.mp4": (200, VIDEO),
            "/empty.mp4": (200, b""),
            "/expired.mp4": (404, b"nope"),
            "/gone.mp4": (410, b"nope"),
            "/forbidden.mp4": (403, b"nope"),
            "/boom.mp4": (500, b"nope"),
        }
        status, body = routes.get(self.path, (404, b"nope"))
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def http_base():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
