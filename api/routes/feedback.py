"""POST /v1/groups/{group_id}/feedback: durably recorded before the 202, once per Idempotency-Key.

Idempotency keys belong to the API key that sent them (`scoped_id`): another caller's use of the
same key is another request, and a 409 only ever describes the caller's own earlier request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import CallerDep, SnapshotDep, check_group
from api.errors import Conflict, Invalid, clip
from api.feedback_store import KEY_PATTERN, scoped_id
from api.query import strict_query
from api.schemas import ERRORS, FeedbackIn, FeedbackOut
from api.snapshot import Snapshot

router = APIRouter(tags=["feedback"], dependencies=[Depends(strict_query)])


MARKED_ON_TODAYS_LIST = ("posted", "skip")  # as on the page: not_interested may be said of any list


def check_on_list(snap: Snapshot, group_id: str, product_id: str, action: str, today: str) -> None:
    """Feedback is about a pick: the product must be on the group's list for today or on its latest
    list (the one the page shows), and posted / skip only on today's list (the page turns those
    buttons off on a list for another day). 422 naming the product and the list's date otherwise."""
    if product_id not in snap.product_supplier:
        raise Invalid(
            f"body.product_id: {clip(product_id)!r} is not a product of snapshot {snap.run_id}",
            code="unknown_product",
        )
    latest = snap.default_picks_date
    days = tuple(dict.fromkeys((today, latest)))
    on = [day for day in days if product_id in snap.picked(group_id, day)]
    if not on:
        held = [day for day in days if day in snap.pick_products] or [latest]
        raise Invalid(
            f"body.product_id: {clip(product_id)!r} is not on the pick list of group {clip(group_id)!r} "
            f"for {' or '.join(held)} (snapshot {snap.run_id}); feedback is about the products of "
            "that list (GET /v1/groups/{group_id}/picks)",
            code="not_in_picks",
        )
    if action in MARKED_ON_TODAYS_LIST and today not in on:
        raise Invalid(
            f"body.action: {action!r} is marked on today's list only; the pick list of group "
            f"{clip(group_id)!r} is for {on[0]}, not today ({today}), so nothing on it is posted or "
            "skipped today (not_interested may still be sent)",
            code="stale_list",
        )


@router.post(
    "/v1/groups/{group_id:path}/feedback",
    status_code=202,
    response_model=FeedbackOut,
    responses={**ERRORS, 409: ERRORS[422] | {"description": "Idempotency-Key reused for another body"}},
)
async def post_feedback(
    group_id: str,
    body: FeedbackIn,
    caller: CallerDep,
    snap: SnapshotDep,
    request: Request,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", max_length=128, pattern=KEY_PATTERN.pattern)
    ] = None,
) -> JSONResponse:
    """The group's shopkeeper says a pick was posted, skipped or is not interesting: a product of the
    group's current list (422 `not_in_picks`), posted / skip on today's list only (422 `stale_list`)."""
    check_group(
        caller, snap, group_id, admin_ok=False, what="send feedback (only the group's shopkeeper can)"
    )
    store = request.app.state.feedback
    feedback_id = scoped_id(caller.key_id, idempotency_key)
    if idempotency_key is None or store.get(feedback_id) is None:  # a retry gets its first answer
        check_on_list(snap, group_id, body.product_id, body.action, store.today())
    record, created = await run_in_threadpool(
        store.record, group_id, body.product_id, body.action, feedback_id
    )
    if not record.same_request(group_id, body.product_id, body.action):
        raise Conflict(
            f"Idempotency-Key {clip(idempotency_key)!r} was already used by this key for another request "
            f"(group {record.group_id}, product {record.product_id}, action {record.action}); "
            "use a new key for each new request",
            code="idempotency_conflict",
        )
    out = FeedbackOut(
        feedback_id=record.feedback_id,
        group_id=record.group_id,
        product_id=record.product_id,
        action=record.action,
        at=record.at,
        duplicate=not created,
    )  # type: ignore[arg-type]
    return JSONResponse(out.model_dump(), status_code=202)
