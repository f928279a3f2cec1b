"""Pages for people: sign in once with the key (HttpOnly cookie, never a URL), then picks or demand.

Pages authenticate by the cookie only; without a valid one they redirect to /login. The cookie is
HttpOnly, SameSite=Strict and Secure (unless the settings say the service is plain HTTP for local
use), so another site cannot make the browser send it. `api.guard` refuses a state-changing POST
(sign in, sign out, feedback with the cookie) whose Origin / Sec-Fetch-Site is another site, so a
page elsewhere cannot sign the victim in with the attacker's key or out; and it gives every page a
strict Content-Security-Policy, frame-ancestors 'none', nosniff and a same-origin Referrer-Policy.

Pages speak zh-CN unless `?lang=` or `Accept-Language` asks for English (`api.i18n.choose_locale`);
a `?lang=` choice (the header's language switch) is remembered in a cookie for the next pages.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.auth import Caller, check_group, check_shopkeeper, check_supplier, identify
from api.errors import ApiError
from api.i18n import LANGUAGE_TAGS, Messages, choose_locale, messages, supported
from api.render import admin_page, ignored_notice, login_page, message_page, shop_page, supplier_page
from api.snapshot import Snapshot

router = APIRouter(include_in_schema=False)
HOME_OF = {"shopkeeper": "/shop", "supplier": "/supplier", "admin": "/admin"}
MAX_FORM_BYTES = 4096
LANG_COOKIE = "circlebuy_lang"
LANG_COOKIE_MAX_AGE_S = 365 * 24 * 3600


def page_messages(request: Request) -> Messages:
    """The locale of this page: ?lang=, else the remembered choice, else Accept-Language, else zh-CN."""
    locale = choose_locale(
        request.query_params.get("lang"),
        request.headers.get("accept-language"),
        request.cookies.get(LANG_COOKIE),
    )
    return messages(locale)


def _here(request: Request) -> str:
    """This page's path and query without `lang`, for the language switch."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + (f"?{urlencode(params)}" if params else "")


def _remember_lang(request: Request, response: Response) -> Response:
    """A supported ?lang= is kept in a cookie, so the next pages (and the sign-in) speak it too."""
    chosen = supported(request.query_params.get("lang"))
    if chosen:
        response.set_cookie(
            LANG_COOKIE,
            LANGUAGE_TAGS[chosen],
            max_age=LANG_COOKIE_MAX_AGE_S,
            httponly=True,
            samesite="lax",
            secure=request.app.state.settings.cookie_secure,
            path="/",
        )
    return response


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


def _who(caller: Caller, m: Messages) -> str:
    _ = m.gettext
    role = {"shopkeeper": _("Shopkeeper"), "supplier": _("Supplier"), "admin": _("Admin")}
    return f"{role.get(caller.role, caller.role)} {caller.subject}"


def _to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _html(request: Request, m: Messages, text: str, status: int = 200) -> HTMLResponse:
    headers = {"Cache-Control": "no-store", "Content-Language": m.tag, "Vary": "Accept-Language, Cookie"}
    return _remember_lang(request, HTMLResponse(text, status_code=status, headers=headers))


def _key_refused(m: Messages, exc: ApiError) -> str:
    """Why the sign-in refused a key, in the page's language."""
    _ = m.gettext
    if exc.code == "unknown_key":
        # read by a shopkeeper or a supplier on a phone: who to ask, not the operator's command
        return _("This key is not known; check that it was pasted whole, or ask the platform for a new one.")
    if exc.code == "revoked_key":
        return _("This key was revoked; ask for a new one.")
    if exc.code == "keys_unreadable":
        return _("Sign-in is unavailable: the service cannot read its keys file. Try again later, or tell "
                 "the platform's operators.")
    return _("This key cannot sign in.")


@router.get("/")
async def index(request: Request) -> Response:
    caller = page_caller(request)
    response = RedirectResponse(HOME_OF[caller.role], status_code=303) if caller else _to_login()
    return _remember_lang(request, response)


@router.get("/login")
async def login_form(request: Request) -> Response:
    m = page_messages(request)
    return _html(request, m, login_page(m))


@router.post("/login")
async def login(request: Request) -> Response:
    m = page_messages(request)
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return _html(request, m, login_page(m, m.gettext("That is not a key (too long).")), 400)
    key = (parse_qs(raw.decode("utf-8", errors="replace")).get("key") or [""])[0].strip()
    try:
        caller = identify(request.app.state.keys, key) if key else None
    except ApiError as exc:
        return _html(request, m, login_page(m, _key_refused(m, exc)), exc.status)
    if caller is None:
        return _html(request, m, login_page(m, m.gettext("Paste your key first.")), 401)
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


def wants_page(request: Request) -> bool:
    """A browser asking for a page: Accept names text/html and the path is not the API's (/v1/...), whose
    errors stay JSON for the scripts that read them."""
    path = request.url.path
    if path == "/v1" or path.startswith("/v1/") or path in SERVICE_ROUTES:
        return False
    return "text/html" in request.headers.get("accept", "").lower()


# the operator's routes: their errors say what is wrong in words (`/readyz`'s 503 names the missing
# snapshot), which a generic page for a browser would hide
SERVICE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi.json"})


def error_page(request: Request, status: int, headers: dict[str, str] | None = None) -> Response | None:
    """An error (an unknown page such as /Shop, GET /logout, a failure) as a short page in the reader's
    language with the same status, for a browser (`wants_page`); None for anyone else, who gets the JSON
    error. Wired in by `api.errors.install_error_handlers`."""
    if not wants_page(request):
        return None
    m = page_messages(request)
    _ = m.gettext
    if status == 404:
        title, text = _("Not found"), _("There is no page at this address.")
    elif status == 405:
        title, text = _("Not available"), _("This address cannot be opened like this; use the page's links "
                                            "and buttons.")
    else:
        title, text = _("Something went wrong"), _("This page cannot be shown now; try again in a minute.")
    caller = page_caller(request)
    who = _who(caller, m) if caller else ""
    text = message_page(m, title, text, who, _here(request), _live_run(request))
    response = _html(request, m, text, status)
    for name, value in (headers or {}).items():  # Allow on a 405, WWW-Authenticate on a 401
        response.headers[name] = value
    return response


def _ignored(request: Request, m: Messages, takes: tuple[str, ...], day: str) -> str:
    """The notice for parameters this page does not take (`/supplier?as_of=...`), naming them and the day
    it shows; the API refuses them (422), a page shows itself and says so ("" when there are none)."""
    names = [name for name in dict.fromkeys(request.query_params) if name not in (*takes, "lang")]
    return ignored_notice(m, names, day)


def _open_page(request: Request) -> tuple[Caller, Messages, Snapshot] | Response:
    """Who asks, in which language, and the live snapshot; or the page that stops here (the login
    form for no one, 503 while no snapshot is loaded)."""
    caller = page_caller(request)
    if caller is None:
        return _to_login()
    m = page_messages(request)
    snap = request.app.state.live.current
    if snap is None:
        page = message_page(
            m, m.gettext("Not ready"), m.gettext("No snapshot is loaded yet; try again in a minute."),
            _who(caller, m), _here(request),
        )
        return _html(request, m, page, 503)
    return caller, m, snap


def _live_run(request: Request) -> str:
    """The live snapshot's run id, for a message page's footer ("" while none is loaded)."""
    snap = request.app.state.live.current
    return snap.run_id if snap is not None else ""


def _not_yours(request: Request, m: Messages, caller: Caller, text: str) -> HTMLResponse:
    page = message_page(m, m.gettext("Not yours"), text, _who(caller, m), _here(request), _live_run(request))
    return _html(request, m, page, 403)


def _refused(request: Request, m: Messages, caller: Caller, exc: ApiError, not_yours: str) -> HTMLResponse:
    """A tenancy check's answer as a page: 404 for what the snapshot does not hold, else 403."""
    if exc.status == 404:
        page = message_page(m, m.gettext("Not found"), m.gettext("Nothing by that id in the live snapshot."),
                            _who(caller, m), _here(request), _live_run(request))
        return _html(request, m, page, 404)
    if exc.code == "unknown_subject":
        not_yours = m.gettext("This key was made for an id that today's data does not hold; ask the platform "
                              "for a key made for your own id.")
    return _not_yours(request, m, caller, not_yours)


def _marks(request: Request, snap: Snapshot, shopkeeper_id: str) -> dict[tuple[str, str], str]:
    """Today's posted / skip marks for the shopkeeper's groups, so a reload shows what was done."""
    store = request.app.state.feedback
    return store.marks_on(store.today(), snap.groups_of.get(shopkeeper_id, []))


@router.get("/shop")
async def shop(request: Request, shopkeeper: str | None = None, group: str | None = None) -> Response:
    """One of the shopkeeper's groups at a time (`?group=`, default the first), with a switcher to the
    others; an admin opens a shopkeeper's page with `?shopkeeper=` (or just `?group=`)."""
    opened = _open_page(request)
    if isinstance(opened, Response):
        return opened
    caller, m, snap = opened
    if caller.is_admin and not shopkeeper and not group:  # no id asked for: the list to pick from
        return _remember_lang(request, RedirectResponse("/admin", status_code=303))
    # the API's tenancy checks (api.auth), one copy: a page only words their answer for a person
    if caller.is_admin and shopkeeper is None and group is not None:
        shopkeeper = snap.group_owner.get(group, "")
    whose = shopkeeper or (caller.subject if caller.role == "shopkeeper" else "")
    not_group = m.gettext("This group is not one of this shopkeeper's groups.")
    try:
        check_shopkeeper(caller, snap, whose)
    except ApiError as exc:
        return _refused(request, m, caller, exc, m.gettext("This page shows a shopkeeper's own groups only."))
    if group is not None:
        try:
            check_group(caller, snap, group)
        except ApiError as exc:
            return _refused(request, m, caller, exc, not_group)
        if snap.group_owner.get(group) != whose:
            return _not_yours(request, m, caller, not_group)
    marks = _marks(request, snap, whose)
    notice = _ignored(request, m, ("shopkeeper", "group"), snap.default_picks_date)
    text = shop_page(
        snap, whose, _who(caller, m), marks, m, _here(request), group_id=group,
        served=request.app.state.served, admin_view=caller.is_admin, notice=notice,
    )
    return _html(request, m, text)


@router.get("/supplier")
async def supplier(request: Request, supplier: str | None = None) -> Response:
    opened = _open_page(request)
    if isinstance(opened, Response):
        return opened
    caller, m, snap = opened
    if caller.is_admin and not supplier:  # no id asked for: the list to pick from
        return _remember_lang(request, RedirectResponse("/admin", status_code=303))
    limit = request.app.state.settings.chart_campaigns
    whose = supplier or (caller.subject if caller.role == "supplier" else "")
    try:
        check_supplier(caller, snap, whose)
    except ApiError as exc:
        return _refused(request, m, caller, exc, m.gettext("This page shows a supplier's own products only."))
    notice = _ignored(request, m, ("supplier",), snap.date)
    return _html(request, m, supplier_page(snap, whose, _who(caller, m), limit, m, _here(request), notice))


@router.get("/admin")
async def admin(request: Request, q: str = "") -> Response:
    """Shopkeepers and suppliers to open, sorted by id; `?q=` keeps those whose id starts with it."""
    opened = _open_page(request)
    if isinstance(opened, Response):
        return opened
    caller, m, snap = opened
    if not caller.is_admin:
        return _not_yours(request, m, caller, m.gettext("This page is for admin keys."))
    excluded = request.app.state.exclusions.active()
    notice = _ignored(request, m, ("q",), snap.date)
    text = admin_page(snap, _who(caller, m), m, _here(request), excluded, q=q.strip(), notice=notice)
    return _html(request, m, text)
