"""F5: a campaign's budget holds when briefs are created at the same moment (real threads)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection

from generation import services
from generation.models import Brief, GenerationJob, Membership
from tests.factories import CampaignFactory, MembershipFactory
from tests.generation.test_services import _input
from tests.providers import ScriptedProvider, install


@pytest.mark.django_db(transaction=True)
def test_f5_two_briefs_at_once_cannot_both_spend_one_budget(monkeypatch) -> None:
    install(monkeypatch, type("Fake", (ScriptedProvider,), {"submit_calls": []}))
    monkeypatch.setattr(services, "_enqueue_submit", lambda job: None)
    campaign = CampaignFactory(budget_usd=Decimal("7.00"))
    users = [
        MembershipFactory(campaign=campaign, role=Membership.Role.CREATOR).user for _ in range(2)
    ]
    # Each brief is 4 variants × 3 s × $0.50/s = $6; the budget fits one, not two.
    data = replace(
        _input(),
        provider="fake",
        hooks=["a", "b", "c", "d"],
        aspect_ratios=["16:9"],
        durations=[3],
        languages=["en"],
    )
    # Both threads read the spend, then wait for each other before writing: without the lock
    # on the campaign row both see $0 committed and both write.
    both_read = threading.Barrier(2)
    real_spend = services.campaign_spend

    def spend_then_wait(*, campaign):
        spent = real_spend(campaign=campaign)
        # A broken barrier means the other thread is blocked on the lock: the fix at work.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait(timeout=3)
        return spent

    monkeypatch.setattr(services, "campaign_spend", spend_then_wait)
    outcomes: list[str] = []

    def create(user) -> None:
        try:
            services.brief_create(campaign=campaign, user=user, data=data)
            outcomes.append("created")
        except services.BudgetExceeded:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(u,), daemon=True) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(outcomes) == ["created", "refused"]
    assert Brief.objects.count() == 1
    committed = sum(j.cost_estimate_usd for j in GenerationJob.objects.all())
    assert committed == Decimal("6.00") <= campaign.budget_usd
