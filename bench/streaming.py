"""Serve a 100 MB clip through the app under gunicorn and compare with `cat` of the same file.

Run from the project root: `.venv/bin/python bench/streaming.py [--size-mb 100] [--runs 7]`.
Everything runs on this machine in one go, interleaved, medians, page cache warm:

- full GET through the app (permission check, session, the view, gunicorn's sendfile path) and
  through a bare sendfile server (headers, then one sendfile(2): the floor for any HTTP server),
  each over loopback TCP and over a Unix socket (the layout behind nginx), each fetched by curl
  and by a lean client (one 1 MiB buffer, recv_into, nothing else);
- `cat file > /dev/null`: the page cache read alone.

The bare server gives its Unix socket the send buffer the app asks for
(assets.streaming.UNIX_SEND_BUFFER), so app ÷ bare is like for like. `--placement` pins the
servers and the client: with the default 208 KiB buffer a 100 MB GET over a Unix socket took
~3x longer when server and client ran on different CPUs than on one, and the bare server,
forked from the measuring process, tended to land beside it where gunicorn's worker did not.

It prints app ÷ cat, bare ÷ cat and app ÷ bare for every transport and client. app ÷ bare is
what the app adds; bare ÷ cat is what the transport and the client cost whoever serves the
bytes. Loopback TCP alone costs about 4× `cat` here even for the lean client reading from the
bare server, so the issue's target (full GET ÷ cat at most 1.5) is judged on the Unix socket
with the lean client, where the kernel's own floor (bare ÷ cat) is about 1.1-1.3. Range
TTFB (curl, TCP): time to the first byte of `Range: bytes=<90%>-` ÷ of `bytes=0-` (target at
most 1.2), the two alternating which goes first.

Needs curl and the dev dependencies (factory_boy) for the fixture data.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _env(scratch: Path, database_url: str = "") -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECURE_COOKIES": "false",
        "SECRET_KEY": "bench-streaming-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "GREENLIGHT_VAR_DIR": str(scratch / "var"),
        "DATABASE_URL": database_url or f"sqlite:///{scratch / 'bench.sqlite3'}",
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


def _fixture(scratch: Path, name: str, database_url: str = "") -> tuple[str, str]:
    """Create a member, a clip pointing at `name`, and a session; return (url, cookie)."""
    os.environ.update(_env(scratch, database_url))
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


def _curl(
    url: str, cookie: str, *, range_header: str = "", unix_socket: str = ""
) -> tuple[float, float, int]:
    """Return (total seconds, seconds to first byte, bytes) for one GET with curl."""
    args = ["curl", "-s", "-o", "/dev/null", "-H", f"Cookie: {cookie}"]
    if unix_socket:
        args += ["--unix-socket", unix_socket]
    if range_header:
        args += ["-H", f"Range: {range_header}"]
    args += ["-w", "%{time_total} %{time_starttransfer} %{size_download} %{http_code}", url]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout.split()
    total, first, size, status = float(out[0]), float(out[1]), int(out[2]), out[3]
    expected = "206" if range_header else "200"
    if status != expected:
        raise SystemExit(f"{url} answered {status}, expected {expected}")
    return total, first, size


def _lean_get(address: str | tuple[str, int], path: str, cookie: str) -> tuple[float, int, int]:
    """GET with a client that only receives: one 1 MiB buffer, recv_into, no copies.

    Returns (seconds, waits, body bytes), waits being the client's voluntary context switches:
    how often it found nothing to read and slept until the server sent more. With the default
    208 KiB Unix-socket buffer that is ~400 per 100 MB when server and client run on different
    CPUs and few when they share one; with 4 MiB, a few either way. Shows the server and the
    transport, not a client's own buffering and writes (curl reads 16 KiB at a time and
    writes each to /dev/null).
    """
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\nConnection: close\r\n\r\n"
    )
    buffer = bytearray(1 << 20)
    view = memoryview(buffer)
    switches = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
    started = time.perf_counter()
    with socket.socket(family) as conn:
        conn.connect(address)
        conn.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            got = conn.recv_into(buffer)
            if not got:
                raise SystemExit("connection closed inside the headers")
            head += bytes(view[:got])
        head, _sep, body = head.partition(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise SystemExit(f"{path} answered {status.decode()}, expected 200")
        received = len(body)
        while got := conn.recv_into(buffer):
            received += got
    elapsed = time.perf_counter() - started
    return elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - switches, received


class _BareSendfileServer:
    """The floor for any HTTP server on this machine: headers, then one sendfile(2), in C.

    Fetched by the same clients, it shows what the transport and the client cost by
    themselves, which `cat > /dev/null` does not pay. It serves from a forked process of its
    own, as gunicorn's worker does, not from a thread of the process that measures.
    """

    def __init__(
        self, path: Path, *, unix_path: Path | None = None, cpus: set[int] | None = None
    ) -> None:
        self.path = path
        self.cpus = cpus
        if unix_path is None:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.address: str | tuple[str, int] = self.sock.getsockname()
        else:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.bind(str(unix_path))
            self.address = str(unix_path)
        self.sock.listen(8)
        self.process = multiprocessing.get_context("fork").Process(target=self._serve, daemon=True)
        self.process.start()

    def _serve(self) -> None:
        from assets.streaming import UNIX_SEND_BUFFER

        if self.cpus:
            os.sched_setaffinity(0, self.cpus)
        size = self.path.stat().st_size
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if conn.family == socket.AF_UNIX:
                    # The app's setting (assets.streaming), so app ÷ bare compares like with like.
                    conn.setsockopt(
                        socket.SOL_SOCKET, socket.SO_SNDBUF, min(size, UNIX_SEND_BUFFER)
                    )
                conn.recv(65536)
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                conn.sendall(head.encode())
                with self.path.open("rb") as fh:
                    conn.sendfile(fh)

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)
        self.sock.close()


# --placement: (server CPUs, client CPUs); None leaves the choice to the scheduler.
PLACEMENTS: dict[str, tuple[set[int] | None, set[int] | None]] = {
    "free": (None, None),
    "same": ({0}, {0}),
    "split": ({0}, {1}),
}


def _cat(path: Path) -> float:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(["cat", str(path)], stdout=sink, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--ttfb-runs", type=int, default=20)
    parser.add_argument(
        "--placement",
        choices=sorted(PLACEMENTS),
        default="free",
        help="CPUs of the servers and of the client (this process, curl, cat): free = the "
        "scheduler's choice; same = all on CPU 0; split = servers on CPU 0, client on CPU 1",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="an empty database for the app, migrated and given the fixture rows (default: a "
        "scratch SQLite file, one connection per request; production's PostgreSQL keeps "
        "connections for CONN_MAX_AGE)",
    )
    options = parser.parse_args()
    server_cpus, client_cpus = PLACEMENTS[options.placement]
    if not shutil.which("curl"):
        raise SystemExit("curl is required")

    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as tmp:
        scratch = Path(tmp)
        size = options.size_mb * 1024 * 1024
        name = "clips/bench/video.mp4"
        path = scratch / "media" / name
        _write_file(path, size)
        env = _env(scratch, options.database_url)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        url_path, cookie = _fixture(scratch, name, options.database_url)
        port = _free_port()
        app_socket = scratch / "gunicorn.sock"
        # One worker bound to both: loopback TCP and the Unix socket nginx would proxy to.
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--bind", f"unix:{app_socket}", "--workers", "1", "--log-level", "warning"],
            cwd=ROOT, env=env,
            preexec_fn=(lambda: os.sched_setaffinity(0, server_cpus)) if server_cpus else None,
        )  # fmt: skip
        bare_tcp = _BareSendfileServer(path, cpus=server_cpus)
        bare_unix = _BareSendfileServer(path, unix_path=scratch / "bare.sock", cpus=server_cpus)
        if client_cpus:
            os.sched_setaffinity(0, client_cpus)
        try:
            url = f"http://127.0.0.1:{port}{url_path}"
            for _ in range(100):
                try:
                    _curl(url, cookie, range_header="bytes=0-0")
                    _curl(url, cookie, range_header="bytes=0-0", unix_socket=str(app_socket))
                    break
                except (subprocess.CalledProcessError, SystemExit):
                    time.sleep(0.1)
            else:
                raise SystemExit("gunicorn did not answer")
            bare_url = f"http://127.0.0.1:{bare_tcp.address[1]}/"
            # (server, transport, client) -> one fetch, returning seconds.
            fetches = {
                ("app", "tcp", "curl"): lambda: _curl(url, cookie),
                ("app", "tcp", "lean"): lambda: _lean_get(("127.0.0.1", port), url_path, cookie),
                ("app", "unix", "curl"): lambda: _curl(url, cookie, unix_socket=str(app_socket)),
                ("app", "unix", "lean"): lambda: _lean_get(str(app_socket), url_path, cookie),
                ("bare", "tcp", "curl"): lambda: _curl(bare_url, ""),
                ("bare", "tcp", "lean"): lambda: _lean_get(bare_tcp.address, "/", ""),
                ("bare", "unix", "curl"): lambda: _curl(
                    "http://127.0.0.1/", "", unix_socket=bare_unix.address
                ),
                ("bare", "unix", "lean"): lambda: _lean_get(bare_unix.address, "/", ""),
            }
            _cat(path)  # warm the page cache for every side
            for fetch in fetches.values():
                fetch()  # and each server and client once, untimed
            times: dict[tuple[str, str, str], list[float]] = {key: [] for key in fetches}
            waits: dict[tuple[str, str, str], list[int]] = {key: [] for key in fetches}
            cat_runs = []
            for _ in range(options.runs):
                cat_runs.append(_cat(path))
                for key, fetch in fetches.items():
                    result = fetch()
                    if result[-1] != size:
                        raise SystemExit(f"{key}: got {result[-1]} bytes of {size}")
                    times[key].append(result[0])
                    if key[2] == "lean":
                        waits[key].append(result[1])
            front, tail = [], []
            at_90 = size * 9 // 10
            # Each kind is measured first in half the runs: the one measured right after the
            # other's 100 MB body would otherwise be the only one to pay for what the server
            # does after that body (on this machine ~0.3 ms).
            for run in range(options.ttfb_runs):
                order = [(front, "bytes=0-"), (tail, f"bytes={at_90}-")]
                for times_of, range_header in order if run % 2 else order[::-1]:
                    times_of.append(_curl(url, cookie, range_header=range_header)[1])
        finally:
            bare_tcp.close()
            bare_unix.close()
            server.terminate()
            server.wait(timeout=10)

    cat = statistics.median(cat_runs)
    ttfb_0, ttfb_90 = statistics.median(front), statistics.median(tail)
    mb = size / 1024 / 1024
    load = os.getloadavg()[0]
    print(
        f"CPUs: {os.cpu_count()}; placement {options.placement}; file {mb:.0f} MB; load {load:.2f}"
        f"; database {options.database_url.split(':', 1)[0] if options.database_url else 'sqlite'}"
    )
    print(
        f"cat > /dev/null: {cat * 1000:7.1f} ms ({mb / cat:5.0f} MB/s); medians of {options.runs}"
    )
    print(
        f"{'transport':>9} {'client':>6}  {'app ms':>7} {'bare ms':>7}"
        f"  {'app÷cat':>7} {'bare÷cat':>8} {'app÷bare':>8}"
    )
    for transport in ("tcp", "unix"):
        for client in ("curl", "lean"):
            app = statistics.median(times[("app", transport, client)])
            bare = statistics.median(times[("bare", transport, client)])
            print(
                f"{transport:>9} {client:>6}  {app * 1000:7.1f} {bare * 1000:7.1f}"
                f"  {app / cat:7.2f} {bare / cat:8.2f} {app / bare:8.2f}"
            )
    print(
        "lean client waits per GET (voluntary context switches, medians):"
        + "".join(
            f"  {server} {transport} {statistics.median(waits[(server, transport, 'lean')]):.0f}"
            for transport in ("tcp", "unix")
            for server in ("app", "bare")
        )
    )
    headline = statistics.median(times[("app", "unix", "lean")]) / cat
    print(f"full GET ÷ cat (Unix socket, lean client): {headline:5.2f}   (target ≤ 1.5)")
    print(f"Range TTFB at 0%:  {ttfb_0 * 1000:6.2f} ms")
    print(f"Range TTFB at 90%: {ttfb_90 * 1000:6.2f} ms")
    print(f"TTFB 90% ÷ 0%:     {ttfb_90 / ttfb_0:6.2f}   (target ≤ 1.2)")


if __name__ == "__main__":
    main()
