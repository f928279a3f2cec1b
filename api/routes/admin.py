"""Platform-wide exclusions (a recalled product), admin keys only: one call takes a product off every
group's served list at once (`api.served`), durably (`api.exclusion_store`); the next nightly leaves
it out of the lists it publishes. DELETE lifts it."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth import CallerDep, SnapshotDep, check_admin
from api.errors import Invalid, NotFound, clip
from api.query import strict_query
from api.schemas import ERRORS, ExclusionIn, ExclusionOut, ExclusionsOut
from api.snapshot import Snapshot
from common.exclusions import ExclusionEvent

router = APIRouter(tags=["admin"], dependencies=[Depends(strict_query)])
WHAT = "manage platform-wide exclusions"


def exclusion_out(
    snap: Snapshot, excluded: ExclusionEvent, lifted: ExclusionEvent | None = None
) -> ExclusionOut:
    names = snap.product_names
    return ExclusionOut(
        product_id=excluded.product_id,
        name=names.get(excluded.product_id),
        reason=excluded.reason,
        excluded_at=excluded.at,
        excluded_by=excluded.by,
        active=lifted is None,
        lifted_at=lifted.at if lifted else None,
        lifted_by=lifted.by if lifted else None,
    )


@router.get("/v1/admin/exclusions", response_model=ExclusionsOut, responses=ERRORS)
async def list_exclusions(caller: CallerDep, snap: SnapshotDep, request: Request) -> ExclusionsOut:
    """The products excluded platform-wide now (admin keys only)."""
    check_admin(caller, WHAT)
    events = request.app.state.exclusions.active()
    return ExclusionsOut(exclusions=[exclusion_out(snap, e) for e in events])


@router.post(
    "/v1/admin/exclusions",
    status_code=201,
    response_model=ExclusionOut,
    responses={**ERRORS, 200: {"model": ExclusionOut, "description": "The product was excluded already"}},
)
async def add_exclusion(
    body: ExclusionIn, caller: CallerDep, snap: SnapshotDep, request: Request
) -> JSONResponse:
    """Exclude a product from every group's picks at once (a recall): 201, durably recorded before the
    answer; 200 with the first exclusion when it is excluded already. The next nightly leaves it out too."""
    check_admin(caller, WHAT)
    if body.product_id not in snap.product_supplier:
        raise Invalid(
            f"body.product_id: {clip(body.product_id)!r} is not a product of snapshot {snap.run_id}; "
            "exclude products by the ids the picks carry",
            code="unknown_product",
        )
    store = request.app.state.exclusions
    event, created = await run_in_threadpool(store.exclude, body.product_id, body.reason, caller.key_id)
    out = exclusion_out(snap, event)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.delete("/v1/admin/exclusions/{product_id:path}", response_model=ExclusionOut, responses=ERRORS)
async def lift_exclusion(
    product_id: str, caller: CallerDep, snap: SnapshotDep, request: Request
) -> ExclusionOut:
    """Lift a product's exclusion: it may be picked and served again (admin keys only); 404 when it
    is not excluded."""
    check_admin(caller, WHAT)
    lifted = await run_in_threadpool(request.app.state.exclusions.lift, product_id, caller.key_id)
    if lifted is None:
        raise NotFound(
            f"product {clip(product_id)!r} is not excluded; GET /v1/admin/exclusions lists those that are",
            code="not_excluded",
        )
    return exclusion_out(snap, *lifted)
