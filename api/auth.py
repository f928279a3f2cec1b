"""Who is calling, and may they see this? Annotated dependencies plus the ownership rules.

A key comes in `Authorization: Bearer <key>` (scripts) or in the HttpOnly cookie set by the
sign-in page (browsers); never in a URL. Missing, unknown or revoked key -> 401.

Tenancy rule (one rule, everywhere): a non-admin key asking for a group / supplier / campaign that
is not its own gets 403 `not_yours`, whether or not that id exists, so a key never learns which
other ids exist. A role that may not use a route at all gets 403 `wrong_role`; a key whose own
shopkeeper / supplier id the snapshot does not hold gets 403 `unknown_subject`. An admin key
reaches everything; an admin asking for an id that is not in the snapshot gets 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPBearer

from api.errors import Forbidden, NotFound, NotReady, Unauthorized, clip
from api.keys import KeyStore, KeysUnreadable
from api.snapshot import Snapshot


@dataclass(frozen=True)
class Caller:
    key_id: str
    role: str
    subject: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def key_from_request(request: Request) -> str | None:
    """The presented key: the Bearer token, else the sign-in cookie; None when neither is there."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("expected the header 'Authorization: Bearer <key>'", code="bad_authorization")
        return token.strip()
    return request.cookies.get(request.app.state.settings.cookie_name) or None


def identify(store: KeyStore, key: str, state: dict | None = None) -> Caller:
    """The caller a key belongs to, or 401 naming why (unknown / revoked), never echoing the key.

    With `state` (the request's), a revoked key's id and role are noted there before the 401, so the
    access log says which key was refused. While keys.json cannot be read, every key gets 503
    `keys_unreadable` (fail closed; the store logged the path once): the detail names the file and
    what is wrong, not where it is or what it holds."""
    try:
        record = store.lookup(key)
    except KeysUnreadable as exc:
        raise NotReady(f"the service's API keys file (keys.json) cannot be read: {exc.detail}; every key is "
                       "refused until an operator fixes it (the server log names the file)",
                       code="keys_unreadable") from None
    if record is None:
        raise Unauthorized(
            "this key is not known; ask for a key with `circlebuy keys create`", code="unknown_key"
        )
    if record.revoked:
        if state is not None:
            state["key_id"], state["role"] = record.key_id, record.role
        raise Unauthorized(f"key {record.key_id} was revoked", code="revoked_key")
    return Caller(record.key_id, record.role, record.subject)


def authenticate(request: Request) -> Caller:
    """Identify the request's key once; the caller (and whether the key came in the sign-in cookie)
    is kept in the request's state for the route's dependency and the access log."""
    state = request.scope.setdefault("state", {})
    caller = state.get("caller")
    if caller is not None:
        return caller
    key = key_from_request(request)
    if key is None:
        raise Unauthorized(
            "missing key: send 'Authorization: Bearer <key>' or sign in at /login", code="missing_key"
        )
    caller = identify(request.app.state.keys, key, state)
    state["caller"] = caller
    state["key_id"] = caller.key_id
    state["role"] = caller.role
    state["via_cookie"] = "authorization" not in request.headers
    return caller


class KeyAuth(HTTPBearer):
    """Bearer-or-cookie authentication; an HTTPBearer so the OpenAPI schema documents it.

    `api.guard` has normally authenticated the request already (before its body was read); this
    reuses that caller."""

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        return authenticate(request)


key_auth = KeyAuth(auto_error=False, description="An API key from `circlebuy keys create`.")


async def live_snapshot(request: Request) -> Snapshot:
    snapshot = request.app.state.live.current
    if snapshot is None:
        raise NotReady(f"no snapshot loaded yet: {request.app.state.live.public_error or 'starting'}")
    return snapshot


CallerDep = Annotated[Caller, Depends(key_auth)]
SnapshotDep = Annotated[Snapshot, Depends(live_snapshot)]


def _wrong_role(caller: Caller, what: str) -> Forbidden:
    return Forbidden(f"{_article(caller.role)} {caller.role} key cannot {what}", code="wrong_role")


def check_group(
    caller: Caller,
    snap: Snapshot,
    group_id: str,
    *,
    admin_ok: bool = True,
    what: str = "read a group's picks",
) -> None:
    """The group's shopkeeper (and admin when `admin_ok`) may pass; see the module's tenancy rule."""
    if caller.role == "shopkeeper":
        if snap.group_owner.get(group_id) != caller.subject:
            raise Forbidden(
                f"group {clip(group_id)!r} is not one of shopkeeper {caller.subject}'s groups",
                code="not_yours",
            )
        return
    if caller.is_admin and admin_ok:
        if group_id not in snap.group_owner:
            raise NotFound(f"group {clip(group_id)!r} is not in snapshot {snap.run_id}")
        return
    raise _wrong_role(caller, what)


def check_shopkeeper(caller: Caller, snap: Snapshot, shopkeeper_id: str) -> None:
    """A shopkeeper's own page (all their groups): that shopkeeper, or an admin when the snapshot
    knows the shopkeeper (404 otherwise, as for an unknown group)."""
    if caller.role == "shopkeeper":
        if shopkeeper_id != caller.subject:
            raise Forbidden(
                f"shopkeeper {clip(shopkeeper_id)!r} is not this key's shopkeeper ({caller.subject})",
                code="not_yours",
            )
        _check_subject_known(caller, snap, caller.subject in set(snap.group_owner.values()), "groups")
        return
    if caller.is_admin:
        if shopkeeper_id not in set(snap.group_owner.values()):
            raise NotFound(f"shopkeeper {clip(shopkeeper_id)!r} is not in snapshot {snap.run_id}")
        return
    raise _wrong_role(caller, "open a shopkeeper's page")


def check_supplier(caller: Caller, snap: Snapshot, supplier_id: str) -> None:
    if caller.role == "supplier":
        if supplier_id != caller.subject:
            raise Forbidden(
                f"supplier {clip(supplier_id)!r} is not this key's supplier ({caller.subject})",
                code="not_yours",
            )
        known = caller.subject in snap.suppliers or caller.subject in snap.supplier_names
        _check_subject_known(caller, snap, known, "products or suppliers")
        return
    if caller.is_admin:
        if supplier_id not in snap.suppliers:
            raise NotFound(f"supplier {clip(supplier_id)!r} is not in snapshot {snap.run_id}")
        return
    raise _wrong_role(caller, "read supplier demand")


def _check_subject_known(caller: Caller, snap: Snapshot, known: bool, where: str) -> None:
    """A key made for an id the snapshot does not hold (a typo at `keys create`, which warned so)
    gets 403 `unknown_subject`, not an empty answer that reads as "nothing this week". It names
    only the key's own id, so no other id is revealed."""
    if not known:
        raise Forbidden(
            f"this key's {caller.role} {clip(caller.subject)!r} is not in snapshot {snap.run_id} (no {where} "
            f"name it); check the id the key was created for, or ask an admin for a new key",
            code="unknown_subject",
        )


def check_campaign(caller: Caller, snap: Snapshot, campaign_id: str) -> None:
    if caller.role == "supplier":
        if snap.campaign_supplier.get(campaign_id) != caller.subject:
            raise Forbidden(
                f"campaign {clip(campaign_id)!r} is not one of supplier {caller.subject}'s campaigns",
                code="not_yours",
            )
        return
    if caller.is_admin:
        if campaign_id not in snap.campaign_supplier:
            raise NotFound(f"campaign {clip(campaign_id)!r} is not in snapshot {snap.run_id}")
        return
    raise _wrong_role(caller, "read campaign demand")


def check_admin(caller: Caller, what: str) -> None:
    """Admin keys only; any other role gets 403 `wrong_role`."""
    if not caller.is_admin:
        raise Forbidden(f"{_article(caller.role)} {caller.role} key cannot {what} (admin keys only)",
                        code="wrong_role")


def _article(word: str) -> str:
    """'an' before admin, 'a' before shopkeeper and supplier."""
    return "an" if word[:1] in "aeiou" else "a"
