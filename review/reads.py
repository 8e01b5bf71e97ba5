"""A review's stages, steps and decisions, read with SQL written out.

Every decision reads these three lists and the decision panel shows them. Through the ORM each
read is built and compiled to SQL again on every call, and that Python work was most of the
cost of the approval (the reviewer's hot path): about three times the cost of running the
query and building the rows. These shapes never change, so they are written here once, as
plain SELECTs that SQLite and PostgreSQL both run, and go through `Model.objects.raw()`, which
still converts each column by its field and builds model instances (`bench/approve.py`).

Only reads live here; every write stays in the ORM (`review.services`).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model

from review.models import Decision, RejectReason, Stage, StageStep

# What the panel and the notifications read of a decision's user and reason. The user is built
# with these fields loaded and the rest deferred (read on first use, as `.only()` would).
USER_FIELDS = ("id", "username", "first_name", "last_name", "email")


def campaign_stages(*, campaign_id: int) -> list[Stage]:
    """The campaign's stages in order."""
    sql = f"SELECT * FROM {Stage._meta.db_table} WHERE campaign_id = %s ORDER BY position, id"
    return list(Stage.objects.raw(sql, [campaign_id]))


def review_steps(*, review_id: int) -> list[StageStep]:
    """The review's stage steps, oldest first."""
    sql = f"SELECT * FROM {StageStep._meta.db_table} WHERE review_id = %s ORDER BY opened_at, id"
    return list(StageStep.objects.raw(sql, [review_id]))


def review_decisions(*, review_id: int) -> list[Decision]:
    """The review's decisions, oldest first, each with its user and its reason (if any)."""
    user_table = get_user_model()._meta.db_table
    user_columns = ", ".join(f"u.{name} AS user_{name}" for name in USER_FIELDS[1:])
    sql = (
        f"SELECT d.*, {user_columns}, r.label AS reason_label "
        f"FROM {Decision._meta.db_table} d "
        f"INNER JOIN {user_table} u ON u.id = d.user_id "
        f"LEFT OUTER JOIN {RejectReason._meta.db_table} r ON r.id = d.reason_id "
        "WHERE d.review_id = %s ORDER BY d.created_at, d.id"
    )
    decisions = list(Decision.objects.raw(sql, [review_id]))
    User = get_user_model()
    for decision in decisions:
        db = decision._state.db
        values = [decision.user_id, *(getattr(decision, f"user_{n}") for n in USER_FIELDS[1:])]
        decision.user = User.from_db(db, USER_FIELDS, values)
        if decision.reason_id is not None:
            decision.reason = RejectReason.from_db(
                db, ("id", "label"), (decision.reason_id, decision.reason_label)
            )
    return decisions
