"""`circlebuy ingest`: validate RAW, then stage, check, de-duplicate and load every table in one transaction.

Order of work: find files -> check their text (empty, not UTF-8: a GB18030 CSV gets a UTF-8 copy)
-> read every file's header (fatal schema errors stop here, before any write) -> BEGIN -> per
table in contract.LOAD_ORDER: stage each file into `_stg` with its row checks -> lookups (foreign
keys, campaign windows) -> de-duplicate on the key against the warehouse and earlier rows ->
insert / update / quarantine -> COMMIT. Any error rolls back, so
nothing is half-loaded. All row work is set-based SQL, written once in DuckDB's dialect and run by
an engine (pipelines/engine): DuckDB on the warehouse's connection as written, or Spark transpiled,
whose inserts and updates are then replayed into the same transaction.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from time import perf_counter

import duckdb
from tqdm import tqdm

from common.contract import LOAD_ORDER, REQUIRED_TABLES, TABLES, Table
from common.errors import SchemaError, UnparseableFileError
from common.home import Home
from pipelines.engine import DuckDBEngine, Engine, EngineOptions
from pipelines.ingest import resolve
from pipelines.ingest.readers import (
    BLANK_ROWS,
    INTEGER_TYPES,
    FileSchema,
    SourceFile,
    csv_error,
    discover,
    first_line,
    hidden,
    ident,
    ignored_warnings,
    inspect,
    lit,
    match_schema,
    meant_table,
    prepare_text,
    projection,
    zone_counts,
)
from pipelines.ingest.report import IngestReport, TableCounts
from pipelines.ingest.rules import (
    RUN,
    STAGE,
    ZEROS_LOST,
    bad_type,
    changed_after_run,
    control_character_id,
    first_failing,
    is_id,
    leading_zero_hints,
    null_required,
    plausible_year,
    shown,
    spreadsheet_mangled_id,
    totals_row_detail,
    unchecked_optional_keys,
    without_leading_zeros,
)
from pipelines.ingest.staging import STAGING, Staging
from pipelines.ingest.timestamps import zone_note
from pipelines.warehouse import TZ, connect, create_tables, day_start, rollback_quietly

MAX_FILES_NAMED = 3  # a warning about more files of one table sums them in one line
FILES_DDL = """CREATE TABLE IF NOT EXISTS ingest_files (
    path VARCHAR, table_name VARCHAR, size BIGINT, mtime TIMESTAMPTZ, loaded_at TIMESTAMPTZ)"""


@dataclass(frozen=True)
class IngestConfig:
    """DuckDB resources for one ingest: keeps peak memory bounded on a shared machine."""

    memory_limit: str = "2GB"
    threads: int = 2


def run_ingest(
    raw: Path,
    home: Home,
    run_date: date | None = None,
    progress: bool = False,
    config: IngestConfig | None = None,
    engine: EngineOptions | None = None,
) -> IngestReport:
    """Validate RAW and load it into HOME/warehouse.duckdb; returns the per-table accounting.

    `engine` runs the row work (default DuckDB, in the warehouse's own transaction); the files'
    headers are read and the warehouse written by DuckDB either way. On any failure the
    transaction rolls back, and a warehouse this run created is removed: nothing is written."""
    started = perf_counter()
    new_warehouse = not home.warehouse.exists()
    try:
        with tempfile.TemporaryDirectory(prefix="circlebuy-ingest-") as workdir:
            report = ingest_folder(Path(raw), home, run_date or datetime.now(TZ).date(),
                                   progress, config or IngestConfig(), engine, Path(workdir))
    except BaseException:
        if new_warehouse:
            remove_warehouse(home)
        raise
    report.seconds = perf_counter() - started
    return report


def remove_warehouse(home: Home) -> None:
    """The warehouse file (and its write-ahead log) a failed run created on a home that had none."""
    for path in (home.warehouse, home.warehouse.with_name(home.warehouse.name + ".wal")):
        path.unlink(missing_ok=True)


def ingest_folder(raw: Path, home: Home, run_date: date, progress: bool, config: IngestConfig,
                  engine: EngineOptions | None, workdir: Path) -> IngestReport:
    """run_ingest's work; `workdir` holds UTF-8 copies of GB18030 CSVs for the length of the run."""
    found, warnings = discover(raw)
    warnings += prepare_text(found, workdir)
    with connect(home) as con:
        con.execute(f"SET memory_limit = {lit(config.memory_limit)}")
        con.execute(f"SET threads = {int(config.threads)}")
        con.execute("SET preserve_insertion_order = false")  # row order of the tables is not kept
        cutoff = day_start(run_date + timedelta(days=1)).isoformat()
        create_tables(con)
        con.execute(FILES_DDL)
        schemas = {t: [match_schema(s, inspect(con, s)) for s in files] for t, files in found.items()}
        require_tables(con, raw, found)
        warnings += [w for files in schemas.values() for s in files for w in ignored_warnings(s)]
        warnings += [w for files in schemas.values() for s in files for w in numeric_id_warnings(s)]
        report = IngestReport(files=sum(len(f) for f in found.values()), warnings=warnings)
        with (tqdm(total=len(schemas), unit="table", file=sys.stderr, disable=not progress) as bar,
              row_engine(engine or EngineOptions(), con) as eng):
            con.begin()
            try:
                eng.table(RUN, f"SELECT {lit(cutoff)}::TIMESTAMPTZ AS cutoff")
                run = RunNotes(report.warnings, pending=register_pending(eng, con, list(schemas)),
                               run_date=run_date)
                for name in LOAD_ORDER:
                    if name in schemas:
                        report.tables[name] = load_table(eng, STAGING[name](), schemas[name], bar, run)
                        note_empty(report, name, schemas[name])
                eng.drop(RUN, resolve.PENDING)
                eng.replay(con)
                report.warnings += [resolve.note(t, n) for t, n in resolve.remove(con, run.resolved).items()]
                record_files(con, schemas)
                con.commit()
            except BaseException:
                rollback_quietly(con)
                raise
        con.execute("CHECKPOINT")
    return report


@dataclass
class RunNotes:
    """What the tables' loads add up during a run: warnings, and quarantine entries now resolved."""

    warnings: list[str]
    pending: bool  # quarantine entries from earlier runs whose rows are not loaded: `_pending`
    run_date: date | None = None
    resolved: list[tuple] = field(default_factory=list)


def register_pending(eng: Engine, con: duckdb.DuckDBPyConnection, tables: list[str]) -> bool:
    """`_pending` in the engine: earlier quarantine entries of `tables` whose key is not loaded."""
    entries = resolve.pending(con, tables)
    if entries.is_empty():
        return False
    eng.register(resolve.PENDING, entries)
    return True


def note_empty(report: IngestReport, name: str, schemas: list[FileSchema]) -> None:
    """A table whose files hold no data rows (a header alone): a WARNING for a required table."""
    if report.tables[name].read:
        return
    files = [s.source.rel for s in schemas]
    if len(files) == 1:
        what = f"{files[0]} has a header but no data rows" if schemas[0].source.fmt == "csv" else \
            f"{files[0]} has the columns but no rows"
    else:
        what = f"{name}: its {len(files)} files ({', '.join(files[:MAX_FILES_NAMED])}" + \
            (", ..." if len(files) > MAX_FILES_NAMED else "") + ") hold no data rows"
    if TABLES[name].required:
        report.loud.append(f"WARNING: {what}; nothing of {name} was read (an export cut short?)")
    else:
        report.warnings.append(f"{what}; nothing of {name} was read")


@contextmanager
def row_engine(options: EngineOptions, con: duckdb.DuckDBPyConnection) -> Iterator[Engine]:
    """The engine for the row work: DuckDB on the warehouse connection itself, or Spark with the
    warehouse's tables attached (imported only here: pyspark is an optional extra)."""
    if options.name == "duckdb":
        yield DuckDBEngine(con)
        return
    from pipelines.engine.spark_engine import spark_engine

    with spark_engine(options) as eng:
        eng.attach(con, [*TABLES, "quarantine"])
        yield eng


def require_tables(con: duckdb.DuckDBPyConnection, raw: Path, found: dict[str, list[SourceFile]]) -> None:
    """A required table absent from RAW is fatal only while the warehouse has no rows for it."""
    for name in REQUIRED_TABLES:
        stored = con.execute(f"SELECT EXISTS (SELECT 1 FROM {ident(name)})").fetchone()[0]
        if name not in found and not stored:
            meant = ((e, meant_table(e)) for e in sorted(raw.iterdir()) if not hidden(e, raw))
            near = [f"{e.name}: {m[1]}" for e, m in meant if m and m[0] == name]
            raise SchemaError(
                f"{raw}: required table {name!r} is missing; expected {name}.csv, {name}.parquet "
                f"or a folder {name}/ of such files (the warehouse has no {name} yet)"
                + "".join(f"; {n}" for n in near)
            )


def load_table(eng: Engine, spec: Staging, schemas: list[FileSchema], bar: tqdm,
               run: RunNotes) -> TableCounts:
    """Stage, check, de-duplicate and load one table; returns its counts (identity asserted), adds to
    `run.warnings` the optional keys it could not check and the values read as platform time, and
    to `run.resolved` the earlier quarantine entries whose rows it loaded.

    The staged rows are a view over the files (never copied whole by DuckDB); only the exceptions
    are materialized: `_bad` (quarantined rows) and `_multi` (rows under a repeated or stored key).
    """
    table = TABLES[spec.table]
    bar.set_description(f"{spec.table}: reading {len(schemas)} file(s)")
    views = [stage_file(eng, spec, table, schema, index) for index, schema in enumerate(schemas)]
    eng.view(STAGE, " UNION ALL ".join(f"SELECT * FROM {v}" for v in views), reused=True)
    try:
        counts = TableCounts(read=read_and_note_zones(eng, spec, table, schemas, run))
        bar.set_description(f"{spec.table}: checks")
        find_bad_rows(eng, spec, table)
        bar.set_description(f"{spec.table}: de-duplicate and load")
        counts.duplicates, updates, inserted = deduplicate_and_load(eng, spec, table, counts.read)
    except duckdb.Error as exc:  # a file broke while being read (corrupt page, ...): roll back
        files = ", ".join(s.source.rel for s in schemas)
        raise UnparseableFileError(f"{files}: cannot be read: {first_line(exc)}") from None
    counts.rules = dict(eng.rows("SELECT _rule, count(*) FROM _bad GROUP BY 1 ORDER BY 1"))
    counts.quarantined = sum(counts.rules.values())
    if counts.quarantined:
        quarantine(eng, table, [s.source.rel for s in schemas])
    counts.loaded = inserted + updates
    counts.check(spec.table)
    if updates and spec.status_updates:  # counted as loaded: said, since they change what was stored
        which = "its order was" if updates == 1 else "their orders were"
        run.warnings.append(
            f"{table.name}: {updates:,} {'line' if updates == 1 else 'lines'} arrived again with a later "
            f"status (paid, then cancelled or refunded) and {which} updated to it: counted as loaded; an "
            "evaluation or vintage as of a day before the change still reads the line as paid then")
    run.warnings += unchecked_key_warnings(eng, table)
    if table.name == "orders":
        run.warnings += order_warnings(eng)
    if run.pending:  # loaded now, or (a future_timestamp entry) read again and no longer set aside
        run.resolved += resolve.resolved(eng, table, [s.source.rel for s in schemas])
    eng.drop(STAGE, *views, "_bad", *(f"_f{index}" for index in range(len(schemas))))
    bar.update(1)
    return counts


def read_and_note_zones(eng: Engine, spec: Staging, table: Table, schemas: list[FileSchema],
                        run: RunNotes) -> int:
    """The rows read, adding to `warnings`, per file and timestamp column, how many values came without
    a zone or as a date alone and were read as platform time (one aggregate over each file's own
    relation, `_f<index>`, still there while the table loads), and how many order lines were taken as
    they stood at the end of the run's date (`as_stood_at_run_end`)."""
    notes: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for index, schema in enumerate(schemas):
        keys, sql = zone_counts(schema, table, f"_f{index}")
        if not sql:
            continue
        for key, n in zip(keys, eng.rows(sql)[0], strict=True):
            if n:
                notes.setdefault(key, []).append((schema.source.rel, int(n)))
    blank = notes.pop((BLANK_ROWS, 0), [])
    run.warnings += [blank_rows_note(rel, n) for rel, n in blank]
    for (column, kind), files in sorted(notes.items()):
        run.warnings += zone_warnings(column, kind, files)
    if not spec.status_updates:
        return eng.rows(f"SELECT count(*) FROM {STAGE}")[0][0]
    read, later = eng.rows(f"SELECT count(*), count(*) FILTER (WHERE _later) FROM {STAGE}")[0]
    if later:
        run.warnings.append(
            f"{table.name}: {later:,} {'line' if later == 1 else 'lines'} placed by the end of the run's "
            f"date ({run.run_date}) {'was' if later == 1 else 'were'} cancelled or refunded only after it: "
            f"{'read as it stood' if later == 1 else 'read as they stood'} then, paid; a run on a later date "
            "records the change")
    return read


def blank_rows_note(rel: str, n: int) -> str:
    """The note for a CSV's rows whose every field is empty (readers.blank_row: not read, like blank
    lines; a field in a column the contract does not read does not count)."""
    rows = "1 row" if n == 1 else f"{n:,} rows"
    return (f"{rel}: {rows} with every field empty (a spreadsheet's blank {'row' if n == 1 else 'rows'}) "
            "skipped, not counted as read")


def numeric_id_warnings(schema: FileSchema) -> list[str]:
    """A Parquet id column stored as an integer type: its values load as text ('196'), but an id is
    text, and a number has no leading zeros: where the other files write 000196, nothing matches (the
    rows pointing at it are quarantined as unknown keys, whose detail then says so)."""
    if schema.source.fmt != "parquet":
        return []
    table = TABLES[schema.source.table]
    numeric = [(col.name, typ) for col in table.columns if col.name in schema.columns and is_id(table, col)
               for typ in [schema.columns[col.name][1]] if typ in INTEGER_TYPES]
    if not numeric:
        return []
    which = ", ".join(f"{name} ({typ})" for name, typ in numeric)
    columns = "id column" + ("s" if len(numeric) > 1 else "")
    return [f"{schema.source.rel}: {columns} {which} stored as integers, read as text; ids are text, and a "
            "number keeps no leading zeros (000196 is 196), so ids written with them elsewhere will not "
            "match: write id columns as strings"]


def zone_warnings(column: str, kind: int, files: list[tuple[str, int]]) -> list[str]:
    """Warnings for a column's values read as platform time: one per file, or one summed over the
    files when a table comes in many parts (a folder of daily parts would repeat the line per day)."""
    if len(files) <= MAX_FILES_NAMED:
        return [zone_note(rel, column, kind, n) for rel, n in files]
    named = ", ".join(rel for rel, _ in files[:2])
    where = f"{len(files)} files ({named} and {len(files) - 2} more)"
    return [zone_note(where, column, kind, sum(n for _, n in files))]


def unchecked_key_warnings(eng: Engine, table: Table) -> list[str]:
    """One line per optional key whose table has no rows (orders.campaign_id without campaigns):
    how many rows kept (loaded or duplicate) carry a value that could not be checked."""
    warnings = []
    for fk in unchecked_optional_keys(table.name):
        if eng.rows(f"SELECT EXISTS (SELECT 1 FROM {ident(fk.table)})")[0][0]:
            continue
        carried = eng.rows(f"SELECT count(*) FROM {STAGE} AS s "
                           "ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row "
                           f"WHERE s.{ident(fk.column)} IS NOT NULL")[0][0]
        if carried:
            warnings.append(f"{table.name}.{fk.column}: {carried:,} rows give a {fk.target} but no "
                            f"{fk.table} table is loaded; kept as given, not checked against {fk.table}")
    return warnings


def order_warnings(eng: Engine) -> list[str]:
    """The orders' own lines, from one pass over this run's kept order lines (loaded or duplicates):
    lines placed before their product's `launched_on` outside a campaign (an export that writes the day
    a product was listed or migrated: they load, and the models read such a product as on sale from its
    first order, recsys.signal, but the data engineer should know), and lines whose member is not in
    memberships for the order's group (`non_member_warning`)."""
    # an order through a campaign that opened before the launch is a pre-sale (预售: the platform's way
    # of selling a product before it ships), not a wrong launched_on: the generated world has them
    early = "p.launched_on > CAST(s.ordered_at AS DATE) AND s.campaign_id IS NULL"
    quote = "''''"  # SQL for a single quote
    example = (f"'order ' || s.order_id || ': member ' || {quote} || s.member_id || {quote} || "
               f"' in group ' || {quote} || s.group_id || {quote}")
    kept, n, products, first, strangers, stranger = eng.rows(
        f"SELECT count(*), count(*) FILTER (WHERE {early}), count(DISTINCT CASE WHEN {early} "
        f"THEN s.product_id END), min(CASE WHEN {early} THEN s.product_id END), "
        f"count(*) FILTER (WHERE m.member_id IS NULL), min(CASE WHEN m.member_id IS NULL THEN {example} END) "
        f"FROM {STAGE} AS s ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row "
        "LEFT JOIN products AS p ON p.product_id = s.product_id "  # keys: one row each, at most
        "LEFT JOIN memberships AS m ON m.member_id = s.member_id AND m.group_id = s.group_id")[0]
    lines = []
    if n:
        lines.append(
            f"orders: {n:,} {'line was' if n == 1 else 'lines were'} placed before the product's launched_on "
            f"({products:,} {'product' if products == 1 else 'products'}, e.g. {first}): loaded, and each "
            "such product is read as on sale from its first order; check products.launched_on")
    if strangers:
        lines.append(non_member_warning(eng, kept, strangers, stranger))
    return lines


def non_member_warning(eng: Engine, kept: int, n: int, example: str) -> str:
    """The line for `n` of the `kept` order lines whose (member_id, group_id) is in no membership. They
    load (the contract keeps orders by non-members: a member who joined and left between two exports),
    but when many do, the ids of one file likely do not spell the other's: where memberships match once
    leading zeros are ignored (`38` in orders, `00000038` in memberships), it says how many, and when
    most, "leading zeros lost?" (this second pass runs only when some line is unmatched)."""
    share = "all" if n == kept else f"{n / kept:.0%}"
    line = (f"orders: {n:,} {'line' if n == 1 else 'lines'} ({share} of the {kept:,} kept) "
            f"{'names a member who is' if n == 1 else 'name members who are'} not in memberships for the "
            f"order's group (e.g. {example}): loaded, as orders by non-members are kept; check that "
            "memberships is complete and spells member_id and group_id as orders does")
    strip, quote = without_leading_zeros, "''''"
    missing = (f"SELECT s.member_id, s.group_id FROM {STAGE} AS s "
               "ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row "
               "ANTI JOIN memberships AS m ON m.member_id = s.member_id AND m.group_id = s.group_id")
    padded = (f"SELECT {strip('member_id')} AS zm, {strip('group_id')} AS zg, min(member_id) AS member_id "
              "FROM memberships GROUP BY 1, 2")
    zeros, pair = eng.rows(
        f"SELECT count(*), min({quote} || o.member_id || {quote} || ' in orders, ' || {quote} || "
        f"z.member_id || {quote} || ' in memberships') FROM ({missing}) AS o JOIN ({padded}) AS z "
        f"ON z.zm = {strip('o.member_id')} AND z.zg = {strip('o.group_id')}")[0]
    if zeros:
        line += (f"; {zeros:,} of them match a membership once leading zeros are ignored (e.g. member {pair})"
                 + (f": {ZEROS_LOST}" if 2 * zeros > n else ""))
    return line


def stage_file(eng: Engine, spec: Staging, table: Table, schema: FileSchema, index: int) -> str:
    """A view of one file: typed columns plus its first failing row rule, detail and raw text."""
    source = schema.source
    relation = f"_f{index}"  # the file's own columns and _row, its row number in the file
    if source.fmt == "csv":
        try:
            eng.read_csv_text(relation, source.readable)
        except UnparseableFileError as exc:  # a break the header's sniffing did not reach
            raise csv_error(source, str(exc).partition("cannot be read as CSV: ")[2] or str(exc)) from None
    else:
        eng.read_parquet(relation, source.readable)
    select, is_text = projection(schema, table, index, relation)
    if spec.status_updates:
        select = f"SELECT *, COALESCE({changed_after_run()}, FALSE) AS _later FROM ({select})"
    checks = [null_required(c, is_text[c.name]) for c in table.columns if c.required]
    checks += [bad_type(c, is_text[c.name]) for c in table.columns if c.name in is_text]
    checks += [plausible_year(c) for c in table.columns
               if c.name in is_text and c.kind in ("date", "timestamp")]
    checks += [spreadsheet_mangled_id(c) for c in table.columns if is_text.get(c.name) and is_id(table, c)]
    checks += [control_character_id(c) for c in table.columns if c.name in is_text and is_id(table, c)]
    checks += list(spec.checks)
    raw = ", ".join(f"{lit(c)}, CAST({ident('_t_' + c)} AS VARCHAR)" for c in is_text)
    names = (as_stood_at_run_end(table) if spec.status_updates
             else ", ".join(ident(c.name) for c in table.columns))
    view = f"_v{index}"
    later = ", _later" if spec.status_updates else ""
    eng.view(
        view,
        f"SELECT _file, _row, {names}, _c.rule AS _rule, "
        f"{totals_row_detail('_c', list(is_text))} AS _detail, "
        f"CASE WHEN _c IS NOT NULL THEN json_object({raw})::VARCHAR END AS _raw{later} "
        f"FROM (SELECT *, {first_failing(checks)} AS _c FROM ({select}))"
    )
    return view


def as_stood_at_run_end(table: Table) -> str:
    """The staged order columns as they stood at the end of the run's date: a line placed by then and
    cancelled or refunded only after it (`_later`, rules.changed_after_run: a backfill reading today's
    files) was paid, its status unchanged since it was placed, so it loads rather than being
    quarantined whole as `future_timestamp`. Applied after the row checks (which read the file's
    values); the quarantine keeps the file's own text."""
    columns = []
    for col in table.columns:
        name = ident(col.name)
        if col.name == "status":
            columns.append(f"CASE WHEN _later THEN 'paid' ELSE {name} END AS {name}")
        elif col.name == "status_at":
            columns.append(f"CASE WHEN _later THEN NULL ELSE {name} END AS {name}")
        else:
            columns.append(name)
    return ", ".join(columns)


def typed_raw(table: Table, alias: str) -> str:
    """JSON text of a staged row from its typed columns (for rules found after staging)."""
    pairs = ", ".join(f"{lit(c.name)}, CAST({alias}.{ident(c.name)} AS VARCHAR)" for c in table.columns)
    return f"json_object({pairs})::VARCHAR"


def find_bad_rows(eng: Engine, spec: Staging, table: Table) -> None:
    """`_bad`: every row breaking a row rule, else the first failing lookup (foreign keys, windows)."""
    if not spec.lookups:
        eng.table("_bad", f"SELECT _file, _row, _rule, _detail, _raw FROM {STAGE} WHERE _rule IS NOT NULL")
        return
    joins = " ".join(lookup.join for lookup in spec.lookups)
    eng.table(
        "_bad_l",
        "SELECT _file, _row, COALESCE(_rule, _lc.rule) AS _rule, "
        "COALESCE(_detail, _lc.detail) AS _detail, COALESCE(_raw, _lraw) AS _raw, "
        "_lc.key_column AS _lcol, _lc.probe AS _lprobe FROM ("
        f"SELECT s._file, s._row, s._rule, s._detail, s._raw, _lc, "
        f"CASE WHEN _lc IS NOT NULL THEN {typed_raw(table, 's')} END AS _lraw FROM ("
        f"SELECT s.*, CASE WHEN s._rule IS NULL THEN {first_failing(list(spec.lookups), probes=True)} "
        "END AS _lc "
        f"FROM {STAGE} AS s {joins}) AS s) WHERE _rule IS NOT NULL OR _lc IS NOT NULL"
    )
    # keys found nowhere: said once more when a parent has them with other leading zeros ('196' vs
    # '000196'), looked up for those rows only
    hinted = bool(table.foreign_keys) and eng.rows(
        "SELECT EXISTS (SELECT 1 FROM _bad_l WHERE _lprobe IS NOT NULL)")[0][0]
    hints, whens = leading_zero_hints(table, "b") if hinted else ("", "")
    detail = f"CASE {whens} ELSE b._detail END" if whens else "b._detail"
    eng.table("_bad", f"SELECT b._file, b._row, b._rule, {detail} AS _detail, b._raw "
              f"FROM _bad_l AS b {hints}")
    eng.drop("_bad_l")


def key_match(table: Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{ident(k)} = {right}.{ident(k)}" for k in table.key)


def deduplicate_and_load(eng: Engine, spec: Staging, table: Table, read: int) -> tuple[int, int, int]:
    """Compare rows that passed every rule with the warehouse and earlier rows of this run, by key.

    Per row: identical to the stored row or an earlier row -> duplicate; a new key (its first
    occurrence) -> insert; for orders, the same line later going paid -> cancelled/refunded ->
    update (an older version of a stored update -> duplicate); for a table with `fills_later`, those
    columns filled in where the stored row left them empty -> update (the older, empty version ->
    duplicate); anything else under a known key ->
    duplicate_id_conflict. Returns (duplicates, updates, inserted).
    """
    name, keys = ident(table.name), ", ".join(ident(k) for k in table.key)
    content = ", ".join(ident(c.name) for c in table.columns)
    s_keys = ", ".join("s." + ident(k) for k in table.key)
    # keys repeated in this run (by hash: a superset, settled exactly in _multi), compared in order
    eng.table("_keys", f"SELECT DISTINCT {s_keys} FROM {STAGE} AS s "
              f"WHERE hash({s_keys}) IN (SELECT h FROM (SELECT hash({keys}) AS h FROM {STAGE}) "
              "GROUP BY h HAVING count(*) > 1)")
    # keys seen once in this run and already stored: compared with the stored row only
    eng.table("_stored", f"SELECT {s_keys} FROM {STAGE} AS s "
              f"SEMI JOIN {name} AS w ON {key_match(table, 's', 'w')} "
              f"ANTI JOIN _keys AS k ON {key_match(table, 's', 'k')}")
    repeated, stored = eng.rows("SELECT EXISTS (SELECT 1 FROM _keys), EXISTS (SELECT 1 FROM _stored)")[0]
    if not repeated and not stored:  # every valid row is new
        inserted = eng.insert(name, f"SELECT {content} FROM {STAGE} AS s "
                              "ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row")
        eng.drop("_keys", "_stored")
        return 0, 0, inserted
    parts = ([verdict_sql(spec, table, "_keys", windowed=True)] if repeated else []) + \
        ([verdict_sql(spec, table, "_stored", windowed=False)] if stored else [])
    eng.table("_multi", " UNION ALL ".join(f"({p})" for p in parts))
    inserted = eng.insert(name, f"SELECT {content} FROM _multi WHERE _verdict = 'load'")
    unsettled = read - eng.rows("SELECT (SELECT count(*) FROM _bad) + (SELECT count(*) FROM _multi)")[0][0]
    if unsettled:  # rows of keys neither repeated nor stored: new (skipped on a plain re-ingest)
        inserted += eng.insert(
            name,
            f"SELECT {content} FROM {STAGE} AS s "
            "ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row "
            "ANTI JOIN _multi AS m ON m._file = s._file AND m._row = s._row",
        )
    updates = eng.rows("SELECT count(*) FROM _multi WHERE _verdict = 'update'")[0][0]
    if updates and spec.status_updates:
        eng.update(
            "orders", ("order_id",), ("status", "status_at"),
            "SELECT order_id, status, status_at FROM _multi WHERE _verdict = 'update' "
            "QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY _sat DESC, _file DESC, _row DESC) = 1",
        )
    elif updates:  # fills_later: the latest delivery's values
        filled = ", ".join(ident(c) for c in spec.fills_later)
        eng.update(
            table.name, table.key, spec.fills_later,
            f"SELECT {keys}, {filled} FROM _multi WHERE _verdict = 'update' "
            f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _file DESC, _row DESC) = 1",
        )
    eng.insert(
        "_bad",
        f"SELECT s._file, s._row, 'duplicate_id_conflict', {conflict_detail(table)}, "
        f"{typed_raw(table, 's')} FROM _multi AS s "
        f"LEFT JOIN {name} AS w ON s._wh IS NOT NULL AND {key_match(table, 's', 'w')} "
        "LEFT JOIN _multi AS f ON f._file = s._ffile AND f._row = s._frow WHERE s._verdict = 'conflict'",
    )
    duplicates = eng.rows("SELECT count(*) FROM _multi WHERE _verdict = 'duplicate'")[0][0]
    eng.drop("_keys", "_stored", "_multi")
    return duplicates, updates, inserted


def conflict_detail(table: Table) -> str:
    """SQL text: the key, where it was seen, and the first column that differs (before vs now)."""
    key_names = ", ".join(table.key)
    key_value = " || ', ' || ".join(f"COALESCE(CAST(s.{ident(k)} AS VARCHAR), '')" for k in table.key)
    differs = " ".join(
        f"WHEN s.{ident(c.name)} IS DISTINCT FROM {before} THEN "
        f"{lit(f': column {c.name!r} was ')} || {shown(before)} || ', got ' || {shown('s.' + ident(c.name))}"
        for c in table.columns
        for before in [f"(CASE WHEN s._wh IS NOT NULL THEN w.{ident(c.name)} ELSE f.{ident(c.name)} END)"]
    )
    return (f"{lit(f'key ({key_names}) = ')} || {key_value} || ' was seen before ' || "
            "CASE WHEN s._wh IS NOT NULL THEN '(in the warehouse)' ELSE '(earlier in this run)' END || "
            f"' with different content' || COALESCE(CASE {differs} END, '') || "
            "'; expected an exact duplicate or a new id'")


def verdict_sql(spec: Staging, table: Table, keys_table: str, windowed: bool) -> str:
    """Every valid row under the keys of `keys_table`, with its verdict: load, duplicate, update, conflict.

    `windowed`: keys repeated in this run, each row compared with the stored row or else the first
    occurrence; otherwise keys seen once and stored, compared with the stored row alone.
    """
    name, keys = ident(table.name), ", ".join(ident(k) for k in table.key)
    content = ", ".join(ident(c.name) for c in table.columns)
    if spec.status_updates:  # the order line without its status, and when the status was set
        base = ", ".join(ident(c.name) for c in table.columns if c.name not in ("status", "status_at"))
        version = f'hash({base}) AS _b, "status" AS _st, COALESCE("status_at", "ordered_at") AS _sat'
    elif spec.fills_later:  # the row without the columns filled in later, and whether they are yet
        base = ", ".join(ident(c.name) for c in table.columns if c.name not in spec.fills_later)
        filled = " AND ".join(f"{ident(c)} IS NOT NULL" for c in spec.fills_later)
        version = (f"hash({base}) AS _b, CASE WHEN {filled} THEN 'filled' ELSE 'open' END AS _st, "
                   "NULL::TIMESTAMPTZ AS _sat")
    else:
        version = "NULL::UBIGINT AS _b, NULL::VARCHAR AS _st, NULL::TIMESTAMPTZ AS _sat"
    v_keys = ", ".join("v." + ident(k) for k in table.key)
    first = f"OVER (PARTITION BY {v_keys} ORDER BY v._file, v._row)"
    verdict = """CASE
        WHEN _same > 1 THEN 'duplicate'
        WHEN _wh IS NOT NULL AND _wh = _h THEN 'duplicate'
        WHEN _wh IS NULL AND _nth = 1 THEN 'load'"""
    if spec.status_updates:
        verdict += """
        WHEN _b = _rb AND _rst = 'paid' AND _st IN ('cancelled', 'refunded') AND _sat > _rsat THEN 'update'
        WHEN _b = _rb AND _st = 'paid' AND _rst IN ('cancelled', 'refunded') AND _sat <= _rsat
            THEN 'duplicate'
        WHEN _b = _rb AND _st = 'paid' AND _rst = 'paid' THEN 'duplicate'"""  # "still paid at t" reads no
    # paid line's status_at: the same line paid, one version with status_at and one without (a later
    # cancellation read as it stood at the end of an earlier run's date), is the same fact
    elif spec.fills_later:
        verdict += """
        WHEN _b = _rb AND _rst = 'open' AND _st = 'filled' THEN 'update'
        WHEN _b = _rb AND _rst = 'filled' AND _st = 'open' THEN 'duplicate'"""
    verdict += " ELSE 'conflict' END"
    if windowed:
        ranked = f"""
        SELECT v.*, w._h AS _wh,
            row_number() OVER (PARTITION BY {v_keys}, v._h ORDER BY v._file, v._row) AS _same,
            row_number() {first} AS _nth,
            first_value(v._file) {first} AS _ffile, first_value(v._row) {first} AS _frow,
            COALESCE(w._b, first_value(v._b) {first}) AS _rb,
            COALESCE(w._st, first_value(v._st) {first}) AS _rst,
            COALESCE(w._sat, first_value(v._sat) {first}) AS _rsat
        FROM v LEFT JOIN w ON {key_match(table, 'v', 'w')}"""
    else:
        ranked = f"""
        SELECT v.*, w._h AS _wh, 1 AS _same, 1 AS _nth, v._file AS _ffile, v._row AS _frow,
            w._b AS _rb, w._st AS _rst, w._sat AS _rsat
        FROM v JOIN w ON {key_match(table, 'v', 'w')}"""
    return f"""
    WITH v AS (
        SELECT s._file, s._row, {', '.join('s.' + ident(c.name) for c in table.columns)},
            hash({content}) AS _h, {version}
        FROM {STAGE} AS s SEMI JOIN {keys_table} AS k ON {key_match(table, 's', 'k')}
        ANTI JOIN _bad AS b ON b._file = s._file AND b._row = s._row),
    w AS (
        SELECT {keys}, hash({content}) AS _h, {version}
        FROM {name} SEMI JOIN {keys_table} AS k USING ({keys})),
    ranked AS ({ranked})
    SELECT *, {verdict} AS _verdict FROM ranked"""


def quarantine(eng: Engine, table: Table, files: list[str]) -> None:
    """Append this run's quarantined rows, skipping any already recorded (re-ingest adds nothing). A
    recorded future timestamp still pending takes this run's detail, whose cutoff is the run's date,
    so the quarantine says the limit the row breaks now; every other entry keeps the detail it was
    first recorded with (a conflict says "earlier in this run" the first time and "in the warehouse"
    after: re-ingesting the same files must change nothing)."""
    names = ", ".join(f"({i}, {lit(rel)})" for i, rel in enumerate(files))
    eng.update(
        "quarantine", ("table_name", "source_file", "row_number", "rule", "raw"), ("detail",),
        f"SELECT {lit(table.name)} AS table_name, f.rel AS source_file, s._row AS row_number, "
        "s._rule AS rule, s._raw AS raw, s._detail AS detail "
        f"FROM _bad AS s JOIN (VALUES {names}) AS f(_file, rel) USING (_file) "
        "WHERE s._rule = 'future_timestamp' AND s._raw IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM quarantine AS q "
        f"WHERE q.table_name = {lit(table.name)} AND q.source_file = f.rel AND q.row_number = s._row "
        "AND q.rule = s._rule AND q.raw = s._raw AND q.detail IS DISTINCT FROM s._detail)",
    )
    eng.insert(
        "quarantine",
        f"SELECT {lit(table.name)}, f.rel, s._row, s._rule, s._detail, s._raw, now() "
        f"FROM _bad AS s JOIN (VALUES {names}) AS f(_file, rel) USING (_file) "
        "WHERE s._rule IS NOT NULL AND NOT EXISTS ("
        f"SELECT 1 FROM quarantine AS q WHERE q.table_name = {lit(table.name)} AND q.source_file = f.rel "
        "AND q.row_number = s._row AND q.rule = s._rule AND q.raw IS NOT DISTINCT FROM s._raw)"
    )


def record_files(con: duckdb.DuckDBPyConnection, schemas: dict[str, list[FileSchema]]) -> None:
    """Note each file read (path relative to RAW, size, mtime) once per version of the file."""
    rows = []
    for name, files in schemas.items():
        for schema in files:
            stat = schema.source.path.stat()
            mtime = datetime.fromtimestamp(stat.st_mtime, TZ).isoformat()
            rows.append(f"({lit(schema.source.rel)}, {lit(name)}, {stat.st_size}, {lit(mtime)}::TIMESTAMPTZ)")
    if rows:
        con.execute(
            f"INSERT INTO ingest_files SELECT f.*, now() FROM (VALUES {', '.join(rows)}) "
            "AS f(path, table_name, size, mtime) WHERE NOT EXISTS (SELECT 1 FROM ingest_files AS i "
            "WHERE i.path = f.path AND i.size = f.size AND i.mtime = f.mtime)"
        )
