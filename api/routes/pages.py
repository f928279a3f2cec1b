"""Pages for people: sign in once with the key (HttpOnly cookie, never a URL), then picks or demand.

Pages authenticate by the cookie only; without a valid one they redirect to /login. The cookie is
HttpOnly, SameSite=Strict and Secure (unless the settings say the service is plain HTTP for local
use), so another site cannot make the browser send it. `api.guard` refuses a state-changing POST
(sign in, sign out, feedback with the cookie) whose Origin / Sec-Fetch-Site is another site, so a
page elsewhere cannot sign the victim in with the attacker's key or out; and it gives every page a
strict Content-Security-Policy, frame-ancestors 'none', nosniff and a same-origin Referrer-Policy.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Caller, identify
from api.clock import platform_today
from api.errors import ApiError
from api.render import admin_page, login_page, message_page, shop_page, supplier_page
from api.snapshot import Snapshot

router = APIRouter(include_in_schema=False)
HOME_OF = {"shopkeeper": "/shop", "supplier": "/supplier", "admin": "/admin"}
MAX_FORM_BYTES = 4096


def page_caller(request: Request) -> Caller | None:
    key = request.cookies.get(request.app.state.settings.cookie_name)
    if not key:
        return None
    try:
        caller = identify(request.app.state.keys, key)
    except ApiError:
        return None
    state = request.scope.setdefault("state", {})
    state["key_id"], state["role"] = caller.key_id, caller.role
    return caller


def _who(caller: Caller) -> str:
    return f"{caller.role} {caller.subject}"


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _html(text: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


@router.get("/")
async def index(request: Request) -> Response:
    caller = page_caller(request)
    return RedirectResponse(HOME_OF[caller.role], status_code=303) if caller else _to_login()


@router.get("/login")
async def login_form(request: Request) -> Response:
    return _html(login_page())


@router.post("/login")
async def login(request: Request) -> Response:
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return _html(login_page("That is not a key (too long)."), 400)
    key = (parse_qs(raw.decode("utf-8", errors="replace")).get("key") or [""])[0].strip()
    try:
        caller = identify(request.app.state.keys, key) if key else None
    except ApiError as exc:
        return _html(login_page(exc.detail), 401)
    if caller is None:
        return _html(login_page("Paste your key first."), 401)
    settings = request.app.state.settings
    response = RedirectResponse(HOME_OF[caller.role], status_code=303)
    response.set_cookie(
        settings.cookie_name,
        key,
        max_age=settings.cookie_max_age_s,
        httponly=True,
        samesite="strict",
        secure=settings.cookie_secure,
        path="/",
    )
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    response = _to_login()
    settings = request.app.state.settings
    response.delete_cookie(
        settings.cookie_name, path="/", httponly=True, samesite="strict", secure=settings.cookie_secure
    )
    return response


def _snapshot_or_page(request: Request, caller: Caller):
    snap = request.app.state.live.current
    if snap is None:
        return None, _html(
            message_page("Not ready", "No snapshot is loaded yet; try again in a minute.", _who(caller)), 503
        )
    return snap, None


def _marks(request: Request, snap: Snapshot, shopkeeper_id: str) -> dict[tuple[str, str], str]:
    """Today's posted / skip marks for the shopkeeper's groups, so a reload shows what was done."""
    today = platform_today().isoformat()
    return request.app.state.feedback.marks_on(today, snap.groups_of.get(shopkeeper_id, []))


@router.get("/shop")
async def shop(request: Request, shopkeeper: str | None = None) -> Response:
    caller = page_caller(request)
    if caller is None:
        return _to_login()
    snap, early = _snapshot_or_page(request, caller)
    if early:
        return early
    if caller.role == "shopkeeper" and shopkeeper in (None, caller.subject):
        return _html(shop_page(snap, caller.subject, _who(caller), _marks(request, snap, caller.subject)))
    if caller.is_admin and shopkeeper:
        return _html(shop_page(snap, shopkeeper, _who(caller), _marks(request, snap, shopkeeper)))
    return _html(
        message_page("Not yours", "This page shows a shopkeeper's own groups only.", _who(caller)), 403
    )


@router.get("/supplier")
async def supplier(request: Request, supplier: str | None = None) -> Response:
    caller = page_caller(request)
    if caller is None:
        return _to_login()
    snap, early = _snapshot_or_page(request, caller)
    if early:
        return early
    limit = request.app.state.settings.chart_campaigns
    if caller.role == "supplier" and supplier in (None, caller.subject):
        return _html(supplier_page(snap, caller.subject, _who(caller), limit))
    if caller.is_admin and supplier:
        return _html(supplier_page(snap, supplier, _who(caller), limit))
    return _html(
        message_page("Not yours", "This page shows a supplier's own products only.", _who(caller)), 403
    )


@router.get("/admin")
async def admin(request: Request) -> Response:
    caller = page_caller(request)
    if caller is None:
        return _to_login()
    snap, early = _snapshot_or_page(request, caller)
    if early:
        return early
    if not caller.is_admin:
        return _html(message_page("Not yours", "This page is for admin keys.", _who(caller)), 403)
    return _html(admin_page(snap, _who(caller)))
