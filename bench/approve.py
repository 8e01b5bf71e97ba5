"""Approve throughput against a trivial page's, on the same gunicorn, in one run.

Run from the project root: `.venv/bin/python bench/approve.py [--database-url URL]`.
Fills a fresh database (SQLite in a temp folder unless a URL to an empty database is given)
with clips waiting for one approver, starts gunicorn, logs in, then takes turns: one htmx
Approve (POST, the decision panel comes back) and one GET of the login page. Target: approvals
per second ÷ trivial pages per second at least 0.5.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from review_queue import build_campaign, configure  # noqa: E402


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="an empty database to fill (default: SQLite)")
    parser.add_argument("--approvals", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="approve-bench-") as scratch:
        var = Path(scratch)
        configure(options.database_url, var)
        from django.contrib.auth import get_user_model

        from review.models import Review

        approver = get_user_model().objects.create_user("approver", "a@example.test", "pw-123")
        build_campaign(slug="approve", clips=options.approvals, decider=approver)
        targets = [
            (str(uuid), step)
            for uuid, step in Review.objects.filter(status="pending")
            .order_by("pk")
            .values_list("clip__uuid", "steps__pk")
        ]
        port = free_port()
        env = {**os.environ, "GREENLIGHT_VAR_DIR": str(var), "PYTHONUNBUFFERED": "1"}
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
             "--workers", str(options.workers), "--log-level", "warning"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(100):
                    try:
                        login = client.get("/accounts/login/")
                        break
                    except httpx.TransportError:
                        time.sleep(0.1)
                else:
                    raise SystemExit("gunicorn did not answer")
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
                done = client.post(
                    "/accounts/login/",
                    data={"username": "approver", "password": "pw-123",
                          "csrfmiddlewaretoken": token},
                )  # fmt: skip
                assert done.status_code == 302, done.status_code
                headers = {"X-CSRFToken": client.cookies["csrftoken"], "HX-Request": "true"}
                for _ in range(10):  # warm both workers
                    client.get("/accounts/login/")
                approve_s = trivial_s = 0.0
                for uuid, step in targets:
                    started = time.perf_counter()
                    panel = client.post(
                        f"/clips/{uuid}/decide/",
                        data={"step": step, "outcome": "approve"},
                        headers=headers,
                    )
                    approve_s += time.perf_counter() - started
                    assert panel.status_code == 200 and "Approved" in panel.text, panel.text[:300]
                    started = time.perf_counter()
                    page = client.get("/accounts/login/")
                    trivial_s += time.perf_counter() - started
                    assert page.status_code == 200
        finally:
            server.terminate()
            server.wait(timeout=20)
        approved = Review.objects.filter(status="approved").count()
        assert approved == len(targets), approved
        n = len(targets)
        print(f"approvals: {n} in {approve_s:.2f} s → {n / approve_s:.1f}/s")
        print(f"trivial page (GET login): {n} in {trivial_s:.2f} s → {n / trivial_s:.1f}/s")
        print(f"approve throughput ÷ trivial page: {trivial_s / approve_s:.2f} (target ≥ 0.5)")


if __name__ == "__main__":
    main()
