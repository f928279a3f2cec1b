"""GET /v1/groups/{group_id}/picks: the group's prepared picks body, straight from memory.

This is the hottest route, so it runs on a `PreparedRoute`: FastAPI still routes it, documents it
from the declared signature below (path, query, security, response model) and maps its errors;
but each request goes to `fast_group_picks`, which calls the very same dependency functions
(`key_auth`, `live_snapshot`) and checks directly instead of through FastAPI's per-request
dependency solver (which costs more than the whole rest of the request; see BENCHMARKS.md).

Each pick's `reason` is rendered in zh-CN unless `?lang=` or `Accept-Language` asks for English
(`api.i18n.choose_locale`); the body carries `reason_code` and `reason_args` in every locale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.routing import APIRoute

from api.auth import Caller, CallerDep, SnapshotDep, check_group, key_auth, live_snapshot
from api.clock import parse_day_param
from api.errors import NotFound
from api.i18n import LANGUAGE_TAGS, choose_locale
from api.query import check_query, declared_query, strict_query
from api.schemas import ERRORS, PicksOut
from api.served import ServedPicks
from api.snapshot import Snapshot

Handler = Callable[[Request], Awaitable[Response]]


class PreparedRoute(APIRoute):
    """An APIRoute whose endpoint may carry `__prepared__`, a request -> response handler to run instead."""

    def get_route_handler(self) -> Handler:
        prepared = getattr(self.endpoint, "__prepared__", None)
        return prepared if prepared is not None else super().get_route_handler()


router = APIRouter(tags=["picks"], route_class=PreparedRoute, dependencies=[Depends(strict_query)])


def picks_response(
    caller: Caller, snap: Snapshot, served: ServedPicks, group_id: str, day: dt.date | None, locale: str
) -> Response:
    """Check the caller may read the group, then answer with the prepared body for that day and locale,
    less the picks hidden since it was published (`api.served`: not interested, exclusions)."""
    check_group(caller, snap, group_id)
    iso = day.isoformat() if day else None
    body = served.body(snap, group_id, iso, locale)
    if body is None:
        raise NotFound(
            f"no picks for {iso} in snapshot {snap.run_id}; dates held: "
            f"{', '.join(snap.picks_dates) or 'none'}",
            code="no_picks_for_date",
        )
    headers = {"Content-Language": LANGUAGE_TAGS[locale], "Vary": "Accept-Language"}
    return Response(body, media_type="application/json", headers=headers)


def parse_date_param(raw: str | None) -> dt.date | None:
    return parse_day_param(raw, "query.date")


@router.get("/v1/groups/{group_id:path}/picks", response_model=PicksOut, responses=ERRORS)
async def group_picks(
    group_id: str,
    caller: CallerDep,
    snap: SnapshotDep,
    request: Request,
    date: Annotated[
        str | None,
        Query(description="YYYY-MM-DD exactly; default: the snapshot's latest"),
    ] = None,
    lang: Annotated[
        str | None,
        Query(description="zh-CN (default) or en: the language of `reason`; wins over Accept-Language"),
    ] = None,
    accept_language: Annotated[
        str | None, Header(description="e.g. `en`, `en-US,en;q=0.9`: English reasons; default zh-CN")
    ] = None,
) -> Response:
    """Today's picks for one group, with a reason per pick (the group's shopkeeper, or admin).

    A product the group's shopkeeper marked "not interested" (or "skip", where the service is set to
    hide skipped picks) and a product excluded platform-wide (`POST /v1/admin/exclusions`) are left
    out from the next request on, the remaining picks ranked 1..n."""
    locale = choose_locale(lang, accept_language)
    served = request.app.state.served
    return picks_response(caller, snap, served, group_id, parse_date_param(date), locale)


async def fast_group_picks(request: Request) -> Response:
    """The same steps as `group_picks`, in the same order, without the generic dependency solver."""
    caller = await key_auth(request)
    snap = await live_snapshot(request)
    day, lang = None, None
    if request.scope["query_string"]:
        check_query(request, declared_query(request.scope["route"]))
        params = request.query_params
        day, lang = parse_date_param(params.get("date")), params.get("lang")
    locale = choose_locale(lang, request.headers.get("accept-language"))
    served = request.app.state.served
    return picks_response(caller, snap, served, request.path_params["group_id"], day, locale)


group_picks.__prepared__ = fast_group_picks  # type: ignore[attr-defined]
