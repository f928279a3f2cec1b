"""Request and response schemas, named by use. Responses of hot routes are prepared bytes; these
models document them in the OpenAPI schema (and validate request bodies)."""

from __future__ import annotations

import unicodedata
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from common.contract import FEEDBACK_ACTIONS

Action = Literal["skip", "posted", "not_interested"]
assert set(FEEDBACK_ACTIONS) == set(Action.__args__), "Action must follow the contract's feedback actions"


class ErrorOut(BaseModel):
    error: str = Field(description="A stable machine-readable code, e.g. not_yours, unknown_key")
    detail: str = Field(description="What went wrong and what to do, in words")


class PickOut(BaseModel):
    rank: int
    product_id: str
    name: str | None
    category: str | None = Field(description="The contract's category code, e.g. fresh")
    category_name: str | None = Field(description="The category's name in the response's language")
    price: float | None = Field(
        description="What members pay: the campaign's group-buy price, or the list price without a campaign"
    )
    list_price: float | None = Field(description="The product's list price (price below it is the deal)")
    campaign_id: str | None
    closes_at: str | None = Field(description="ISO-8601 with offset")
    slot: str
    reason: str = Field(description="Why, in the response's language (zh-CN unless lang / Accept-Language)")
    reason_code: str | None = Field(
        description="The kind of reason, e.g. replenish_due; null in snapshots published before codes"
    )
    reason_args: dict[str, str | int | float | None] | None = Field(
        description='The numbers the reason quotes, e.g. {"cycle_days": 6, "last_days": 6}'
    )
    score: float | None


class PicksOut(BaseModel):
    group_id: str
    date: str
    model_version: str
    picks: list[PickOut]


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=200)
    action: Action


class FeedbackOut(BaseModel):
    feedback_id: str
    group_id: str
    product_id: str
    action: Action
    at: str
    duplicate: bool = Field(description="True when this Idempotency-Key was already recorded")


def _printable(value: str) -> str:
    """Text kept in a log line: no control characters (newlines included), valid UTF-8, not blank."""
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
        raise ValueError("must not hold control characters (newlines, tabs) or lone surrogates")
    return value


class ExclusionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    product_id: str = Field(min_length=1, max_length=200, description="A product of the live snapshot")
    reason: str = Field(
        min_length=1, max_length=500, description="Why, for the record: e.g. 'recall: batch 2026-11-03'"
    )

    @field_validator("reason")
    @classmethod
    def _reason_printable(cls, value: str) -> str:
        return _printable(value)


class ExclusionOut(BaseModel):
    product_id: str
    name: str | None = Field(description="The product's name in the live snapshot")
    reason: str
    excluded_at: str = Field(description="ISO-8601 with offset")
    excluded_by: str = Field(description="The id of the admin key that excluded it")
    active: bool = Field(description="False once lifted (the answer of DELETE)")
    lifted_at: str | None = None
    lifted_by: str | None = None


class ExclusionsOut(BaseModel):
    exclusions: list[ExclusionOut]


class WarehouseDemandOut(BaseModel):
    as_of: str | None
    warehouse_id: str | None
    delivery_on: str | None
    ordered_qty: float | None
    groups_ordering: float | None
    forecast_p10: float | None
    forecast_p50: float | None
    forecast_p90: float | None
    suggested_qty: float | None
    method: str | None
    model_version: str | None


class CampaignDemandOut(BaseModel):
    campaign_id: str
    product_id: str
    name: str | None
    supplier_id: str
    opens_at: str | None
    closes_at: str | None
    snapshot: str
    as_of: str | None
    totals: dict[str, float]
    totals_note: str | None = None  # where the totals add several warehouses: what the summed bounds mean
    warehouses: list[WarehouseDemandOut]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    snapshot: str
    date: str
    model_version: str
    created_at: str
    loaded_at: float


ERRORS = {
    401: {"model": ErrorOut, "description": "Missing, unknown or revoked key"},
    403: {"model": ErrorOut, "description": "Not this key's data, or not this key's role"},
    404: {"model": ErrorOut, "description": "Unknown id (admin keys only) or date"},
    422: {"model": ErrorOut, "description": "Invalid request; the detail names the field"},
    503: {"model": ErrorOut, "description": "No snapshot loaded yet"},
}
