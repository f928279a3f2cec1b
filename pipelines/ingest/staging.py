"""Staging, dbt-style: one short function per raw table naming the checks that guard it.

Every table also gets, before these, `null_required`, `bad_type` and (dates, timestamps) a
plausible year (`bad_value`) from the contract (per file),
and after them the de-duplication on its key (exact duplicates skipped, a changed row under a
known key quarantined as `duplicate_id_conflict`). Checks run in rules.RULE_ORDER.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipelines.ingest.rules import (
    MAX_ORDER_QUANTITY,
    Check,
    Lookup,
    accepted,
    at_most,
    closes_after_opens,
    foreign_keys,
    non_negative,
    not_after_run,
    not_before,
    positive,
    within_campaign,
)


@dataclass(frozen=True)
class Staging:
    """What guards one table: row checks, lookups, and whether status updates are allowed."""

    table: str
    checks: tuple[Check, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    status_updates: bool = False  # orders: paid -> cancelled/refunded later is an update
    # columns a later delivery may fill in where the stored row left them empty, the rest unchanged (a
    # member who leaves: memberships.left_on); that is an update, the older empty version a duplicate
    fills_later: tuple[str, ...] = ()


def suppliers() -> Staging:
    return Staging("suppliers")


def products() -> Staging:
    return Staging(
        "products",
        checks=(non_negative("price"), non_negative("cost")),
        lookups=foreign_keys("products"),
    )


def shopkeepers() -> Staging:
    return Staging(
        "shopkeepers",
        checks=(accepted("shopkeepers", "tier"), not_after_run("joined_on")),
        lookups=foreign_keys("shopkeepers"),
    )


def groups() -> Staging:
    return Staging(
        "groups",
        checks=(accepted("groups", "kind"), not_after_run("created_on")),
        lookups=foreign_keys("groups"),
    )


def memberships() -> Staging:
    return Staging("memberships", checks=(not_after_run("joined_on"), not_before("left_on", "joined_on")),
                   lookups=foreign_keys("memberships"), fills_later=("left_on",))


def campaigns() -> Staging:
    """Campaigns may lie in the future (upcoming pre-sales); only the window must make sense."""
    return Staging(
        "campaigns",
        checks=(non_negative("price"), positive("max_qty"), closes_after_opens()),
        lookups=foreign_keys("campaigns"),
    )


def posts() -> Staging:
    return Staging("posts", checks=(not_after_run("posted_at"),), lookups=foreign_keys("posts"))


def orders() -> Staging:
    return Staging(
        "orders",
        checks=(
            accepted("orders", "status"),
            at_most("quantity", MAX_ORDER_QUANTITY, "units in one order line"),
            positive("quantity"),
            non_negative("unit_price"),
            not_after_run("ordered_at"),
            not_after_run("status_at", unless="_later"),  # a later cancellation: read as it stood
        ),
        lookups=(*foreign_keys("orders"), within_campaign()),
        status_updates=True,
    )


def feedback() -> Staging:
    return Staging(
        "feedback",
        checks=(accepted("feedback", "action"), not_after_run("at")),
        lookups=foreign_keys("feedback"),
    )


STAGING: dict[str, Callable[[], Staging]] = {
    "suppliers": suppliers,
    "products": products,
    "shopkeepers": shopkeepers,
    "groups": groups,
    "memberships": memberships,
    "campaigns": campaigns,
    "posts": posts,
    "orders": orders,
    "feedback": feedback,
}
