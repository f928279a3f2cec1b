"""Supplier downloads (JSON / CSV / Parquet, streamed from prepared bytes) and per-campaign demand."""

from __future__ import annotations

from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Annotated, Literal
from urllib.parse import quote

import polars as pl
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BeforeValidator

from api.auth import CallerDep, SnapshotDep, check_campaign, check_supplier
from api.clock import parse_day_param
from api.errors import NotFound, clip
from api.query import strict_query
from api.schemas import ERRORS, CampaignDemandOut
from api.snapshot import Download, Snapshot
from common.clock import TZ, day_start, parse_iso_day
from common.contract import upcoming_until

router = APIRouter(tags=["demand"], dependencies=[Depends(strict_query)])
DOWNLOAD_RESPONSES = {
    200: {
        "description": "The supplier's demand rows",
        "content": {"application/json": {}, "text/csv": {}, "application/vnd.apache.parquet": {}},
    },
    304: {"description": "Not modified since the ETag / date the client holds"},
    **ERRORS,
}


def _casefold(value: object) -> object:
    """`format=CSV` is `format=csv`: the format's name is matched without regard to case."""
    return value.strip().lower() if isinstance(value, str) else value


Format = Annotated[Literal["json", "csv", "parquet"], BeforeValidator(_casefold)]
# a client that sends ?lang= on every request (the picks route and the pages read it) is not refused
# here: the demand's columns are codes, numbers and ids, the same in either language
Lang = Annotated[str | None, Query(description="accepted as on the picks route (zh-CN or en); the demand's "
                                               "columns are the same in either language")]


def _chunks(body: bytes, size: int) -> Iterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(view), size):
        yield view[start : start + size]


def not_modified(
    download: Download, snap: Snapshot, if_none_match: str | None, if_modified_since: str | None
) -> bool:
    """RFC 9110: If-None-Match wins; If-Modified-Since is looked at only without it."""
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or download.etag in tags
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return (
            since is not None
            and since.tzinfo is not None
            and parsedate_to_datetime(snap.last_modified) <= since
        )
    return False


def content_disposition(ascii_name: str, supplier_id: str) -> str:
    """`attachment` with the prepared ASCII name (`demand_SUP7_2026-11-22.csv`; any other character of the
    id made `_`) in `filename`, for old clients, and the name with the supplier's real id in `filename*`,
    UTF-8 percent-encoded (RFC 6266 / 5987), which browsers prefer: 供应商A 01 downloads
    `demand_供应商A 01_2026-11-22.csv`, not `demand____A_01_...`. The prepared name ends in
    `_<as-of day>.<format>`, which is kept as it is."""
    tail = ascii_name.rsplit("_", 1)[-1]
    real = f"demand_{supplier_id}_{tail}"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(real, safe='')}"


@router.get("/v1/suppliers/{supplier_id:path}/demand", responses=DOWNLOAD_RESPONSES, response_class=Response)
async def supplier_demand(
    supplier_id: str,
    caller: CallerDep,
    snap: SnapshotDep,
    request: Request,
    fmt: Annotated[Format, Query(alias="format", description="json (default), csv or parquet, any case")] = (
        "json"
    ),
    as_of: Annotated[str | None, Query(description="YYYY-MM-DD exactly")] = None,
    lang: Lang = None,
    if_none_match: Annotated[str | None, Header()] = None,
    if_modified_since: Annotated[str | None, Header()] = None,
) -> Response:
    """The supplier's rows of the demand table; `format=json|csv|parquet`, `as_of=YYYY-MM-DD` to filter."""
    check_supplier(caller, snap, supplier_id)
    parsed = parse_day_param(as_of, "query.as_of")
    day = parsed.isoformat() if parsed else None
    download = await run_in_threadpool(snap.download, supplier_id, day, fmt)
    if download is None:
        raise NotFound(
            f"no demand rows as of {day} for supplier {clip(supplier_id)!r}; as-of dates held: "
            f"{', '.join(snap.supplier_as_ofs(supplier_id)) or 'none'}",
            code="no_demand_for_date",
        )
    headers = {
        "ETag": download.etag,
        "Last-Modified": snap.last_modified,
        "Cache-Control": "private, no-cache",
    }
    if not_modified(download, snap, if_none_match, if_modified_since):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = content_disposition(download.filename, supplier_id)
    headers["Content-Length"] = str(len(download.body))
    chunk = request.app.state.settings.download_chunk_bytes
    return StreamingResponse(_chunks(download.body, chunk), media_type=download.media_type, headers=headers)


@router.get("/v1/campaigns/{campaign_id:path}/demand", response_model=CampaignDemandOut, responses=ERRORS)
async def campaign_demand(campaign_id: str, caller: CallerDep, snap: SnapshotDep,
                          lang: Lang = None) -> Response:
    """Pooled orders so far and the forecast at cutoff, per warehouse (the campaign's supplier, or admin);
    404 `no_demand` for a campaign the live snapshot holds no demand rows for."""
    check_campaign(caller, snap, campaign_id)
    body = snap.campaign_bodies.get(campaign_id)
    if body is None:  # a campaign of the snapshot that no demand row is about: say why, not zeros
        raise NotFound(
            f"campaign {clip(campaign_id)!r} has no demand rows in the live snapshot (run {snap.run_id}, "
            f"as of {snap.date}): {_why_no_demand(snap, campaign_id)}",
            code="no_demand",
        )
    return Response(body, media_type="application/json")


def _why_no_demand(snap: Snapshot, campaign_id: str) -> str:
    """Why the snapshot's demand leaves a campaign out: it closed by the snapshot's as-of instant (the
    start of its day, as the nightly reads it: its pooled orders were final at the cutoff), it opens
    after the demand's lookahead, or neither."""
    window = snap.campaigns.filter(pl.col("campaign_id") == campaign_id).select("opens_at", "closes_at")
    as_of = day_start(parse_iso_day(snap.date))
    if window.height:
        opens, closes = window.row(0)
        if closes is not None and closes <= as_of:
            return (f"it closed at {closes.astimezone(TZ):%Y-%m-%d %H:%M} (platform time), before the "
                    "snapshot's as-of; demand covers the campaigns still open or about to open, and a "
                    "closed campaign's pooled orders were final at its cutoff")
        if opens is not None and opens > upcoming_until(as_of):
            return (f"it opens at {opens.astimezone(TZ):%Y-%m-%d %H:%M} (platform time), after the "
                    "campaigns this snapshot's demand covers (open at its as-of, or opening soon after)")
    return "nothing was pooled or forecast for it that day"
