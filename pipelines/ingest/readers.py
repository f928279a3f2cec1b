"""Finding raw files and reading one of them into the contract's columns (rename + cast).

RAW holds, per table, `<table>.csv`, `<table>.parquet` or a folder `<table>/` of such parts
(CSV and Parquet may be mixed in one folder); names match case-insensitively (`Orders.CSV`).
`_truth/` and other names starting with `_` or `.` are ignored. CSV is read as text (every value
cast later with TRY_CAST, so a bad value is a row-level `bad_type`); Parquet keeps its types, and
a required column of the wrong type is fatal.
An empty file is fatal; a CSV must be UTF-8, or GB18030/GBK, which is read through a UTF-8 copy
(`prepare_text`, with a note in the report).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import duckdb

from common.contract import DUCKDB_TYPES, TABLES, Column, Table
from common.errors import SchemaError, UnparseableFileError
from pipelines.engine.duckdb_engine import csv_scan, parquet_scan
from pipelines.ingest.csv_text import (
    TextCheck,
    big5_decodes,
    check_text,
    csv_header,
    csv_problem,
    gb18030_to_utf8,
)
from pipelines.ingest.timestamps import (
    DATE_ONLY,
    NO_ZONE,
    from_chinese_date,
    read_timestamp,
    zone_kind_of_text,
    zone_kind_of_type,
)

Format = Literal["csv", "parquet"]
SUFFIXES: dict[str, Format] = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}

INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                 "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
TIMESTAMP_TYPES = {"TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S"}
FRACTIONAL_TYPES = {"FLOAT", "DOUBLE", "DECIMAL"}
# Parquet column types accepted for each contract kind (anything else: fatal if required). An integer
# column may arrive as floats (pandas stores an integer column with a missing value as float64):
# a whole value reads as the integer, a fraction is quarantined as bad_type.
COMPATIBLE: dict[str, set[str]] = {
    "str": {"VARCHAR", "UUID"} | INTEGER_TYPES,
    "int": INTEGER_TYPES | FRACTIONAL_TYPES,
    "float": INTEGER_TYPES | FRACTIONAL_TYPES,
    "bool": {"BOOLEAN"},
    "date": {"DATE"} | TIMESTAMP_TYPES,
    "timestamp": {"DATE"} | TIMESTAMP_TYPES,
}
EXPECTED: dict[str, str] = {
    "str": "text",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "date": "a date (YYYY-MM-DD)",
    "timestamp": "a timestamp (YYYY-MM-DD HH:MM:SS, zone optional, default +08:00; zone: "
                 "+08:00, +0800, +08, UTC, Z, CST = +08:00 or a name like Asia/Shanghai)",
}


@dataclass(frozen=True)
class SourceFile:
    """One raw file of one table; `rel` is its path relative to RAW, as quarantine records it.
    `copy`: a UTF-8 copy the engines read instead (of a GB18030 CSV)."""

    table: str
    path: Path
    rel: str
    fmt: Format
    copy: Path | None = None

    @property
    def readable(self) -> Path:
        """The file the engines read."""
        return self.copy or self.path


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def file_format(path: Path) -> Format | None:
    name = path.name.lower()
    for suffix, fmt in SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    return None


def table_name(path: Path) -> str:
    name = path.name
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(("_", ".")) for part in path.relative_to(root).parts)


def discover(raw: Path) -> tuple[dict[str, list[SourceFile]], list[str]]:
    """The raw files per contract table (sorted, so 'earlier in this run' is well defined), and warnings.

    Table names match case-insensitively (`Orders.CSV` is orders); two entries differing only by
    case are fatal (which one is meant?). A table given twice at the top level (orders.csv and
    orders.parquet) is read as the parts of one table, with a warning naming both."""
    if not raw.is_dir():
        raise SchemaError(f"{raw}: expected a folder of raw tables (<table>.csv|.parquet or <table>/)")
    found: dict[str, list[SourceFile]] = {}
    warnings: list[str] = []
    entries = [e for e in sorted(raw.iterdir()) if not hidden(e, raw)]
    refuse_case_twins(raw, entries)
    given: dict[str, list[str]] = {}  # table -> its top-level entries
    for entry in entries:
        name = (table_name(entry) if entry.is_file() else entry.name).lower()
        if name not in TABLES:
            warnings.append(stray_warning(entry))
            continue
        given.setdefault(name, []).append(entry.name + ("" if entry.is_file() else "/"))
        if entry.is_file():
            fmt = file_format(entry)
            if fmt is None:
                warnings.append(f"{entry.name}: not .csv or .parquet; ignored")
                continue
            found.setdefault(name, []).append(SourceFile(name, entry, entry.name, fmt))
            continue
        for part in sorted(p for p in entry.rglob("*") if p.is_file() and not hidden(p, raw)):
            rel = part.relative_to(raw).as_posix()
            fmt = file_format(part)
            if fmt is None:
                warnings.append(f"{rel}: not .csv or .parquet; ignored")
                continue
            found.setdefault(name, []).append(SourceFile(name, part, rel, fmt))
    for files in found.values():
        files.sort(key=lambda f: f.rel)
    warnings += [given_twice(name, names) for name, names in given.items() if len(names) > 1]
    return found, warnings


def refuse_case_twins(raw: Path, entries: list[Path]) -> None:
    """Two entries of RAW whose names differ only by case (orders.csv, Orders.csv): fatal."""
    seen: dict[str, str] = {}
    for entry in entries:
        key = entry.name.lower()
        if key in seen:
            raise SchemaError(f"{raw}: {seen[key]} and {entry.name} differ only by case; table names "
                              "match case-insensitively, so keep one of them")
        seen[key] = entry.name


def given_twice(table: str, names: list[str]) -> str:
    """The warning for a table delivered by several top-level entries (orders.csv + orders.parquet)."""
    both = "both" if len(names) == 2 else "all"
    return (f"{' and '.join(names)} {both} hold table {table}: each was read, as parts of one table (rows "
            "found in both count as duplicates, rows that differ are quarantined as "
            f"duplicate_id_conflict); if one is a copy of the other in another format, remove it; "
            f"parts belong in a folder {table}/")


def stray_warning(entry: Path) -> str:
    """The warning for an entry that names no contract table, with the table it may have meant."""
    stem = (table_name(entry) if entry.is_file() else entry.name).lower()
    if entry.is_file() and file_format(entry) is None and "." in stem:
        stem = stem.rsplit(".", 1)[0]  # feedback.xlsx: the table is right, the format is not
        if stem in TABLES:
            return f"{entry.name}: not .csv or .parquet; ignored (save it as CSV UTF-8 or Parquet)"
    meant = meant_table(entry)
    return f"{entry.name}: not a contract table; ignored{'; ' + meant[1] if meant else ''}"


def meant_table(entry: Path) -> tuple[str, str] | None:
    """The contract table a stray entry's name is close to, and the hint that says so: a part of it
    given at the top level (orders_2024.csv), or a near miss (order.csv). None when there is none."""
    stem = (table_name(entry) if entry.is_file() else entry.name).lower()
    if entry.is_file() and file_format(entry) is None and stem.rsplit(".", 1)[0] in TABLES:
        table = stem.rsplit(".", 1)[0]  # suppliers.xlsx: the right table in a format not read
        return table, f"not .csv or .parquet, so not read; save it as CSV UTF-8 or Parquet ({table}.csv)"
    if entry.is_dir() and stem in TABLES:  # the folder is there, but nothing in it is read
        inside = sorted(p.name for p in entry.iterdir() if not p.name.startswith("."))[:3]
        return stem, (f"the folder holds no .csv or .parquet file (found: {', '.join(inside) or 'nothing'}); "
                      "save the parts as CSV UTF-8 or Parquet")
    for table in TABLES:
        if stem.startswith(table) and stem[len(table):][:1] in ("_", "-", ".", " "):
            return table, (f"did you mean a part of {table}? parts go in a folder {table}/ "
                           f"({table}/{entry.name})")
    close = difflib.get_close_matches(stem, list(TABLES), n=1, cutoff=0.75)
    if not close:
        return None
    suffix = entry.name[len(table_name(entry)):] if entry.is_file() else "/"
    return close[0], f"did you mean {close[0]}{suffix.lower()}?"


def prepare_text(found: dict[str, list[SourceFile]], workdir: Path) -> list[str]:
    """Check every file for text before any is read: empty is fatal; a CSV that is not UTF-8 but is
    GB18030 gets a UTF-8 copy under `workdir` (same file name) and a note; anything else is fatal."""
    notes = []
    for files in found.values():
        for i, source in enumerate(files):
            expected = ", ".join(TABLES[source.table].required_columns)
            if source.fmt == "parquet":
                if source.path.stat().st_size == 0:
                    raise UnparseableFileError(f"{source.rel}: the file is empty (0 bytes); expected "
                                               f"a Parquet file with the columns {expected}")
                continue
            text = check_text(source.path)
            if text.empty:
                raise UnparseableFileError(f"{source.rel}: the file is empty; expected a header line "
                                           f"naming the columns ({expected}), then one line per row")
            if text.bad_line is None:
                continue
            copy = workdir / re.sub(r"\.gz$", "", source.rel, flags=re.IGNORECASE)
            copy.parent.mkdir(parents=True, exist_ok=True)
            files[i] = replace(source, copy=copy)
            notes += gb18030_copy(source, text, copy)
    return notes


RESAVE = "re-save it as UTF-8 (Excel: Save As 'CSV UTF-8 (Comma delimited)')"


def gb18030_copy(source: SourceFile, text: TextCheck, copy: Path) -> list[str]:
    """Decode a CSV that is not UTF-8 as GB18030 into `copy`, and the note that says so; fatal, naming
    the encoding where the check can: UTF-16 (a byte order mark), UTF-8 turning into GBK part-way, or
    Big5 (GB18030 decodes it without an error, into private-use and rare characters: nonsense). Big5
    is not decoded: its bytes overlap GBK's, so a guess between them could store garbled names without
    a word, and one re-save as UTF-8 settles it."""
    said = (f"{source.rel}: expected UTF-8 text; line {text.bad_line} holds bytes that are not UTF-8 "
            f"({text.bad_bytes.hex(' ') or 'a cut-off character'})")
    if text.utf16:
        raise UnparseableFileError(
            f"{said}: the file is UTF-16 ({text.utf16}, byte order mark {text.head[:2].hex(' ')}), as "
            "Excel's 'Unicode Text' saves it (tab-separated); save it as 'CSV UTF-8 (Comma delimited)'")
    if text.utf8_before and text.bad_line_at and gb18030_to_utf8(source.path, copy, text.bad_line_at):
        copy.unlink(missing_ok=True)
        raise UnparseableFileError(
            f"{said}: the file mixes two encodings, UTF-8 up to line {text.bad_line - 1} and GB18030/GBK "
            f"from line {text.bad_line} (rows added by another program?); {RESAVE}")
    decoded = gb18030_to_utf8(source.path, copy)
    if decoded is None:
        raise UnparseableFileError(f"{said}, and the file is not GB18030/GBK either; {RESAVE}")
    what = (f"{decoded.private_use:,} private-use characters (U+E000-U+F8FF), and {decoded.rare:,} of its "
            f"{decoded.han:,} Chinese characters rare ones")
    if decoded.implausible and big5_decodes(source.path):
        copy.unlink(missing_ok=True)
        raise UnparseableFileError(
            f"{said}; read as GB18030/GBK it gives nonsense ({what}): the file looks like Big5 "
            "(traditional Chinese, as Excel saves CSV in Taiwan or Hong Kong), which it decodes as "
            f"without an error; {RESAVE}")
    if decoded.private_use_share:
        copy.unlink(missing_ok=True)
        raise UnparseableFileError(
            f"{said}; read as GB18030/GBK it gives nonsense ({what}), so it is in another encoding; {RESAVE}")
    if decoded.implausible:  # rare characters alone: GBK holds traditional ones too, so only said
        return [f"{source.rel}: not UTF-8 (from line {text.bad_line}); read as GB18030/GBK, but "
                f"{decoded.rare:,} of its {decoded.han:,} Chinese characters are rare ones: if its names "
                f"read wrong, the file is in another encoding; {RESAVE}"]
    return [f"{source.rel}: not UTF-8 (from line {text.bad_line}); read as GB18030/GBK, the encoding "
            "Chinese Excel saves CSV in; re-save as UTF-8 to skip this step"]


def scan(source: SourceFile) -> str:
    """The table function that reads one file (CSV: all text, strict standard dialect)."""
    return parquet_scan(source.readable) if source.fmt == "parquet" else csv_scan(source.readable)


def csv_error(source: SourceFile, engine_says: str) -> UnparseableFileError:
    """A CSV an engine could not parse: the line and what is wrong when Python's reader finds it,
    else what the engine said."""
    problem = csv_problem(source.readable) or engine_says
    return UnparseableFileError(f"{source.rel}: cannot be read as CSV: {problem}")


def first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def inspect(con: duckdb.DuckDBPyConnection, source: SourceFile) -> dict[str, str]:
    """Column name -> DuckDB type of one file, without reading it whole. Unreadable: fatal."""
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {scan(source)}").fetchall()
    except duckdb.Error as exc:
        if source.fmt == "csv":
            raise csv_error(source, first_line(exc)) from None
        raise UnparseableFileError(
            f"{source.rel}: cannot be read as {source.fmt.upper()}: {first_line(exc)}"
        ) from None
    if source.fmt == "csv":  # DuckDB renames a repeated column (price, price_1): say it of a contract column
        names = [n.strip().lower() for n in csv_header(source.readable)]
        known = TABLES[source.table].column_names
        twice = sorted({n for n in names if n in known and names.count(n) > 1})
        if twice:
            raise SchemaError(f"{source.rel}: column {twice[0]!r} appears twice in the header (names are "
                              "case-insensitive); expected each column once")
    return {name: typ for name, typ, *_ in rows if name != "file_row_number"}


def base_type(duck_type: str) -> str:
    return re.sub(r"\(.*\)$", "", duck_type).strip()


@dataclass(frozen=True)
class FileSchema:
    """How one file's columns map onto the contract: contract column -> (file column, file type);
    `names`: every column of the file, in its order."""

    source: SourceFile
    columns: dict[str, tuple[str, str]]
    ignored: tuple[str, ...]
    names: tuple[str, ...] = ()


SEPARATORS = {"\t": "tabs", ";": "semicolons", "|": "vertical bars"}


def _other_separator(source: SourceFile, names: list[str]) -> str:
    """Why the columns were not found, when the header read as one column split by another separator
    (a tab-separated export, or a European spreadsheet's semicolons): a CSV here is comma-separated."""
    if source.fmt != "csv" or len(names) != 1:
        return ""
    for sep, word in SEPARATORS.items():
        if sep in names[0]:
            return (f"; the header reads as one column with {word} in it: this file looks "
                    f"{word[:-1]}-separated, and a CSV here must be comma-separated "
                    "(export it again with commas)")
    return ""


def column_key(name: str) -> str:
    """A file's column name as the contract writes it: case, surrounding spaces and the spaces or hyphens
    between words ignored (`Order ID`, `order-id` and ` ORDER_ID ` are order_id)."""
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def match_schema(source: SourceFile, types: dict[str, str]) -> FileSchema:
    """Rename file columns onto the contract (case and spaces ignored); missing / mistyped required: fatal."""
    table = TABLES[source.table]
    by_name: dict[str, str] = {}
    for name in types:
        key = column_key(name)
        if key in by_name:  # `order_id` beside `Order ID`: the one written as the contract writes it
            exact = [n for n in (by_name[key], name) if n.strip().lower() == key]
            if key not in table.column_names:
                continue  # two columns the contract does not read: both ignored, as before
            if len(exact) != 1:
                raise SchemaError(f"{source.rel}: column {name!r} appears twice (names are case-insensitive, "
                                  "and spaces or hyphens between words read as '_')")
            name = exact[0]
        by_name[key] = name
    columns: dict[str, tuple[str, str]] = {}
    for col in table.columns:
        if col.name not in by_name:
            if col.required:
                raise SchemaError(
                    f"{source.rel}: required column {col.name!r} is missing; expected columns "
                    f"{', '.join(table.required_columns)} (found: {', '.join(types) or 'none'})"
                    f"{_other_separator(source, list(types))}"
                )
            continue
        file_col = by_name[col.name]
        duck_type = base_type(types[file_col])
        if source.fmt == "parquet" and col.required and duck_type not in COMPATIBLE[col.kind]:
            epoch = ("; integers in a time column look like epoch seconds or milliseconds, which are not "
                     "read (the unit and zone are a guess): write the column as a timestamp type"
                     if col.kind in ("date", "timestamp") and duck_type in INTEGER_TYPES else "")
            raise SchemaError(
                f"{source.rel}: column {col.name!r} has Parquet type {types[file_col]}; expected "
                f"{EXPECTED[col.kind]} ({DUCKDB_TYPES[col.kind]}){epoch}"
            )
        columns[col.name] = (file_col, duck_type)
    ignored = tuple(n for k, n in by_name.items() if k not in table.column_names)
    return FileSchema(source, columns, ignored, tuple(types))


def spreadsheet_column(position: int) -> str:
    """The letters a spreadsheet shows above its 1-based column `position` (1 A, 11 K, 27 AA)."""
    letters = ""
    while position:
        position, rest = divmod(position - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def ignored_warnings(schema: FileSchema) -> list[str]:
    """The file's columns the contract does not read, one line each; a CSV's columns whose header cell
    is empty (what Excel leaves after cells were cleared: an engine names them column10, ...) in one
    line by their place in the file, as the file has no name for them."""
    rel = schema.source.rel
    header = csv_header(schema.source.readable) if schema.source.fmt == "csv" and schema.ignored else []
    unnamed, named = [], []
    for name in schema.ignored:
        at = schema.names.index(name) if name in schema.names else -1
        if 0 <= at < len(header) and not header[at].strip():
            unnamed.append(at + 1)
        else:
            named.append(name)
    lines = [f"{rel}: column {name!r} is not in the contract; ignored" for name in named]
    if unnamed:
        where = ", ".join(f"{n} ({spreadsheet_column(n)})" for n in unnamed)
        what = ("an unnamed column (empty header cell) at position" if len(unnamed) == 1 else
                f"{len(unnamed)} unnamed columns (empty header cells) at positions")
        lines.append(f"{rel}: {what} {where}; ignored (cells a spreadsheet left behind?)")
    return lines


def typed_expr(col: Column, text: str, is_text: bool, fractional: bool = False) -> str:
    """SQL turning the file's value `text` into the contract type; NULL when it cannot be read.
    `fractional`: the file stores the value as a float or decimal type. An integer column reads a
    whole value written with a zero fraction (2.0, "2.00": what pandas writes for an integer column
    with a missing value) as that integer, and nothing else with a fraction."""
    target = DUCKDB_TYPES[col.kind]
    if not is_text:
        value = f"TRY_CAST({text} AS {target})"
        if col.kind == "int" and fractional:
            value = f"CASE WHEN FLOOR({text}) = {text} THEN {value} END"
    else:
        norm = f"NULLIF(TRIM({text}), '')"
        if col.kind == "str":  # an accepted value in any case (`Paid`, `PAID`), stored as the contract has it
            return f"lower({norm})" if col.allowed else norm
        if col.kind == "int":  # [.] rather than a backslash: Spark's SQL strings read escapes
            value = (f"CASE WHEN regexp_full_match({norm}, '[+-]?[0-9]+([.]0*)?') "
                     f"THEN TRY_CAST(regexp_replace({norm}, '[.]0*$', '') AS BIGINT) END")
        elif col.kind == "timestamp":
            value = read_timestamp(norm, target)
        elif col.kind == "date":
            value = read_date(norm)
        elif col.kind == "bool":
            value = read_bool(norm)
        else:
            value = f"TRY_CAST({norm} AS {target})"
    if col.kind == "float":
        value = f"(CASE WHEN isfinite({value}) THEN {value} END)"
    return value


TRUE_WORDS, FALSE_WORDS = ("是",), ("否",)  # as Chinese exports write yes / no


def read_bool(text: str) -> str:
    """SQL: a text as a boolean: what both engines' casts read alike (true/false, t/f, yes/no, y/n,
    1/0, any case), and 是 / 否."""
    yes, no = ", ".join(map(lit, TRUE_WORDS)), ", ".join(map(lit, FALSE_WORDS))
    return f"(CASE WHEN {text} IN ({yes}) THEN TRUE WHEN {text} IN ({no}) THEN FALSE " \
           f"ELSE TRY_CAST({text} AS BOOLEAN) END)"


def read_date(text: str) -> str:
    """SQL: a text as a date: YYYY-MM-DD (and what the cast reads besides), or 2026年1月23日."""
    return (f"(CASE WHEN strpos({text}, '年') > 0 THEN TRY_CAST({from_chinese_date(text)} AS DATE) "
            f"ELSE TRY_CAST({text} AS DATE) END)")


def empty_expr(col_sql: str, is_text: bool) -> str:
    """SQL for 'the field is empty' of a file value."""
    return f"NULLIF(TRIM({col_sql}), '') IS NULL" if is_text else f"{col_sql} IS NULL"


def projection(
    schema: FileSchema, table: Table, file_index: int, relation: str
) -> tuple[str, dict[str, bool]]:
    """SELECT of one file onto the contract: _file, _row, `_t_<col>` (the file's value) and each column typed.

    `relation` is the file as an engine reads it: its columns plus `_row`, the row's number in the file.

    Returns the SQL and, per column present in the file, whether its value is read as text.
    """
    values = [f"{file_index}::INTEGER AS _file", "_row::BIGINT AS _row"]  # the engine numbered the rows
    blank = blank_row(schema)
    if blank:  # a CSV row of empty fields (a spreadsheet's blank row): skipped, counted in a note
        relation = f"(SELECT * FROM {relation} WHERE NOT ({blank}))"
    typed = ["_file", "_row"]
    is_text: dict[str, bool] = {}
    for col in table.columns:
        if col.name not in schema.columns:
            typed.append(f"NULL::{DUCKDB_TYPES[col.kind]} AS {ident(col.name)}")
            continue
        file_col, duck_type = schema.columns[col.name]
        text = duck_type == "VARCHAR" or duck_type not in COMPATIBLE[col.kind]
        src = ident(file_col)
        if duck_type != "VARCHAR" and (text or col.kind == "str"):
            src = f"CAST({src} AS VARCHAR)"  # ids stored as numbers; optional columns of odd types
        is_text[col.name] = text
        value = ident("_t_" + col.name)
        values.append(f"{src} AS {value}")
        fractional = duck_type in FRACTIONAL_TYPES
        typed += [value, f"{typed_expr(col, value, text, fractional)} AS {ident(col.name)}"]
    return f"SELECT {', '.join(typed)} FROM (SELECT {', '.join(values)} FROM {relation})", is_text


def blank_row(schema: FileSchema) -> str:
    """SQL, true for a CSV row with no value in any of the contract's columns (`,,,,`: a blank row a
    spreadsheet left behind), which is skipped like a blank line; '' for Parquet. The contract's
    columns only: a column the engines name themselves (an empty header cell: DuckDB's column10, Spark's
    _c10) is not one to refer to."""
    if schema.source.fmt != "csv":
        return ""
    return " AND ".join(empty_expr(ident(file_col), True) for file_col, _ in schema.columns.values())


BLANK_ROWS = "*"  # zone_counts' key of a CSV's count of blank rows


def zone_counts(schema: FileSchema, table: Table, relation: str) -> tuple[list[tuple[str, int]], str]:
    """One aggregate over a file's own relation (read once, apart from the staged view that every
    later pass re-evaluates): per timestamp column of the contract, how many values were read without
    a zone of their own (timestamps.NO_ZONE) or as a date alone (DATE_ONLY), as platform time, and of
    a CSV how many rows were blank (`blank_row`: key (BLANK_ROWS, 0)).
    Returns the (column, kind) of each count, in order, and the SQL ('' when there is none)."""
    keys, sums = [], []
    if blank := blank_row(schema):
        keys.append((BLANK_ROWS, 0))
        sums.append(f"count(*) FILTER (WHERE {blank})")
    for col in table.columns:
        if col.kind != "timestamp" or col.name not in schema.columns:
            continue
        file_col, duck_type = schema.columns[col.name]
        if duck_type == "VARCHAR":
            text = f"TRIM({ident(file_col)})"
            kind = zone_kind_of_text(text, read_timestamp(text, DUCKDB_TYPES[col.kind]))
        else:
            kind = zone_kind_of_type(duck_type, ident(file_col))
        for k in (NO_ZONE, DATE_ONLY):
            keys.append((col.name, k))
            sums.append(f"count(*) FILTER (WHERE ({kind}) = {k})")
    return keys, (f"SELECT {', '.join(sums)} FROM {relation}" if sums else "")
