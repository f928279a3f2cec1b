"""Quarantine means "still not loaded": an entry whose row a later ingest loads is removed.

Before the run's loads, `pending` notes the quarantine entries whose key (read from the entry's raw
JSON as ingestion reads it) is not in their table. After a table loads, an entry of those is
resolved when its key is in the table now and this run did not quarantine the same file row again
for the same rule (a row still bad in the delivery keeps its entry, so a re-ingest adds nothing).
The resolved entries are deleted at the end of the run, in its transaction.

An entry whose key was already loaded before (a `duplicate_id_conflict`, another version of a
stored row) is never pending: it stays until someone looks at it. A `future_timestamp` entry always
is: a backfill (a run date before the latest) sets aside as "after the run's date" rows a later
date had already loaded, and the next run that reads them without quarantining them again clears
the entries (they had stayed for good, each also in its table).
"""

from __future__ import annotations

import duckdb
import polars as pl

from common.contract import TABLES, Table
from pipelines.engine import Engine
from pipelines.ingest.readers import ident, lit, typed_expr

PENDING = "_pending"
COLUMNS = ("table_name", "source_file", "row_number", "rule", "raw")


def key_values(table: Table, alias: str) -> str:
    """SQL: the entry's key columns (`_k0`, `_k1`, ...), read from its raw JSON as staging reads them."""
    values = []
    for i, k in enumerate(table.key):
        text = f"json_extract_string({alias}.raw, {lit('$.' + k)})"
        values.append(f"{typed_expr(table.column(k), text, True)} AS _k{i}")
    return ", ".join(values)


def key_join(table: Table, entry: str, stored: str) -> str:
    return " AND ".join(f"{stored}.{ident(k)} = {entry}._k{i}" for i, k in enumerate(table.key))


def entries_with_keys(table: Table, relation: str, extra: tuple[str, ...] = ()) -> str:
    """SELECT of `relation`'s entries of `table` (COLUMNS and `extra`) with their key values, keys
    not null."""
    known = " AND ".join(f"_k{i} IS NOT NULL" for i in range(len(table.key)))
    return (f"SELECT * FROM (SELECT {', '.join('q.' + c for c in (*COLUMNS, *extra))}, "
            f"{key_values(table, 'q')} FROM {relation} AS q WHERE q.table_name = {lit(table.name)}) "
            f"WHERE {known}")


def pending(con: duckdb.DuckDBPyConnection, tables: list[str]) -> pl.DataFrame:
    """The quarantine entries of `tables` whose key is not loaded (yet), and every `future_timestamp`
    entry, before this run's loads."""
    parts = [
        f"SELECT * FROM (SELECT {', '.join('p.' + c for c in COLUMNS)}, "
        f"EXISTS (SELECT 1 FROM {ident(t)} AS w WHERE {key_join(TABLES[t], 'p', 'w')}) AS _stored "
        f"FROM ({entries_with_keys(TABLES[t], 'quarantine')}) AS p) "
        f"WHERE rule = 'future_timestamp' OR NOT _stored"
        for t in tables
    ]
    if not parts:
        return pl.DataFrame(schema={**dict.fromkeys(COLUMNS, pl.String), "_stored": pl.Boolean})
    return con.execute(" UNION ALL ".join(parts)).pl()


def resolved(eng: Engine, table: Table, files: list[str]) -> list[tuple]:
    """Pending entries of `table` whose key is loaded now and whose file row this run did not
    quarantine again for the same rule (`_bad`: this run's quarantined rows of the table). An entry
    whose key was stored before the run (`_stored`: a backfill's future row) is resolved only when
    this run read its file: a later drop of other files says nothing of that row's version."""
    names = ", ".join(f"({i}, {lit(rel)})" for i, rel in enumerate(files))
    read = ", ".join(lit(rel) for rel in files)
    again = (f"SELECT f.rel, b._row, b._rule FROM _bad AS b JOIN (VALUES {names}) AS f(_file, rel) "
             "USING (_file)")
    return eng.rows(
        f"SELECT {', '.join('p.' + c for c in COLUMNS)} "
        f"FROM ({entries_with_keys(table, PENDING, ('_stored',))}) AS p "
        f"SEMI JOIN {ident(table.name)} AS w ON {key_join(table, 'p', 'w')} "
        f"ANTI JOIN ({again}) AS b ON b.rel = p.source_file AND b._row = p.row_number AND b._rule = p.rule "
        f"WHERE NOT p._stored OR p.source_file IN ({read})"
    )


def remove(con: duckdb.DuckDBPyConnection, entries: list[tuple]) -> dict[str, int]:
    """Delete the resolved entries from the warehouse's quarantine; how many per table."""
    if not entries:
        return {}
    frame = pl.DataFrame(entries, schema=dict(zip(COLUMNS, (pl.String, pl.String, pl.Int64, pl.String,
                                                            pl.String), strict=True)), orient="row")
    con.register("_resolved", frame.to_arrow())
    try:
        con.execute(
            "DELETE FROM quarantine AS q USING _resolved AS r WHERE q.table_name = r.table_name "
            "AND q.source_file = r.source_file AND q.row_number = r.row_number AND q.rule = r.rule "
            "AND q.raw IS NOT DISTINCT FROM r.raw"
        )
    finally:
        con.unregister("_resolved")
    return dict(frame.group_by("table_name").len().iter_rows())


def note(table: str, count: int) -> str:
    """The report's line for a table's resolved entries."""
    rows = "1 row" if count == 1 else f"{count:,} rows"
    return (f"{table}: {rows} quarantined by an earlier ingest loaded now; their quarantine entries "
            "were removed (quarantine holds only rows not loaded)")
