"""The `circlebuy keys` commands wired in pipelines/cli.py: create prints the key last, list, revoke."""

from __future__ import annotations

import subprocess
import sys

from fastapi.testclient import TestClient

from api.app import create_app
from common.home import Home
from tests.api.conftest import FAST, bearer


def cli(*args: str) -> subprocess.CompletedProcess:
    code = "from pipelines.cli import main; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)


def test_keys_create_list_revoke(home: Home) -> None:
    created = cli("keys", "create", "--role", "shopkeeper", "--subject", "S1", "--home", str(home.root))
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("cb_") and "not shown again" in created.stderr
    listed = cli("keys", "list", "--home", str(home.root))
    key_id = key.split("_")[1]
    header, row = listed.stdout.splitlines()  # a header row first
    assert header.startswith("key_id\trole\tsubject")
    assert row.split("\t")[:3] == [key_id, "shopkeeper", "S1"] and key not in listed.stdout
    with TestClient(create_app(home, FAST)) as client:
        assert client.get("/v1/groups/G1/picks", headers=bearer(key)).status_code == 200
        assert cli("keys", "revoke", key_id, "--home", str(home.root)).returncode == 0
        assert client.get("/v1/groups/G1/picks", headers=bearer(key)).status_code == 401
    again = cli("keys", "revoke", key_id, "--home", str(home.root))  # said, not "revoked" a second time
    assert again.returncode == 0 and f"{key_id} was revoked already, at 20" in again.stderr
    assert "+08:00; nothing changed" in again.stderr  # platform time, as `keys list` shows it
    # the whole key pasted: the terminal (a CI log) never gets its secret back
    whole = cli("keys", "create", "--role", "supplier", "--subject", "SUP1", "--home", str(home.root))
    pasted = whole.stdout.strip().splitlines()[-1]
    for _ in range(2):  # revoked, then revoked already
        said = cli("keys", "revoke", pasted, "--home", str(home.root))
        assert said.returncode == 0 and pasted.split("_")[1] in said.stderr
        assert pasted.split("_", 2)[2] not in said.stderr + said.stdout
    bad = cli("keys", "create", "--role", "boss", "--subject", "x", "--home", str(home.root))
    assert bad.returncode == 2
    assert "--role: expected one of shopkeeper, supplier, admin; got 'boss'" in bad.stderr


def test_keys_create_warns_about_an_unknown_subject(home: Home) -> None:
    typo = cli("keys", "create", "--role", "shopkeeper", "--subject", "S9", "--home", str(home.root))
    assert typo.returncode == 0 and typo.stdout.strip().startswith("cb_")
    assert "warning: shopkeeper 'S9' is not in the live snapshot" in typo.stderr
    typo = cli("keys", "create", "--role", "supplier", "--subject", "SUPX", "--home", str(home.root))
    assert "warning: supplier 'SUPX' is not in the live snapshot" in typo.stderr
    for role, subject in (("shopkeeper", "S1"), ("supplier", "SUP2"), ("admin", "ops")):
        ok = cli("keys", "create", "--role", role, "--subject", subject, "--home", str(home.root))
        assert ok.returncode == 0 and "warning" not in ok.stderr, ok.stderr
