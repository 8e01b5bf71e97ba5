"""Turn one EMAIL_URL into Django 6.1's MAILERS setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ


def mailers_from_url(url: str, *, file_path: Path, timeout: int = 30) -> dict[str, Any]:
    """Map consolemail://, smtp://, smtp+tls://, smtp+ssl://, filemail:// and memorymail://
    URLs to a MAILERS dict with one "default" mailer."""
    parsed = environ.Env.email_url_config(url)
    backend = parsed["EMAIL_BACKEND"]
    options: dict[str, Any] = {}
    if backend.endswith("smtp.EmailBackend"):
        options = {
            "host": parsed.get("EMAIL_HOST") or "localhost",
            "port": parsed.get("EMAIL_PORT") or None,
            "username": parsed.get("EMAIL_HOST_USER") or "",
            "password": parsed.get("EMAIL_HOST_PASSWORD") or "",
            "use_tls": bool(parsed.get("EMAIL_USE_TLS")),
            "use_ssl": bool(parsed.get("EMAIL_USE_SSL")),
            "timeout": timeout,
        }
    elif backend.endswith("filebased.EmailBackend"):
        options = {"file_path": parsed.get("EMAIL_FILE_PATH") or str(file_path)}
    return {"default": {"BACKEND": backend, "OPTIONS": options}}
