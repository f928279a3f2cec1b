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
import os
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
    if not path.exists():
        return {"version": 1, "keys": []}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable keys file ({exc}); fix or remove it") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise UsageError(f"{path}: expected {{'version': 1, 'keys': [...]}}; fix or remove it")
    return data


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


def revoke_key(home: Home, key_id: str) -> str | None:
    """Mark a key revoked; the service refuses it (401) within one watch interval. Returns None, or
    when it was revoked already, the instant it was (nothing changes)."""
    with _locked(home) as path:
        data = _read(path)
        for entry in data["keys"]:
            if entry["key_id"] == key_id:
                if entry.get("revoked"):
                    return entry.get("revoked_at") or "an unrecorded time"
                entry["revoked"] = True
                entry["revoked_at"] = entry.get("revoked_at") or datetime.now(UTC).isoformat(
                    timespec="seconds"
                )
                _write(path, data)
                return None
    known = ", ".join(k["key_id"] for k in data["keys"]) or "none"
    raise UsageError(f"key id {key_id!r} is not in {home.keys}; known key ids: {known}")


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


class KeyStore:
    """In-memory hash -> KeyRecord map for the service, reloaded when keys.json changes on disk."""

    def __init__(self, home: Home):
        self._path = home.keys
        self._by_hash: dict[str, KeyRecord] = {}
        self._signature: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self.refresh()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self._path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def refresh(self) -> bool:
        """Reload when the file changed (keys.json is replaced by rename, so the inode changes)."""
        signature = self._stat()
        if signature == self._signature:
            return False
        with self._lock:
            entries = _read(self._path)["keys"] if signature else []
            self._by_hash = {
                e["hash"]: KeyRecord(e["key_id"], e["role"], e["subject"], bool(e.get("revoked")))
                for e in entries
            }
            self._signature = signature
        return True

    def lookup(self, key: str) -> KeyRecord | None:
        """The record for a presented key (revoked ones included), or None when unknown."""
        if self._stat() != self._signature:
            self.refresh()
        return self._by_hash.get(hash_key(key))
