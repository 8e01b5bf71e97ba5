"""Create demo users, a campaign and a brief whose variants the worker will generate."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from generation import services
from generation.models import Campaign, Membership

DEMO_USERS = {
    "creator": {"role": Membership.Role.CREATOR, "staff": False, "name": "Casey Creator"},
    "reviewer": {"role": Membership.Role.REVIEWER, "staff": False, "name": "Riley Reviewer"},
    "approver": {"role": Membership.Role.APPROVER, "staff": False, "name": "Avery Approver"},
    "ops": {"role": None, "staff": True, "name": "Ola Ops"},
}


class Command(BaseCommand):
    help = "Create demo logins, a campaign and a brief (idempotent); print the logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--no-brief", action="store_true", help="Create users and campaign only."
        )
        parser.add_argument(
            "--logins-only", action="store_true", help="Print the demo logins; change nothing."
        )

    def _passwords(self) -> dict[str, str]:
        # Kept beside the database so every start prints the same logins.
        path = settings.VAR_DIR / "demo-logins.json"
        known = json.loads(path.read_text()) if path.exists() else {}
        for username in DEMO_USERS:
            known.setdefault(username, f"{username}-{secrets.token_urlsafe(6)}")
        path.write_text(json.dumps(known, indent=2))
        path.chmod(0o600)
        return known

    def handle(self, *args, **options) -> None:
        if options["logins_only"]:
            path = settings.VAR_DIR / "demo-logins.json"
            if not path.exists():
                raise CommandError("no demo logins yet: run `manage.py greenlight_demo` first")
            self._print(json.loads(path.read_text()))
            return
        self._create(no_brief=options["no_brief"])
        self._print(self._passwords())

    def _print(self, passwords: dict[str, str]) -> None:
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Greenlight demo logins"))
        for username, spec in DEMO_USERS.items():
            what = "ops (admin)" if spec["staff"] else spec["role"].label.lower()
            self.stdout.write(f"  {username:<9} {passwords[username]:<22} {what}")
        self.stdout.write(f"  Open {settings.GREENLIGHT_BASE_URL}/ and log in.")
        self.stdout.write("")

    @transaction.atomic
    def _create(self, *, no_brief: bool) -> None:
        User = get_user_model()
        passwords = self._passwords()
        users = {}
        for username, spec in DEMO_USERS.items():
            user, _ = User.objects.get_or_create(username=username)
            first, last = spec["name"].split(" ", 1)
            user.first_name, user.last_name = first, last
            user.email = f"{username}@greenlight.local"
            user.is_staff = user.is_superuser = spec["staff"]
            user.set_password(passwords[username])
            user.save()
            users[username] = user

        campaign = Campaign.objects.filter(slug="spring-launch").first()
        created = campaign is None
        if created:
            _two_review_gates()
            campaign = services.campaign_create(
                name="Spring Launch",
                slug="spring-launch",
                description="Short social spots for the spring range: one brief, every format.",
                budget_usd=Decimal("250.00"),
                created_by=users["creator"],
            )
        for username, spec in DEMO_USERS.items():
            if spec["role"]:
                services.membership_set(campaign=campaign, user=users[username], role=spec["role"])

        if created and not no_brief:
            services.brief_create(
                campaign=campaign,
                user=users["creator"],
                data=services.BriefInput(
                    title="Meet the Spring range",
                    # No {hook} here: the demo has no hook axis, so the slot would show as
                    # written on the brief page.
                    prompt="A bright kitchen at sunrise, a hand reaches for a green bottle; "
                    "{aspect_ratio}, {duration} seconds.",
                    script="",
                    scripts={"en": "Spring is here. Fresh, bright and ready when you are."},
                    shots="Spring is here\nFresh. Bright. Ready.\nFind it in store today",
                    hooks=[],
                    aspect_ratios=["16:9", "9:16", "1:1"],
                    durations=[6],
                    languages=["en"],
                    resolution="720p",
                    provider=settings.GREENLIGHT_DEFAULT_PROVIDER,
                ),
            )


def _two_review_gates() -> None:
    """Before the demo campaign is made: a creative gate for its reviewers, then a brand and
    legal gate for its approvers, so the demo shows that each stage has its own deciders.

    Only the untouched default (the one "Creative review" template a fresh install starts with,
    decided by reviewers and approvers alike) is replaced; templates ops made are left alone.
    """
    # Demo data spans every app; the review app is imported here, at the top of the chain.
    from review.models import MemberRoles, StageTemplate

    templates = list(StageTemplate.objects.all())
    default = (
        len(templates) == 1
        and templates[0].name == "Creative review"
        and templates[0].member_roles == MemberRoles.BOTH
        and not templates[0].decider_groups.exists()
    )
    if not default:
        return
    templates[0].member_roles = MemberRoles.REVIEWERS
    templates[0].save(update_fields=["member_roles"])
    StageTemplate.objects.create(
        name="Brand and legal",
        position=2,
        description="Logo, colours and tone on brand; every claim and on-screen word cleared.",
        member_roles=MemberRoles.APPROVERS,
    )
