"""API keys: created once and printed, stored only as a SHA-256 hash in HOME/keys.json, revocable.

A key looks like `cb_<key_id>_<secret>`: the key id (8 hex) names it in `keys list` / `keys revoke`
and in logs; the secret (32 random bytes) never leaves the caller. Keys are high-entropy random
values, so one SHA-256 is enough to store them (no slow password hash needed), and a lookup is a
dict access on that hash.

keys.json: {"version": 1, "keys": [{"key_id", "hash", "role", "subject", "created_at", "revoked",
"revoked_at"}]} written atomically (temp file + rename) under an exclusive lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from common.errors import UsageError
from common.home import Home

ROLES = ("shopkeeper", "supplier", "admin")
KEY_PREFIX = "cb_"
# a whole key as `keys create` prints it: the prefix, the 8-hex key id, then the secret
FULL_KEY = re.compile(rf"{KEY_PREFIX}([0-9a-f]{{8}})_(.+)", re.DOTALL)
log = logging.getLogger("circlebuy.api")


@dataclass(frozen=True)
class KeyRecord:
    """What the service knows about one key (never the key itself)."""

    key_id: str
    role: str
    subject: str
    revoked: bool


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _read(path: Path) -> dict:
    """keys.json for the CLI, held to what the server accepts (`_entries`, one definition): a file the
    server would refuse is never written on top of, with `keys create` saying "created"."""
    if not path.exists():
        return {"version": 1, "keys": []}
    try:
        text = path.read_text(encoding="utf-8")
        _entries(text)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a usable keys file ({exc}); fix it or restore it from a backup "
                         "(the server refuses every key while it is like this)") from None
    return json.loads(text)


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@contextmanager
def _locked(home: Home) -> Iterator[Path]:
    home.root.mkdir(parents=True, exist_ok=True)
    with open(home.root / ".keys.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield home.keys
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def create_key(home: Home, role: str, subject: str) -> str:
    """Create a key for `role` acting as `subject`; return it (the caller prints it once)."""
    return create_keys(home, [(role, subject)])[0]


def create_keys(home: Home, wanted: list[tuple[str, str]]) -> list[str]:
    """Create several keys in one write of keys.json (benchmarks, seeding a demo)."""
    for role, subject in wanted:
        if role not in ROLES:
            raise UsageError(f"--role: expected one of {', '.join(ROLES)}; got {role!r}")
        if not subject or not subject.strip():
            raise UsageError("--subject: expected a shopkeeper_id / supplier_id / name; got an empty value")
    keys = []
    with _locked(home) as path:
        data = _read(path)
        taken = {k["key_id"] for k in data["keys"]}
        for role, subject in wanted:
            key_id = secrets.token_hex(4)
            while key_id in taken:
                key_id = secrets.token_hex(4)
            taken.add(key_id)
            key = f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            data["keys"].append(
                {
                    "key_id": key_id,
                    "hash": hash_key(key),
                    "role": role,
                    "subject": subject.strip(),
                    "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "revoked": False,
                    "revoked_at": None,
                }
            )
            keys.append(key)
        _write(path, data)
    return keys


SUBJECT_SOURCES = {  # where the live snapshot names each role's subjects (any of the files)
    "shopkeeper": (("groups.parquet", "shopkeeper_id"),),
    "supplier": (("products.parquet", "supplier_id"), ("suppliers.parquet", "supplier_id")),
}


def unknown_subject(home: Home, role: str, subject: str) -> str | None:
    """A warning when the live snapshot holds no such shopkeeper / supplier (a typo gives a key that
    gets 403 everywhere); None when it does, for admin keys, or with no snapshot to check against."""
    if role not in SUBJECT_SOURCES:
        return None
    sources = SUBJECT_SOURCES[role]
    first = home.current / sources[0][0]
    if not first.exists():
        return f"no live snapshot to check {role} {subject!r} against; make sure the id is right"
    import polars as pl

    for name, column in sources:
        path = home.current / name
        if not path.exists():
            continue
        try:
            found = pl.scan_parquet(path).filter(pl.col(column) == subject.strip()).head(1).collect().height
        except Exception as exc:  # a broken snapshot must not stop key creation
            return f"could not check {role} {subject!r} against {path.name} ({type(exc).__name__})"
        if found:
            return None
    where = " or ".join(f"{column} in {name}" for name, column in sources)
    return (
        f"{role} {subject!r} is not in the live snapshot ({where}); the key will be refused "
        f"(403) for everything until that id appears. Check the id, or revoke the key"
    )


def key_id_of(argument: str) -> str:
    """The key id an argument names: the id inside a whole key (`cb_<id>_<secret>`, pasted as `keys
    create` printed it) or inside `cb_<id>`; else the argument itself (a bare id from `keys list`)."""
    argument = argument.strip()
    whole = FULL_KEY.fullmatch(argument)
    if whole:
        return whole.group(1)
    if argument.startswith(KEY_PREFIX) and re.fullmatch(r"[0-9a-f]{8}", argument[len(KEY_PREFIX):]):
        return argument[len(KEY_PREFIX):]
    return argument


def _shown(argument: str) -> str:
    """An argument as an error message may repeat it: never a secret. Up to the key id of anything
    shaped like a key (`cb_<id>_…`); a short value (an id) as it is; else only its length."""
    argument = argument.strip()
    if argument.startswith(KEY_PREFIX):
        head, sep, _ = argument[len(KEY_PREFIX):].partition("_")
        return f"{KEY_PREFIX}{head[:16]}{'…' if len(head) > 16 else ''}{'_…' if sep else ''}"
    if len(argument) <= 16 and "_" not in argument:
        return argument
    return f"<a {len(argument)}-character value>"


def revoke_key(home: Home, key_id: str) -> str | None:
    """Mark a key revoked; the service refuses it (401) within one watch interval. Returns None, or
    when it was revoked already, the instant it was (nothing changes).

    `key_id` is the id `keys list` shows, or the whole key (`cb_<id>_<secret>`): then the key with
    that id is revoked only when the secret is that key's (its hash matches), so a mistyped key never
    revokes another. No message repeats anything after the id."""
    argument = key_id.strip()
    whole = FULL_KEY.fullmatch(argument)
    key_id = key_id_of(argument)
    with _locked(home) as path:
        data = _read(path)
        for entry in data["keys"]:
            if entry["key_id"] == key_id:
                if whole and not secrets.compare_digest(str(entry.get("hash", "")), hash_key(argument)):
                    raise UsageError(
                        f"the key given is not key {key_id}'s: its secret does not match the stored hash "
                        f"(mistyped or cut short?); nothing revoked. Pass the key id alone "
                        f"(`circlebuy keys list` shows it) to revoke key {key_id}")
                if entry.get("revoked"):
                    return entry.get("revoked_at") or "an unrecorded time"
                entry["revoked"] = True
                entry["revoked_at"] = entry.get("revoked_at") or datetime.now(UTC).isoformat(
                    timespec="seconds"
                )
                _write(path, data)
                return None
    known = ", ".join(k["key_id"] for k in data["keys"]) or "none"
    raise UsageError(f"key id {_shown(argument)!r} is not in {home.keys}; known key ids: {known}")


def list_keys(home: Home) -> list[dict]:
    """Every key's id, role, subject, created_at and revoked flag; never the hash or the secret."""
    return [
        {
            "key_id": k["key_id"],
            "role": k["role"],
            "subject": k["subject"],
            "created_at": k["created_at"],
            "revoked": bool(k.get("revoked")),
        }
        for k in _read(home.keys)["keys"]
    ]


class KeysUnreadable(Exception):
    """keys.json exists but cannot be read as a key set: the service refuses every key (fail closed)
    until it is fixed. `detail` is for callers (the file's name and what is wrong, no path, never its
    contents); `str()` is for the server log (the path too)."""

    def __init__(self, logged: str, detail: str) -> None:
        super().__init__(logged)
        self.detail = detail


def _entries(text: str) -> list[tuple[str, KeyRecord]]:
    """keys.json's text as (hash, KeyRecord) pairs; ValueError saying what is wrong (never the file's
    contents)."""
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSONDecodeError's text: the error and where, not the document
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise ValueError(f"not valid JSON{where}") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("expected an object {\"version\": 1, \"keys\": [...]}")
    records = []
    for number, entry in enumerate(data["keys"], start=1):
        fields = ("key_id", "hash", "role", "subject")
        if not isinstance(entry, dict) or not all(isinstance(entry.get(f), str) for f in fields):
            raise ValueError(f"entry {number} of \"keys\" lacks a text {', '.join(fields)}")
        if entry.get("revoked") not in (None, True, False):
            raise ValueError(f"entry {number} of \"keys\" has a \"revoked\" that is not true or false")
        records.append((entry["hash"], KeyRecord(entry["key_id"], entry["role"], entry["subject"],
                                                 bool(entry.get("revoked")))))
    return records


def _signature(st: os.stat_result) -> tuple[int, ...]:
    """What changes when keys.json does: a rename (inode), a write (mtime, size), a chmod (ctime)."""
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class KeyStore:
    """In-memory hash -> KeyRecord map for the service, reloaded when keys.json changes on disk.

    A keys.json that cannot be read (not JSON, not the expected shape, unreadable) fails closed: no
    key is known, `lookup` raises KeysUnreadable (the API answers 503 `keys_unreadable`), and the
    problem is logged once per change of the file, not per request. Keeping the last good key set
    instead would keep serving a key an operator was revoking when the file broke (a hand edit, a bad
    restore); refusing everyone until the file is fixed never lets a key in that the file no longer
    allows. A missing file is an empty key set (every key 401), as before. The next readable version
    of the file is picked up by the same watch (its inode, mtime or size changed)."""

    def __init__(self, home: Home):
        self._path = home.keys
        # (hash -> record, why the file cannot be used): swapped as one, so a lookup never sees half
        self._state: tuple[dict[str, KeyRecord], KeysUnreadable | None] = ({}, None)
        self._signature: tuple[int, ...] | None = None
        self._lock = threading.Lock()
        self.refresh()

    def _stat(self) -> tuple[int, ...] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        except OSError:
            return (-1,)  # the folder cannot be searched: read (and fail) once, until that changes
        return _signature(st)

    def _load(self) -> tuple[tuple[int, ...] | None, list[tuple[str, KeyRecord]]]:
        """(the signature of what was read, its records); KeysUnreadable when it cannot be used."""
        try:
            with open(self._path, "rb") as fh:
                st = os.fstat(fh.fileno())  # the signature of the very file read (renames race a stat)
                raw = fh.read()
        except FileNotFoundError:
            return None, []
        except OSError as exc:
            problem = f"cannot be opened ({exc.strerror or type(exc).__name__})"
            raise KeysUnreadable(f"{self._path}: {problem}", problem) from None
        try:
            records = _entries(raw.decode("utf-8"))
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
            raise KeysUnreadable(f"{self._path}: {problem}", problem) from None
        except ValueError as exc:
            raise KeysUnreadable(f"{self._path}: {exc}", str(exc)) from None
        return _signature(st), records

    def refresh(self) -> bool:
        """Reload when the file changed (keys.json is replaced by rename, so the inode changes).
        Never raises: an unreadable file puts the store in its failed-closed state (see the class)."""
        if self._stat() == self._signature:
            return False
        with self._lock:
            signature = self._stat()
            if signature == self._signature:
                return False  # another thread reloaded it meanwhile
            try:
                signature, records = self._load()
            except KeysUnreadable as exc:
                before = self._state[1]
                self._state = ({}, exc)  # fail closed: no key is known while the file cannot be read
                self._signature = signature
                if before is None or str(before) != str(exc):
                    log.error("API keys unreadable: %s; every request with a key gets 503 keys_unreadable "
                              "until the file is fixed (or restored from a backup)", exc)
                return True
            if self._state[1] is not None:
                log.warning("API keys readable again: %s (%d keys)", self._path, len(records))
            self._state = (dict(records), None)
            self._signature = signature
        return True

    def problem(self) -> str | None:
        """Why keys.json cannot be used now (its name and what is wrong, no path), or None."""
        if self._stat() != self._signature:
            self.refresh()
        error = self._state[1]
        return None if error is None else error.detail

    def lookup(self, key: str) -> KeyRecord | None:
        """The record for a presented key (revoked ones included), or None when unknown; raises
        KeysUnreadable while keys.json cannot be read (no key is valid then)."""
        if self._stat() != self._signature:
            self.refresh()
        by_hash, error = self._state
        if error is not None:
            raise KeysUnreadable(str(error), error.detail)
        return by_hash.get(hash_key(key))
