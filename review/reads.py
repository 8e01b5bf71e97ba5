"""The reads of a decision, with SQL written out: the locked review with its clip, and the
review's stages, steps and decisions.

Every decision runs these reads and the decision panel shows what they return. Through the
ORM each one is built and compiled to SQL again on every call, and that Python work was most
of the cost of the approval (the reviewer's hot path): several times the cost of running the
query and building the rows. These shapes never change, so they are written here once, as
SELECTs that SQLite and PostgreSQL both run, through `Model.objects.raw()`; the columns read
from joined tables are converted by their fields as the ORM would (`_instance`).

Only reads live here; every write stays in the ORM (`review.services`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Model

from assets.models import Clip
from generation.models import Brief, Campaign, Membership, Variant
from review.models import Decision, RejectReason, Review, Stage, StageStep

# What the panel and the notifications read of a decision's user and reason. The user is built
# with these fields loaded and the rest deferred (read on first use, as `.only()` would).
USER_FIELDS = ("id", "username", "first_name", "last_name", "email")

# What deciding reads of the clip, its variant, brief and campaign, and the brief's creator
# (whom a decision notifies): the decision, its notifications and the panel use these columns
# and no others (the clip's analysis JSON, the job and the brief's matrix stay in the
# database; a column not read is deferred). Keyed by each table's alias in the query; a
# column reads back as `<alias>__<column>`.
DECIDE_COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "c": ("clip", ("id", "uuid", "job_id", "variant_id", "version", "status", "qc")),
    "v": ("variant", ("id", "brief_id", "position", "language", "is_cut")),
    "b": ("brief", ("id", "title", "created_by_id", "campaign_id")),
    "k": ("campaign", ("id", "name", "slug")),
    "u": ("creator", USER_FIELDS),
}


def _instance(model: type[Model], db: str, values: dict[str, Any]) -> Model:
    """A `model` instance from columns a raw query read under other names: each value goes
    through its field's converters (a UUID or JSON on SQLite, say), the rest is deferred."""
    connection = connections[db]
    names, converted = [], []
    for field in model._meta.concrete_fields:  # from_db() takes them in this order
        if field.attname not in values:
            continue
        value = values[field.attname]
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        for convert in [*converters, *column.get_db_converters(connection)]:
            value = convert(value, column, connection)
        names.append(field.attname)
        converted.append(value)
    return model.from_db(db, names, converted)


def review_to_decide(*, clip_uuid: Any, user: Any) -> Review:
    """Lock the review of clip `clip_uuid` if `user` is a member of its campaign; call inside
    the deciding transaction.

    One query checks the membership (the rule of `generation.selectors.visible_to`, a
    membership row of the user in the clip's campaign, written here in SQL), locks the
    review row (`FOR UPDATE OF` the review only, on a database that has row locks; SQLite's
    IMMEDIATE transactions serialise writers instead), and reads the `DECIDE_COLUMNS` and
    the user's campaign role, as `member_role` (one membership per user and campaign).
    Raises Review.DoesNotExist for a clip the user may not see and for a clip whose review
    has not opened; the caller tells the two apart.
    """
    db = Review.objects.db
    connection = connections[db]
    columns = ", ".join(
        f"{alias}.{column} AS {alias}__{column}"
        for alias, (_, names) in DECIDE_COLUMNS.items()
        for column in names
    )
    lock = ""
    if connection.features.has_select_for_update:
        lock = " " + connection.ops.for_update_sql(of=("r",))
    sql = (
        f"SELECT r.*, m.role AS member_role, {columns} "
        f"FROM {Review._meta.db_table} r "
        f"INNER JOIN {Clip._meta.db_table} c ON c.id = r.clip_id "
        f"INNER JOIN {Variant._meta.db_table} v ON v.id = c.variant_id "
        f"INNER JOIN {Brief._meta.db_table} b ON b.id = v.brief_id "
        f"INNER JOIN {Campaign._meta.db_table} k ON k.id = b.campaign_id "
        f"INNER JOIN {Membership._meta.db_table} m ON m.campaign_id = k.id AND m.user_id = %s "
        f"LEFT OUTER JOIN {get_user_model()._meta.db_table} u ON u.id = b.created_by_id "
        f"WHERE c.uuid = %s{lock}"
    )
    uuid = Clip._meta.get_field("uuid").get_db_prep_value(clip_uuid, connection)
    found = list(Review.objects.raw(sql, [user.pk, uuid]))
    if not found:
        raise Review.DoesNotExist("no review of that clip for this user to decide")
    review = found[0]
    models = {"c": Clip, "v": Variant, "b": Brief, "k": Campaign, "u": get_user_model()}
    read = {
        role: _instance(
            models[alias], db, {name: getattr(review, f"{alias}__{name}") for name in names}
        )
        for alias, (role, names) in DECIDE_COLUMNS.items()
    }
    review.clip = read["clip"]
    review.clip.variant = read["variant"]
    review.clip.variant.brief = brief = read["brief"]
    brief.campaign = read["campaign"]
    if brief.created_by_id is not None:
        brief.created_by = read["creator"]
    return review


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
