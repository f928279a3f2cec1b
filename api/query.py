"""Query strings of the API's data routes: only the parameters a route declares, each at most once.

A script that sends `?warehouse_id=W1` or `?limit=10` to a route that has no such filter must not get
every row back believing it filtered, and `?date=a&date=b` must not quietly mean the last one: both
are 422, naming the parameter and listing the ones the route takes. The parameters a route takes are
read from its own signature (FastAPI's dependant, sub-dependencies included), so this list is the
one the OpenAPI schema documents and cannot drift from it.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.errors import Invalid, clip

# id(route) -> its query parameters (routes live as long as the app)
_DECLARED: dict[int, tuple[str, ...]] = {}


def declared_query(route: APIRoute) -> tuple[str, ...]:
    """The query parameter names (aliases) a route declares, in the order of its signature."""
    names = _DECLARED.get(id(route))
    if names is None:
        names = _DECLARED[id(route)] = tuple(dict.fromkeys(p.alias for p in _query_fields(route.dependant)))
    return names


def _query_fields(dependant: Dependant) -> Iterator:
    """The query fields of a dependant and of its dependencies, depth first."""
    yield from dependant.query_params
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def check_query(request: Request, allowed: tuple[str, ...]) -> None:
    """422 `unknown_parameter` for a parameter not in `allowed`, 422 `repeated_parameter` for one sent
    more than once; each names the parameter (clipped) and says what the route takes."""
    if not request.scope.get("query_string"):
        return
    params = request.query_params
    takes = ", ".join(allowed) if allowed else "no query parameters"
    unknown = [name for name in params if name not in allowed]
    if unknown:
        shown = ", ".join(repr(clip(name)) for name in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise Invalid(
            f"query: unknown parameter{'s' if len(unknown) > 1 else ''} {shown}; "
            f"{request.method} {route_path(request)} takes {takes}",
            code="unknown_parameter",
        )
    for name in allowed:
        count = len(params.getlist(name))
        if count > 1:
            raise Invalid(
                f"query.{name}: given {count} times; send it once ({route_path(request)} takes {takes})",
                code="repeated_parameter",
            )


def route_path(request: Request) -> str:
    """The route's path template (/v1/groups/{group_id}/picks), else the request's path (clipped)."""
    route = request.scope.get("route")
    return route_template(route) or clip(request.url.path)


def route_template(route: object) -> str | None:
    """A matched route's path as written without its converters (`/v1/groups/{group_id}/picks`, not
    `{group_id:path}`), or None."""
    return getattr(route, "path_format", None) or getattr(route, "path", None)


async def strict_query(request: Request) -> None:
    """Router dependency of the data routes: the request's query must fit the matched route's."""
    route = request.scope.get("route")
    if isinstance(route, APIRoute):
        check_query(request, declared_query(route))
