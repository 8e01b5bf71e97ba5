from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from generation.models import Brief, Campaign, GenerationJob, Membership

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_password_hasher")]

USERNAMES = ["creator", "reviewer", "approver", "ops"]


@pytest.fixture
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    return tmp_path


def _demo(*args: str) -> str:
    out = StringIO()
    call_command("greenlight_demo", *args, stdout=out)
    return out.getvalue()


def test_demo_creates_users_campaign_and_brief(client, var_dir, no_enqueue) -> None:
    output = _demo()

    users = get_user_model().objects.filter(username__in=USERNAMES)
    assert sorted(u.username for u in users) == sorted(USERNAMES)
    campaign = Campaign.objects.get(slug="spring-launch")
    roles = dict(campaign.memberships.values_list("user__username", "role"))
    assert roles == {
        "creator": Membership.Role.CREATOR,
        "reviewer": Membership.Role.REVIEWER,
        "approver": Membership.Role.APPROVER,
    }
    ops = users.get(username="ops")
    assert ops.is_staff and ops.is_superuser
    brief = Brief.objects.get(campaign=campaign)
    assert brief.variants.count() == 3
    assert GenerationJob.objects.filter(variant__brief=brief, status="queued").count() == 3

    passwords = json.loads((var_dir / "demo-logins.json").read_text())
    assert sorted(passwords) == sorted(USERNAMES)
    assert (var_dir / "demo-logins.json").stat().st_mode & 0o777 == 0o600
    assert "Greenlight demo logins" in output
    for username, password in passwords.items():
        assert f"  {username:<9} {password}" in output
        assert client.login(username=username, password=password)
    assert "ops (admin)" in output


def test_demo_is_idempotent(var_dir, no_enqueue) -> None:
    first = _demo()
    counts = (
        get_user_model().objects.count(),
        Campaign.objects.count(),
        Membership.objects.count(),
        Brief.objects.count(),
        GenerationJob.objects.count(),
    )

    second = _demo()

    assert second == first
    assert (
        get_user_model().objects.count(),
        Campaign.objects.count(),
        Membership.objects.count(),
        Brief.objects.count(),
        GenerationJob.objects.count(),
    ) == counts


def test_demo_without_a_brief(var_dir, no_enqueue) -> None:
    _demo("--no-brief")

    assert Campaign.objects.filter(slug="spring-launch").exists()
    assert not Brief.objects.exists()


def test_demo_logins_only_changes_nothing(var_dir, no_enqueue) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no demo logins yet"):
        _demo("--logins-only")
    assert not (var_dir / "demo-logins.json").exists()

    _demo("--no-brief")
    saved = (var_dir / "demo-logins.json").read_text()
    users_before = list(get_user_model().objects.values_list("username", "password"))
    output = _demo("--logins-only")

    assert "Greenlight demo logins" in output
    assert json.loads(saved)["approver"] in output
    assert (var_dir / "demo-logins.json").read_text() == saved
    assert list(get_user_model().objects.values_list("username", "password")) == users_before


def test_the_demo_campaign_has_two_gates_with_their_own_deciders(var_dir, no_enqueue) -> None:
    from review.models import MemberRoles
    from review.services import campaign_stages

    _demo()

    stages = campaign_stages(campaign=Campaign.objects.get(slug="spring-launch"))
    assert [(s.name, s.member_roles) for s in stages] == [
        ("Creative review", MemberRoles.REVIEWERS),
        ("Brand and legal", MemberRoles.APPROVERS),
    ]


def test_the_base_url_follows_the_address_make_run_serves(tmp_path) -> None:
    """`GREENLIGHT_ADDR=127.0.0.1:8100 make run` prints and emails links to port 8100."""
    root = Path(__file__).resolve().parents[1]
    code = "from django.conf import settings; print(settings.GREENLIGHT_BASE_URL)"

    def base_url(**extra: str) -> str:
        env = {k: v for k, v in os.environ.items() if k != "GREENLIGHT_BASE_URL"}
        env.update(DJANGO_SETTINGS_MODULE="config.settings", GREENLIGHT_VAR_DIR=str(tmp_path))
        env.pop("GREENLIGHT_ADDR", None)
        env.update(extra)
        run = [sys.executable, "-c", f"import django; django.setup(); {code}"]
        return subprocess.run(
            run, cwd=root, env=env, capture_output=True, text=True, check=True
        ).stdout.strip()

    assert base_url() == "http://127.0.0.1:8000"
    assert base_url(GREENLIGHT_ADDR="127.0.0.1:8100") == "http://127.0.0.1:8100"
    assert (
        base_url(GREENLIGHT_ADDR="127.0.0.1:8100", GREENLIGHT_BASE_URL="https://gl.example/")
        == "https://gl.example"
    )
