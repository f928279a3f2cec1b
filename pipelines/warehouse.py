"""The DuckDB warehouse under HOME: connecting, creating the contract tables, reading frames."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import duckdb
import polars as pl
import pyarrow as pa

from common.clock import PLATFORM_TZ, TZ, day_start  # noqa: F401  (day_start: re-exported)
from common.contract import DUCKDB_TYPES, QUARANTINE_COLUMNS, TABLES
from common.errors import UsageError
from common.home import Home


def require_warehouse(home: Home) -> Home:
    """`home`, when its warehouse exists; else a UsageError: a wrong --home, or no ingest yet, is the
    caller's to fix, never a new empty home made in its place."""
    if not home.warehouse.exists():
        raise UsageError(
            f"{home.warehouse}: no warehouse yet; run `circlebuy ingest RAW --home {home.root}` first"
        )
    return home


def connect(home: Home, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open HOME/warehouse.duckdb with the platform's time zone set for the session."""
    if read_only:
        require_warehouse(home)
    home.ensure()
    con = duckdb.connect(str(home.warehouse), read_only=read_only)
    con.execute(f"SET TimeZone = '{PLATFORM_TZ}'")
    return con


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create every contract table and `quarantine` if missing (idempotent). A table created before
    the contract gained an optional column (e.g. `groups.name`) gains it here, at the end, where the
    contract lists it, so that loads (which insert in contract order) keep working."""
    for table in TABLES.values():
        cols = ", ".join(f'"{c.name}" {DUCKDB_TYPES[c.kind]}' for c in table.columns)
        con.execute(f'CREATE TABLE IF NOT EXISTS "{table.name}" ({cols})')
        have = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND table_schema = current_schema()",
                [table.name],
            ).fetchall()
        }
        for c in table.columns:
            if c.name not in have:
                con.execute(f'ALTER TABLE "{table.name}" ADD COLUMN "{c.name}" {DUCKDB_TYPES[c.kind]}')
    qcols = {
        "table_name": "VARCHAR", "source_file": "VARCHAR", "row_number": "BIGINT",
        "rule": "VARCHAR", "detail": "VARCHAR", "raw": "VARCHAR",
    }
    assert tuple(qcols) == QUARANTINE_COLUMNS
    cols = ", ".join(f"{k} {v}" for k, v in qcols.items())
    con.execute(f"CREATE TABLE IF NOT EXISTS quarantine ({cols}, loaded_at TIMESTAMPTZ)")


def table_frame(
    con: duckdb.DuckDBPyConnection,
    name: str,
    *,
    where: str = "",
    params: Iterable = (),
    drop: Iterable[str] = (),
) -> pl.DataFrame:
    """Read one warehouse table as a polars frame with the contract's column types
    (without the columns in `drop`)."""
    table = TABLES[name]
    dropped = set(drop)
    schema = {c: t for c, t in table.polars_schema().items() if c not in dropped}
    cols = ", ".join(f'"{c}"' for c in schema)
    sql = f'SELECT {cols} FROM "{name}"' + (f" WHERE {where}" if where else "")
    frame = con.execute(sql, list(params)).pl()
    if frame.height == 0:
        return pl.DataFrame(schema=schema)
    return _compact(frame).cast(schema, strict=False)


INLINE_STRING_BYTES = 12  # polars keeps strings up to this long inside the column's own views


def _compact(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with each column in one chunk of its own memory. DuckDB hands a large table over in
    chunks that keep the Arrow batch they came from alive (strings point into its buffers); copying
    column by column frees those batches (3.45 -> 2.31 GiB for the M world's tables) without ever
    holding two copies of a whole table. Strings are copied through Arrow: a rechunk alone would
    keep pointing into DuckDB's buffers wherever a value is longer than 12 bytes."""
    for name in frame.columns:
        column = frame.get_column(name)
        if column.n_chunks() > 1:
            if column.dtype == pl.String and (column.str.len_bytes().max() or 0) > INLINE_STRING_BYTES:
                column = pl.Series(name, column.to_arrow().cast(pa.large_string()))
            frame = frame.with_columns(column.rechunk())
    return frame


# Row ids nothing downstream of ingestion reads: the models load the tables without them
# (15.8 M order ids are ~1 GiB of strings on the M world). Group names are for people only: the
# snapshot reads them apart (`group_names`), so no model join ever meets a second `name` column.
MODEL_DROP = {"orders": ("order_id",), "posts": ("post_id",), "groups": ("name",)}


def load_frames(
    home: Home, names: Iterable[str] | None = None, drop: dict[str, Iterable[str]] | None = None
) -> dict[str, pl.DataFrame]:
    """All (or the named) contract tables as frames, without the columns `drop` names per table.
    Small enough for the S/M worlds."""
    drop = drop or {}
    with connect(home, read_only=True) as con:
        return {n: table_frame(con, n, drop=drop.get(n, ())) for n in (names or TABLES)}


def group_names(home: Home) -> pl.DataFrame:
    """group_id, name (null where the data has none) of every group in the warehouse."""
    with connect(home, read_only=True) as con:
        others = [c for c in TABLES["groups"].column_names if c not in ("group_id", "name")]
        return table_frame(con, "groups", drop=others)


def rollback_quietly(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back the open transaction, if any: a COMMIT that failed (a full disk) has ended it already,
    and the ROLLBACK's own "no transaction is active" would hide why it failed."""
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK")


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, rows: pl.DataFrame, key: str,
                 columns: Iterable[str], extra: dict[str, str] | None = None) -> int:
    """Store `rows` in `table`, replacing every row already there with the same values of `key` (a
    re-run of a night replaces its rows, never duplicates them), in one transaction. `extra`: column
    -> SQL expression for columns the rows do not carry (e.g. a stored-at time)."""
    cols = list(columns)
    extra = extra or {}
    con.register("_replace_batch", rows.select(cols).to_arrow())
    target = ", ".join([*cols, *extra])
    source = ", ".join([*cols, *extra.values()])
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(f'DELETE FROM "{table}" WHERE "{key}" IN (SELECT DISTINCT "{key}" FROM _replace_batch)')
        con.execute(f'INSERT INTO "{table}" ({target}) SELECT {source} FROM _replace_batch')
        con.execute("COMMIT")
    except Exception:
        rollback_quietly(con)
        raise
    finally:
        con.unregister("_replace_batch")
    return rows.height
