"""POST /v1/groups/{group_id}/feedback: durably recorded before the 202, once per Idempotency-Key.

Idempotency keys belong to the API key that sent them (`scoped_id`): another caller's use of the
same key is another request, and a 409 only ever describes the caller's own earlier request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import CallerDep, SnapshotDep, check_group
from api.errors import Conflict, Invalid
from api.feedback_store import KEY_PATTERN, scoped_id
from api.schemas import ERRORS, FeedbackIn, FeedbackOut

router = APIRouter(tags=["feedback"])


@router.post(
    "/v1/groups/{group_id}/feedback",
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
    """The group's shopkeeper says a pick was posted, skipped or is not interesting."""
    check_group(
        caller, snap, group_id, admin_ok=False, what="send feedback (only the group's shopkeeper can)"
    )
    if body.product_id not in snap.product_supplier:
        raise Invalid(
            f"body.product_id: {body.product_id!r} is not a product of snapshot {snap.run_id}",
            code="unknown_product",
        )
    store = request.app.state.feedback
    feedback_id = scoped_id(caller.key_id, idempotency_key)
    record, created = await run_in_threadpool(
        store.record, group_id, body.product_id, body.action, feedback_id
    )
    if not record.same_request(group_id, body.product_id, body.action):
        raise Conflict(
            f"Idempotency-Key {idempotency_key!r} was already used by this key for another request "
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
