"""GET /v1/groups/{group_id}/picks: the group's prepared picks body, straight from memory."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.auth import CallerDep, SnapshotDep, check_group
from api.errors import NotFound
from api.schemas import ERRORS, PicksOut

router = APIRouter(tags=["picks"])


@router.get("/v1/groups/{group_id}/picks", response_model=PicksOut, responses=ERRORS)
async def group_picks(
    group_id: str, caller: CallerDep, snap: SnapshotDep,
    date: Annotated[dt.date | None, Query(description="YYYY-MM-DD; default: the snapshot's latest")] = None,
) -> Response:
    """Today's picks for one group, with a reason per pick (the group's shopkeeper, or admin)."""
    check_group(caller, snap, group_id)
    day = date.isoformat() if date else None
    body = snap.picks_body(group_id, day)
    if body is None:
        raise NotFound(f"no picks for {day} in snapshot {snap.run_id}; dates held: "
                       f"{', '.join(snap.picks_dates) or 'none'}", code="no_picks_for_date")
    return Response(body, media_type="application/json")
