"""`circlebuy demo`: the main job on the embedded default, end to end, on a small world.

synthetic world -> nightly pipeline for its last day -> API serving, with a printed URL and keys.

The world runs through *today* (the platform's day, Asia/Shanghai) and the nightly runs for today:
it trains on everything before today 00:00 and picks from today's campaigns, so the list the pages
serve is today's (no "not today's list" banner) and its cutoffs lie ahead until the evening. The
generated rows of the rest of today exist in RAW but nothing before as-of reads them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import polars as pl
import typer

from common.errors import UsageError
from common.home import Home
from common.settings import DEFAULT_SEED
from pipelines.warehouse import TZ

log = logging.getLogger("circlebuy.demo")


def prepare_demo(home: Home, raw: Path, *, groups: int = 300, days: int = 45, seed: int = DEFAULT_SEED,
                 end: date | None = None, progress: bool = False) -> dict:
    """Generate a world ending on `end` (default: today, the platform's day) into RAW and run the nightly
    for that day, so the served list is today's; return what to show."""
    from pipelines.generate import run_generate
    from pipelines.nightly import NightlyConfig, run_nightly
    from pipelines.nightly.snapshot import live_snapshot

    end = end or platform_today()
    typer.echo(f"[1/3] generating a synthetic world: {groups} groups, {days} days, ending {end}",
               err=True)
    world = run_generate(out=raw, groups=groups, days=days, end=end, seed=seed, dirty=False,
                         fmt="parquet", progress=progress)
    typer.echo(f"      {sum(world['tables'].values()):,} rows in {world['seconds']:.1f}s -> {raw}",
               err=True)
    typer.echo(f"[2/3] nightly pipeline for {end} into {home.root}", err=True)
    result = run_nightly(home.ensure(), NightlyConfig(run_date=end, raw=raw, progress=progress))
    for stage in result["stages"]:
        typer.echo(f"      {stage['name']:<9} {stage['seconds']:7.2f}s  rows in {stage['rows_in']:>10,}"
                   f"  out {stage['rows_out']:>10,}", err=True)
    live = live_snapshot(home)
    picks = pl.read_parquet(live / "picks.parquet")
    groups_frame = pl.read_parquet(live / "groups.parquet")
    demand = pl.read_parquet(live / "demand.parquet")
    busiest = (picks.join(groups_frame, on="group_id").group_by("shopkeeper_id").len()
               .sort(["len", "shopkeeper_id"], descending=[True, False]))
    shopkeeper = busiest["shopkeeper_id"][0] if busiest.height else None
    group = (picks.join(groups_frame, on="group_id").filter(pl.col("shopkeeper_id") == shopkeeper)
             ["group_id"][0]) if shopkeeper else None
    supplier = (demand.group_by("supplier_id").agg(pl.col("forecast_p50").sum())
                .sort(["forecast_p50", "supplier_id"], descending=[True, False])["supplier_id"][0]
                if demand.height else None)
    return {"result": result, "snapshot": live, "shopkeeper": shopkeeper, "group": group,
            "supplier": supplier}


def platform_today() -> date:
    """Today in the platform's zone (not the machine's): the day the API's pages call today."""
    return datetime.now(TZ).date()


DEMO_ADMIN = "demo-admin"  # the subject of the admin key the demo prints


def retire_demo_keys(home: Home) -> int:
    """Revoke the admin keys earlier demo runs printed (subject `demo-admin`, which only the demo
    uses): each `make demo` mints fresh keys (a secret is shown once), and the demo home would
    otherwise collect valid admin keys run after run. Keys for shopkeepers and suppliers are left
    alone: one made by hand for the same id cannot be told apart. Returns how many were revoked."""
    from api.keys import list_keys, revoke_key

    stale = [k["key_id"] for k in list_keys(home)
             if not k["revoked"] and (k["role"], k["subject"]) == ("admin", DEMO_ADMIN)]
    for key_id in stale:
        revoke_key(home, key_id)
    return len(stale)


def run_demo(home: Home, raw: Path, *, port: int = 8000, host: str = "127.0.0.1",
             serve: bool = True, progress: bool = False) -> dict:
    from api.keys import create_key

    if serve:  # before minutes of training: a busy port is said at once, not after the nightly
        from api.server import check_port_free

        try:
            check_port_free(host, port)
        except UsageError as exc:
            raise UsageError(f"{exc} (with make: `make demo PORT=8080`)") from None
    shown = prepare_demo(home, raw, progress=progress)
    retired = retire_demo_keys(home)
    admin = create_key(home, role="admin", subject=DEMO_ADMIN)
    keys = {"admin": admin}
    if shown["shopkeeper"]:
        keys[f"shopkeeper {shown['shopkeeper']}"] = create_key(
            home, role="shopkeeper", subject=shown["shopkeeper"])
    if shown["supplier"]:
        keys[f"supplier {shown['supplier']}"] = create_key(
            home, role="supplier", subject=shown["supplier"])
    if retired:
        typer.echo(f"      revoked {retired} admin key(s) an earlier demo run printed", err=True)
    url = f"http://{host}:{port}"
    typer.echo("[3/3] serving the live snapshot", err=True)
    typer.echo(f"      report:  {shown['snapshot'] / 'report.html'}")
    typer.echo(f"      API:     {url}   (pages: {url}/ ; OpenAPI: {url}/docs)")
    if shown["group"]:
        typer.echo(f"      try:     curl -H 'Authorization: Bearer {admin}' "
                   f"{url}/v1/groups/{shown['group']}/picks")
    for who, key in keys.items():
        typer.echo(f"      key ({who}): {key}")
    if serve:
        from api.server import serve as run_server

        run_server(home, host=host, port=port, workers=1)
    return {**shown, "keys": keys, "url": url}
