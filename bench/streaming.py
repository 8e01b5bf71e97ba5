"""Serve a 100 MB clip through the app under gunicorn and compare with `cat` of the same file.

Run from the project root: `.venv/bin/python bench/streaming.py [--size-mb 100] [--runs 5]`.
Everything runs on loopback in one go, side by side:

- full GET: `curl -o /dev/null` of the whole file through gunicorn (permission check, session,
  the view, the server's sendfile path) ÷ `cat file > /dev/null` of the same bytes
  (target at most 1.5);
- Range TTFB: time to the first byte of `Range: bytes=<90%>-` ÷ of `bytes=0-` (target at
  most 1.2): a seek must not cost more than starting from the front.

Medians of interleaved runs, with the page cache warm for both sides. Needs curl and the dev
dependencies (factory_boy) for the fixture data.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(scratch: Path) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECURE_COOKIES": "false",
        "SECRET_KEY": "bench-streaming-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "GREENLIGHT_VAR_DIR": str(scratch / "var"),
        "DATABASE_URL": f"sqlite:///{scratch / 'bench.sqlite3'}",
        "MEDIA_ROOT": str(scratch / "media"),
        "STORAGE_BACKEND": "local",
        "LOG_LEVEL": "WARNING",
    }


def _write_file(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    block = os.urandom(1 << 20)
    with path.open("wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(block[: size % len(block)])


def _fixture(scratch: Path, name: str) -> tuple[str, str]:
    """Create a member, a clip pointing at `name`, and a session; return (url, cookie)."""
    os.environ.update(_env(scratch))
    import django

    django.setup()
    from django.test import Client

    from generation.models import Membership
    from tests.factories import ClipFactory, MembershipFactory

    clip = ClipFactory(file=name, poster="")
    member = MembershipFactory(campaign=clip.variant.brief.campaign, role=Membership.Role.REVIEWER)
    client = Client()
    client.force_login(member.user)
    return clip.video_url, f"sessionid={client.cookies['sessionid'].value}"


def _curl(url: str, cookie: str, *, range_header: str = "") -> tuple[float, float, int]:
    """Return (total seconds, seconds to first byte, bytes) for one GET with curl."""
    args = ["curl", "-s", "-o", "/dev/null", "-H", f"Cookie: {cookie}"]
    if range_header:
        args += ["-H", f"Range: {range_header}"]
    args += ["-w", "%{time_total} %{time_starttransfer} %{size_download} %{http_code}", url]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
    total, first, size, status = float(out[0]), float(out[1]), int(out[2]), out[3]
    expected = "206" if range_header else "200"
    if status != expected:
        raise SystemExit(f"{url} answered {status}, expected {expected}")
    return total, first, size


class _BareSendfileServer:
    """The floor for any HTTP server on this machine: headers, then one sendfile(2), in C.

    Fetched by the same curl, it shows what the loopback TCP path and the client cost by
    themselves, which `cat > /dev/null` does not pay.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        size = self.path.stat().st_size
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode())
                with self.path.open("rb") as fh:
                    conn.sendfile(fh)

    def close(self) -> None:
        self.sock.close()


def _cat(path: Path) -> float:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(["cat", str(path)], stdout=sink, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttfb-runs", type=int, default=20)
    options = parser.parse_args()
    if not shutil.which("curl"):
        raise SystemExit("curl is required")

    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        scratch = Path(tmp)
        size = options.size_mb * 1024 * 1024
        name = "clips/bench/video.mp4"
        path = scratch / "media" / name
        _write_file(path, size)
        env = _env(scratch)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        url_path, cookie = _fixture(scratch, name)
        port = _free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}{url_path}"
            for _ in range(100):
                try:
                    _curl(url, cookie, range_header="bytes=0-0")
                    break
                except (subprocess.CalledProcessError, SystemExit):
                    time.sleep(0.1)
            else:
                raise SystemExit("gunicorn did not answer")
            _cat(path)  # warm the page cache for both sides
            bare = _BareSendfileServer(path)
            app_runs, cat_runs, bare_runs = [], [], []
            for _ in range(options.runs):
                total, _first, got = _curl(url, cookie)
                if got != size:
                    raise SystemExit(f"got {got} bytes of {size}")
                app_runs.append(total)
                cat_runs.append(_cat(path))
                bare_runs.append(_curl(bare.url, "")[0])
            bare.close()
            front, tail = [], []
            at_90 = size * 9 // 10
            for _ in range(options.ttfb_runs):
                front.append(_curl(url, cookie, range_header="bytes=0-")[1])
                tail.append(_curl(url, cookie, range_header=f"bytes={at_90}-")[1])
        finally:
            server.terminate()
            server.wait(timeout=10)

    app, cat = statistics.median(app_runs), statistics.median(cat_runs)
    floor = statistics.median(bare_runs)
    ttfb_0, ttfb_90 = statistics.median(front), statistics.median(tail)
    mb = size / 1024 / 1024
    print(f"CPUs available: {len(os.sched_getaffinity(0))}; file {mb:.0f} MB")
    print(f"full GET through gunicorn: {app * 1000:8.1f} ms  ({mb / app:7.0f} MB/s)")
    print(f"cat > /dev/null:           {cat * 1000:8.1f} ms  ({mb / cat:7.0f} MB/s)")
    print(f"bare sendfile server:      {floor * 1000:8.1f} ms  ({mb / floor:7.0f} MB/s)")
    print(f"full GET ÷ cat:            {app / cat:8.2f}   (target ≤ 1.5)")
    print(f"bare sendfile ÷ cat:       {floor / cat:8.2f}   (the loopback + curl floor)")
    print(f"full GET ÷ bare sendfile:  {app / floor:8.2f}")
    print(f"Range TTFB at 0%:          {ttfb_0 * 1000:8.2f} ms")
    print(f"Range TTFB at 90%:         {ttfb_90 * 1000:8.2f} ms")
    print(f"TTFB 90% ÷ 0%:             {ttfb_90 / ttfb_0:8.2f}   (target ≤ 1.2)")


if __name__ == "__main__":
    main()
