"""The keys file as the service and `keys revoke` read it: a whole key pasted to revoke, a corrupt
keys.json on a running server (fail closed, said once, recovered from)."""

from __future__ import annotations

import json
import logging
import time

import pytest
from fastapi.testclient import TestClient

from api.keys import create_key, list_keys, revoke_key
from common.errors import UsageError
from common.home import Home
from tests.api.conftest import bearer


def _revoked(home: Home, key_id: str) -> bool:
    return [k["revoked"] for k in list_keys(home) if k["key_id"] == key_id] == [True]


def test_revoke_takes_the_whole_key_and_never_repeats_its_secret(home: Home) -> None:
    """`keys revoke cb_<id>_<secret>` (the key pasted as `keys create` printed it) revokes key <id>,
    but only when the secret is that key's; no message repeats anything after the id."""
    key = create_key(home, "supplier", "SUP9")
    other = create_key(home, "supplier", "SUP8")
    key_id, secret = key.split("_", 2)[1:]

    # the id of one key with a secret that is not its own: refused, nothing revoked, the secret unsaid
    forged = f"cb_{key_id}_{other.split('_', 2)[2]}"
    with pytest.raises(UsageError) as refused:
        revoke_key(home, forged)
    assert "does not match" in str(refused.value) and key_id in str(refused.value)
    assert other.split("_", 2)[2] not in str(refused.value) and not _revoked(home, key_id)

    # a whole key whose id is not in the file: the id named, the secret not
    with pytest.raises(UsageError) as unknown:
        revoke_key(home, f"cb_0badc0de_{secret}")
    message = str(unknown.value)
    assert "'cb_0badc0de_…'" in message and secret not in message and secret[:6] not in message

    # a long value that is no key at all is not repeated either
    with pytest.raises(UsageError) as garbage:
        revoke_key(home, secret)
    assert secret not in str(garbage.value) and f"<a {len(secret)}-character value>" in str(garbage.value)

    assert revoke_key(home, f"  {key}\n") is None  # pasted with the newline
    assert _revoked(home, key_id) and not _revoked(home, other.split("_")[1])
    assert revoke_key(home, key) is not None  # again: revoked already, nothing changes
    assert revoke_key(home, f"cb_{other.split('_')[1]}") is None  # `cb_<id>` names the id too
    with pytest.raises(UsageError, match="key id 'nope' is not in"):
        revoke_key(home, "nope")


def test_the_key_id_of_a_pasted_key() -> None:
    """What `keys revoke` should say it revoked: the id, whatever form of the key was pasted."""
    from api.keys import key_id_of

    key = "cb_1365aa3f_Kngeo5bKPWkst2zJVJ578EzkUfvIC0Ref_NHrvvnYVo"
    assert key_id_of(key) == key_id_of(f" {key}\n") == key_id_of("cb_1365aa3f") == "1365aa3f"
    assert key_id_of("1365aa3f") == "1365aa3f" and key_id_of("nope") == "nope"


def _wait(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_corrupt_keys_file_fails_closed_once_and_recovers(
    client: TestClient, home: Home, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A keys.json that does not parse (a hand edit, a bad restore) on a running server: every request
    with a key gets 503 `keys_unreadable` naming the file and what is wrong (no path, none of its
    contents), the log says so once without a traceback, a key revoked before never gets in, and the
    fixed file is picked up by the watch."""
    s1_id = keys["S1"].split("_")[1]
    revoke_key(home, s1_id)
    good = home.keys.read_text(encoding="utf-8")
    assert client.get("/v1/groups/G3/picks", headers=bearer(keys["S2"])).status_code == 200
    caplog.set_level(logging.INFO)

    home.keys.write_text(good[: len(good) // 2], encoding="utf-8")  # cut short
    for name in ("S1", "S2", "admin", "S2", "S1"):
        r = client.get("/v1/groups/G3/picks", headers=bearer(keys[name]))
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["error"] == "keys_unreadable"
        assert "keys.json" in body["detail"] and "not valid JSON at line" in body["detail"]
        assert "/" not in body["detail"] and str(home.root) not in r.text and s1_id not in r.text
    time.sleep(0.2)  # a few watch intervals (0.05 s): the watcher must not log it again either
    said = [rec for rec in caplog.records
            if "keys" in rec.getMessage().lower() and rec.levelno >= logging.WARNING]
    assert len(said) == 1, [rec.getMessage() for rec in said]
    assert str(home.keys) in said[0].getMessage() and said[0].exc_info is None
    assert not [rec for rec in caplog.records if rec.exc_info], "no traceback for a corrupt keys file"

    ready = client.get("/readyz")  # not ready to serve anyone: a load balancer sees it
    assert ready.status_code == 503 and ready.json()["error"] == "keys_unreadable"
    signin = client.post("/login", data={"key": keys["S2"]}, headers={"Accept-Language": "zh-CN"},
                         follow_redirects=False)
    assert signin.status_code == 503 and "服务读不到密钥文件" in signin.text

    home.keys.write_text(json.dumps({"version": 1, "keys": "not a list"}), encoding="utf-8")
    r = client.get("/v1/groups/G3/picks", headers=bearer(keys["S2"]))
    assert r.status_code == 503 and 'expected an object {"version": 1' in r.json()["detail"]

    home.keys.write_text(good, encoding="utf-8")  # fixed (the revocation in it)
    _wait(lambda: client.get("/v1/groups/G3/picks", headers=bearer(keys["S2"])).status_code == 200)
    r = client.get("/v1/groups/G1/picks", headers=bearer(keys["S1"]))
    assert r.status_code == 401 and r.json()["error"] == "revoked_key"
    assert any("readable again" in rec.getMessage() for rec in caplog.records)
    assert client.get("/readyz").status_code == 200


def test_a_key_entry_with_a_mangled_revoked_flag_is_refused_not_guessed(
    client: TestClient, home: Home, keys: dict[str, str]
) -> None:
    """`"revoked": "false"` would read as true, `"revoked": 0` as false: neither is guessed at."""
    data = json.loads(home.keys.read_text(encoding="utf-8"))
    data["keys"][1]["revoked"] = "no"
    home.keys.write_text(json.dumps(data), encoding="utf-8")
    r = client.get("/v1/groups/G3/picks", headers=bearer(keys["S2"]))
    assert r.status_code == 503 and "entry 2" in r.json()["detail"] and "revoked" in r.json()["detail"]


def test_the_cli_holds_keys_json_to_what_the_server_accepts(home: Home) -> None:
    """A file the server refuses (an entry without a key id) is not written on top of by `keys create`
    saying "created", and `keys revoke` says what is wrong instead of an unexpected KeyError."""
    create_key(home, "admin", "first")
    data = json.loads(home.keys.read_text(encoding="utf-8"))
    del data["keys"][0]["key_id"]
    home.keys.write_text(json.dumps(data), encoding="utf-8")
    for attempt in (lambda: create_key(home, "admin", "ops"), lambda: revoke_key(home, "deadbeef")):
        with pytest.raises(UsageError, match=r"not a usable keys file \(entry 1 of \"keys\" lacks a text"):
            attempt()
