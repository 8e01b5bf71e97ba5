"""Approve throughput against a trivial page's, on the same gunicorn, in one run.

Run from the project root: `.venv/bin/python bench/approve.py [--database-url URL] [--notify]`.
Fills a fresh database (SQLite in a temp folder unless a URL to an empty database is given)
with clips waiting at one "any one" stage for one approver, starts one gunicorn (the project's
`config.wsgi`, DEBUG off, the production template loaders, `--workers` sync workers), logs the
approver in, and then takes turns on one connection-per-request client with the same session
cookie for both sides: one htmx Approve (POST: the decision is checked, locked, written and
audited, the archive copy is queued on commit, and the decision panel comes back) and one GET of
the login page (the app's cheapest real page: session, user, the base template). Both sides are
warmed first, so no template is compiled while timing.

Each approval closes the clip's last stage, so it also publishes the archive message (to the
filesystem broker unless CELERY_BROKER_URL says otherwise). The approver wrote the brief, so no
creator is notified; `--notify` gives the brief another creator, whose notification row (and
digest message) every approval then writes too.

Printed: per-request medians and means for both sides. Target: approvals per second ÷ trivial
pages per second at least 0.5, taken from the medians, which a burst of load from other
processes on a shared machine moves least (the ratio of means is printed beside it).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
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
    parser.add_argument("--warm", type=int, default=20, help="untimed rounds first")
    parser.add_argument(
        "--notify", action="store_true", help="another user wrote the brief: notify them"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="approve-bench-") as scratch:
        var = Path(scratch)
        configure(options.database_url, var)
        from django.contrib.auth import get_user_model

        from review.models import Review

        User = get_user_model()
        approver = User.objects.create_user("approver", "a@example.test", "pw-123")
        creator = None
        if options.notify:
            creator = User.objects.create_user("creator", "c@example.test", "pw-123")
        build_campaign(
            slug="approve",
            clips=options.approvals + options.warm,
            decider=approver,
            creator=creator,
        )
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

                def approve(uuid: str, step: int) -> float:
                    started = time.perf_counter()
                    panel = client.post(
                        f"/clips/{uuid}/decide/",
                        data={"step": step, "outcome": "approve"},
                        headers=headers,
                    )
                    took = time.perf_counter() - started
                    assert panel.status_code == 200 and "Approved" in panel.text, panel.text[:300]
                    return took

                def trivial() -> float:
                    started = time.perf_counter()
                    page = client.get("/accounts/login/")
                    took = time.perf_counter() - started
                    assert page.status_code == 200
                    return took

                for uuid, step in targets[: options.warm]:  # every worker, both paths
                    approve(uuid, step)
                    trivial()
                approve_s, trivial_s = [], []
                for uuid, step in targets[options.warm :]:
                    approve_s.append(approve(uuid, step))
                    trivial_s.append(trivial())
        finally:
            server.terminate()
            server.wait(timeout=20)
        approved = Review.objects.filter(status="approved").count()
        assert approved == len(targets), approved
        n = len(approve_s)
        a_med, t_med = statistics.median(approve_s), statistics.median(trivial_s)
        a_mean, t_mean = statistics.fmean(approve_s), statistics.fmean(trivial_s)
        print(
            f"approvals: {n}, median {a_med * 1000:.2f} ms, mean {a_mean * 1000:.2f} ms "
            f"→ {1 / a_med:.1f}/s"
        )
        print(
            f"trivial page (GET login): {n}, median {t_med * 1000:.2f} ms, "
            f"mean {t_mean * 1000:.2f} ms → {1 / t_med:.1f}/s"
        )
        print(f"approve throughput ÷ trivial page: {t_med / a_med:.2f} from medians "
              f"(target ≥ 0.5); {t_mean / a_mean:.2f} from means")  # fmt: skip


if __name__ == "__main__":
    main()
