"""The production shape: DEBUG off, collected static files served by WhiteNoise under gunicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_gunicorn_serves_pages_and_collected_static_with_debug_off(tmp_path):
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "production-shape-test-key-" + "x" * 40,
        "ALLOWED_HOSTS": "127.0.0.1",
        "GREENLIGHT_VAR_DIR": str(tmp_path / "var"),
        "STATIC_ROOT": str(tmp_path / "static"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.sqlite3'}",
    }
    manage = [sys.executable, "manage.py"]
    for command in (
        ["migrate", "--no-input", "-v", "0"],
        ["collectstatic", "--no-input", "-v", "0"],
    ):
        subprocess.run([*manage, *command], cwd=ROOT, env=env, check=True, timeout=120)
    assert (tmp_path / "static" / "css" / "greenlight.css").exists()

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                login = httpx.get(f"{base}/accounts/login/", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not answer")
        assert login.status_code == 200
        assert "Log in" in login.text
        assert "Secure" in login.headers["set-cookie"]  # the CSRF cookie, HTTPS only
        css = httpx.get(f"{base}/static/css/greenlight.css", timeout=5)
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        htmx = httpx.get(f"{base}/static/django_htmx/htmx-2.min.js", timeout=5)
        assert htmx.status_code == 200 and b"htmx" in htmx.content
        assert httpx.get(f"{base}/", timeout=5).status_code == 302
        assert httpx.get(f"{base}/nope/", timeout=5).status_code == 404
        evil = httpx.get(f"{base}/accounts/login/", headers={"Host": "evil.example"}, timeout=5)
        assert evil.status_code == 400
    finally:
        server.terminate()
        server.wait(timeout=10)
