"""Quarantine rules as SQL: each check is a condition over one staged row plus a detail message.

A row gets one rule, the first that fails in RULE_ORDER (then in column order). Row checks look at
the row alone; lookups join the warehouse (foreign keys, campaign windows); duplicate_id_conflict
comes last, from the de-duplication in loader.py. Conditions are NULL-safe: NULL means "passes".
"""

from __future__ import annotations

from dataclasses import dataclass

from common.contract import RULES, TABLES, Column, ForeignKey, Table
from pipelines.ingest.readers import EXPECTED, empty_expr, ident, lit, typed_expr
from pipelines.ingest.timestamps import ambiguous_detail, ambiguous_zone, epoch_detail

RULE_ORDER: tuple[str, ...] = (
    "null_required",
    "bad_type",
    "bad_value",
    "non_positive_quantity",
    "negative_price",
    "future_timestamp",
    "closes_before_opens",
    "unknown_foreign_key",
    "ordered_outside_campaign",
    "duplicate_id_conflict",
)
assert set(RULE_ORDER) == set(RULES), "RULE_ORDER must list exactly the contract's RULES"

STAGE = "_stg"  # the staging view a lookup may refer to (this run's rows of the table)
RUN = "_run"  # one row: `cutoff`, the end of the run's date in the platform's zone
CUTOFF = f"(SELECT cutoff FROM {RUN})"
YEARS = (2000, 2100)  # a date or timestamp outside these years is a typo (0011-09-01), not data
MAX_ORDER_QUANTITY = 1_000_000  # units in one order line; more is a typo or a test row


@dataclass(frozen=True)
class Check:
    """A row rule: `condition` (SQL, true when broken) and `detail` (SQL text naming column and value)."""

    rule: str
    column: str
    condition: str
    detail: str


@dataclass(frozen=True)
class Lookup:
    """A rule that needs another table: `join` is a LEFT JOIN clause the condition can refer to.
    `probe` (SQL): for a key found nowhere, the value, which `leading_zero_hints` looks up once more
    with its leading zeros ignored; NULL otherwise."""

    rule: str
    column: str
    join: str
    condition: str
    detail: str
    probe: str = "NULL"


def shown(sql: str) -> str:
    """SQL text of a value as the detail shows it: quoted, or 'empty'."""
    return f"COALESCE('''' || CAST({sql} AS VARCHAR) || '''', 'empty')"


def message(column: str, expectation: str, value_sql: str) -> str:
    return f"{lit(f'column {column!r} must be {expectation}; got ')} || {shown(value_sql)}"


# --- checks every table gets from the contract, per file ------------------------------------------


def null_required(col: Column, is_text: bool) -> Check:
    value = ident("_t_" + col.name)
    return Check("null_required", col.name, empty_expr(value, is_text),
                 lit(f"column {col.name!r} is required; got an empty value"))


def bad_type(col: Column, is_text: bool) -> Check:
    value = ident("_t_" + col.name)
    condition = f"NOT ({empty_expr(value, is_text)}) AND {ident(col.name)} IS NULL"
    detail = message(col.name, EXPECTED[col.kind], value)
    if col.kind == "timestamp" and is_text:  # say why a zone like EST, or an epoch time, was not read
        text = f"TRIM({value})"
        detail = (f"CASE WHEN {ambiguous_zone(text)} THEN {ambiguous_detail(col.name, text)} "
                  f"{epoch_detail(col.name, text, col.kind)} ELSE {detail} END")
    elif col.kind == "date" and is_text:
        text = f"TRIM({value})"
        detail = f"CASE {epoch_detail(col.name, text, col.kind)} ELSE {detail} END"
    return Check("bad_type", col.name, condition, detail)


def plausible_year(col: Column) -> Check:
    """bad_value: a date or timestamp in the years YEARS (0011-09-01 is a typo, not history)."""
    low, high = YEARS
    value = ident(col.name)
    # bounds as constants of the column's type: year() of a zoned timestamp converts every value
    if col.kind == "date":
        bounds = f"DATE '{low}-01-01'", f"DATE '{high + 1}-01-01'"
    else:
        bounds = f"TIMESTAMPTZ '{low}-01-01 00:00:00+08:00'", f"TIMESTAMPTZ '{high + 1}-01-01 00:00:00+08:00'"
    return Check("bad_value", col.name, f"{value} < {bounds[0]} OR {value} >= {bounds[1]}",
                 message(col.name, f"a date in the years {low} to {high}", ident("_t_" + col.name)))


# a number as a spreadsheet shows it once a long id was read as one: 1.23E+11, 6.9E+15
SCIENTIFIC_NUMBER = r"[0-9](\.[0-9]+)?[eE]\+[0-9]+"  # the whole value


def spreadsheet_mangled_id(col: Column) -> Check:
    """bad_value: an id that a spreadsheet turned into a number in scientific notation. Its digits are
    gone, so every id of the same shape reads as one (39 products of 40 became `1.23E+11`, and their
    orders all pointed at the one kept): never loaded as an id of its own."""
    text = f"TRIM(CAST({ident('_t_' + col.name)} AS VARCHAR))"
    said = lit(f"column {col.name!r} must be an id as the source system wrote it; got ")
    why = lit(", a number a spreadsheet reformatted (its digits are lost): format the column as text "
              "and export again")
    return Check("bad_value", col.name, f"regexp_full_match({text}, {lit(SCIENTIFIC_NUMBER)})",
                 f"{said} || {shown(text)} || {why}")


CONTROL_CHARACTER = r"\p{Cc}"  # NUL, tab, a line break, DEL, ... (RE2 on DuckDB, Java's regex on Spark)


def control_character_id(col: Column) -> Check:
    """bad_value: an id with a control character in it (a NUL from a C export, a tab or a line break
    pasted into a cell). It would load as an id no other file spells, so every row pointing at it went
    to quarantine as an unknown key while the row itself loaded; the detail marks each one with �."""
    text = f"CAST({ident(col.name)} AS VARCHAR)"
    said = lit(f"column {col.name!r} must be an id without control characters (NUL, tab, line break); got ")
    marked = f"regexp_replace({text}, {lit(CONTROL_CHARACTER)}, '\ufffd', 'g')"
    return Check("bad_value", col.name, f"regexp_matches({text}, {lit(CONTROL_CHARACTER)})",
                 f"{said} || {shown(marked)} || {lit(' (each � marks one)')}")


def is_id(table: Table, col: Column) -> bool:
    """A column holding ids (`*_id`, or a reference to another table's key such as invited_by); not
    every key column is one (feedback's `action` has accepted values of its own)."""
    return col.kind == "str" and (col.name.endswith("_id")
                                  or any(fk.column == col.name for fk in table.foreign_keys))


TOTALS = "(合计|总计|小计|合計|總計|小計|[Tt]otals?|TOTALS?|[Gg]rand [Tt]otal|GRAND TOTAL)[:：]?"


def totals_row_detail(check: str, columns: list[str]) -> str:
    """SQL: the detail of the row's failing check (`check`, its struct), and when a field of the row
    says 合计 / 总计 / Total (a spreadsheet's totals row under the data) that it looks like one. The
    row stays quarantined (a sum is not an order); the test runs on failing rows only."""
    said = " OR ".join(f"regexp_full_match(TRIM(CAST({ident('_t_' + c)} AS VARCHAR)), {lit(TOTALS)})"
                       for c in columns)
    if not said:
        return f"{check}.detail"
    hint = lit(" (the row looks like a totals row, 合计 / Total, that a spreadsheet adds under the data: "
               "leave it out of the export)")
    return f"CASE WHEN {check} IS NOT NULL AND ({said}) THEN {check}.detail || {hint} ELSE {check}.detail END"


# --- checks a staging function picks ---------------------------------------------------------------


def accepted(table: str, column: str) -> Check:
    """bad_value: the column's value is one of the contract's accepted values."""
    allowed = TABLES[table].column(column).allowed
    assert allowed, f"{table}.{column} has no accepted values in the contract"
    values = ", ".join(lit(v) for v in allowed)
    return Check("bad_value", column, f"{ident(column)} NOT IN ({values})",
                 message(column, f"one of {', '.join(allowed)}", ident(column)))


def positive(column: str) -> Check:
    return Check("non_positive_quantity", column, f"{ident(column)} <= 0",
                 message(column, "an integer > 0", ident(column)))


def at_most(column: str, bound: int, unit: str) -> Check:
    """bad_value: a count above a sane bound (a typo, a test row), named in the detail."""
    return Check("bad_value", column, f"{ident(column)} > {bound}",
                 message(column, f"at most {bound:,} ({unit})", ident(column)))


def not_before(column: str, start: str) -> Check:
    """bad_value: an end that lies before its start (a member who left before joining)."""
    return Check("bad_value", column, f"{ident(column)} < {ident(start)}",
                 f"{lit(f'column {column!r} must not be before {start} ')} || CAST({ident(start)} AS VARCHAR)"
                 f" || {lit('; got ')} || {shown(ident(column))}")


def as_written(number_sql: str) -> str:
    """SQL text of a price as its file wrote it: -3, not the -3.0 of the double it was read into."""
    return (f"CASE WHEN {number_sql} = floor({number_sql}) AND abs({number_sql}) < 1e15 "
            f"THEN CAST(CAST({number_sql} AS BIGINT) AS VARCHAR) ELSE CAST({number_sql} AS VARCHAR) END")


def non_negative(column: str) -> Check:
    return Check("negative_price", column, f"{ident(column)} < 0",
                 message(column, ">= 0", as_written(ident(column))))


def not_after_run(column: str, unless: str | None = None) -> Check:
    """future_timestamp: an event cannot lie after the end of the run's date (`unless` a staged
    boolean column says why this row's may: orders' `_later`, `changed_after_run`)."""
    where = f"{ident(column)} >= {CUTOFF}" + (f" AND NOT {unless}" if unless else "")
    return Check("future_timestamp", column, where,
                 f"{lit(f'column {column!r} must be before ')} || CAST({CUTOFF} AS VARCHAR) || "
                 f"{lit(' (end of the run date); got ')} || {shown(ident(column))}")


def changed_after_run() -> str:
    """orders: a line placed by the end of the run's date whose cancellation or refund came only after
    it. As it stood at the end of the run's date it was paid; a run on a later date records the change
    (an update of the stored line, as for any status change)."""
    return (f"(\"status\" IN ('cancelled', 'refunded') AND \"status_at\" >= {CUTOFF} "
            f"AND \"ordered_at\" < {CUTOFF})")


def closes_after_opens() -> Check:
    return Check("closes_before_opens", "closes_at", '"closes_at" <= "opens_at"',
                 "'column ''closes_at'' must be after opens_at ' || CAST(\"opens_at\" AS VARCHAR)"
                 " || '; got ' || " + shown('"closes_at"'))


# --- lookups ----------------------------------------------------------------------------------------


def unchecked_when_empty(table: Table, fk: ForeignKey) -> bool:
    """A key into an optional table (groups.shopkeeper_id, orders.campaign_id, posts.campaign_id) is
    checked only once that table has rows: data without campaigns or shopkeepers is valid, and its
    values are kept as given. A self-reference (shopkeepers.invited_by) is always checked."""
    return not TABLES[fk.table].required and fk.table != table.name


def foreign_key(table: Table, fk: ForeignKey, index: int) -> Lookup:
    """unknown_foreign_key against the warehouse (which already holds this run's parents).

    A self-reference also accepts this run's valid rows; a key into an optional table is checked
    only when that table has rows (`unchecked_when_empty`).
    """
    alias = f"_fk{index}"
    target = f"SELECT {ident(fk.target)} AS k FROM {ident(fk.table)}"  # unique: loading keeps keys unique
    if fk.table == table.name:
        target += f" UNION SELECT {ident(fk.target)} FROM {STAGE} WHERE _rule IS NULL"
    condition = f"s.{ident(fk.column)} IS NOT NULL AND {alias}.k IS NULL"
    if unchecked_when_empty(table, fk):
        condition += f" AND EXISTS (SELECT 1 FROM {ident(fk.table)})"
    found = f"LEFT JOIN ({target}) AS {alias} ON s.{ident(fk.column)} = {alias}.k"
    return Lookup("unknown_foreign_key", fk.column, f"{found} {quarantined_parent(fk, alias + 'q')}",
                  condition, foreign_key_detail(fk, alias + "q"),
                  probe=f"CASE WHEN {alias}q.k IS NULL THEN s.{ident(fk.column)} END")


def quarantined_parent(fk: ForeignKey, alias: str) -> str:
    """LEFT JOIN `alias`: where the referenced key was itself quarantined (first entry by file and
    row; this run's parents are quarantined before their children are checked)."""
    text = f"json_extract_string(q.raw, {lit('$.' + fk.target)})"
    key = typed_expr(TABLES[fk.table].column(fk.target), text, True)
    entries = (f"SELECT {key} AS k, q.source_file AS qfile, q.row_number AS qrow, q.rule AS qrule, "
               f"q.detail AS qdetail FROM quarantine AS q WHERE q.table_name = {lit(fk.table)}")
    first = ("SELECT k, qfile, qrow, qrule, qdetail FROM (" + entries + ") WHERE k IS NOT NULL "
             "QUALIFY row_number() OVER (PARTITION BY k ORDER BY qfile, qrow) = 1")
    return f"LEFT JOIN ({first}) AS {alias} ON s.{ident(fk.column)} = {alias}.k"


def foreign_key_detail(fk: ForeignKey, quarantined: str) -> str:
    """SQL text: the key not found; when its parent row was quarantined, where and why."""
    value = shown("s." + ident(fk.column))
    missing = (f"{lit(f'column {fk.column!r}: ')} || {value} || "
               f"{lit(f' not found in {fk.table}.{fk.target}; expected a known id')}")
    q = quarantined
    parked = (f"{lit(f'column {fk.column!r}: ')} || {value} || ' is in ' || {q}.qfile || "
              f"' but was quarantined there (row ' || CAST({q}.qrow AS VARCHAR) || ', ' || {q}.qrule || "
              f"': ' || {q}.qdetail || {lit(f'); fix that row of {fk.table} and ingest again')}")
    return f"CASE WHEN {q}.k IS NOT NULL THEN {parked} ELSE {missing} END"


def without_leading_zeros(sql: str) -> str:
    """SQL: a text id with its leading zeros removed ('000196' and '196' alike); no backslash, so that
    both engines read the pattern alike."""
    return f"regexp_replace({sql}, '^0+', '')"


ZEROS_LOST = ("leading zeros lost? keep ids as text (a spreadsheet or a number column drops them: format "
              "the column as Text in Excel, write it as a string in Parquet)")


def leading_zero_hints(table: Table, bad: str) -> tuple[str, str]:
    """For the rows of `bad` (with `_lcol`, `_lprobe`: the key column and the value a foreign key found
    nowhere) a JOIN clause and the WHEN branches of a CASE giving the detail that says so when the
    value is a parent key once leading zeros are ignored: `'196' not found in products.product_id,
    which has '000196'`. The parent's keys are its loaded rows and, failing those, its quarantined
    entries (a products.csv that lost its zeros was quarantined itself). Run over the quarantined
    rows only, never the whole staged table."""
    joins, whens = [], []
    for i, fk in enumerate(table.foreign_keys):
        alias, value = f"_z{i}", f"{bad}._lprobe"
        text = f"json_extract_string(q.raw, {lit('$.' + fk.target)})"
        keys = (f"SELECT {ident(fk.target)} AS k, 0 AS _q FROM {ident(fk.table)} UNION ALL "
                f"SELECT {typed_expr(TABLES[fk.table].column(fk.target), text, True)} AS k, 1 AS _q "
                f"FROM quarantine AS q WHERE q.table_name = {lit(fk.table)}")
        parents = (f"SELECT {without_leading_zeros('k')} AS z, min(CASE WHEN _q = 0 THEN k END) AS k, "
                   f"min(CASE WHEN _q = 1 THEN k END) AS qk FROM ({keys}) WHERE k IS NOT NULL GROUP BY 1")
        joins.append(f"LEFT JOIN ({parents}) AS {alias} ON {bad}._lcol = {lit(fk.column)} "
                     f"AND {without_leading_zeros(value)} = {alias}.z")
        said = (f"{lit(f'column {fk.column!r}: ')} || {shown(value)} || "
                f"{lit(f' not found in {fk.table}.{fk.target}')}")
        loaded = f"{said} || ', which has ' || {shown(alias + '.k')} || {lit('; ' + ZEROS_LOST)}"
        parked = (f"{said} || {lit(f'; {fk.table} has ')} || {shown(alias + '.qk')} || "
                  f"{lit(', itself quarantined (see its entry); ' + ZEROS_LOST)}")
        whens.append(f"WHEN {alias}.k IS NOT NULL THEN {loaded} WHEN {alias}.qk IS NOT NULL THEN {parked}")
    return " ".join(joins), " ".join(whens)


def unchecked_optional_keys(table: str) -> tuple[ForeignKey, ...]:
    """Optional keys that go unchecked while their table has no rows (orders.campaign_id,
    posts.campaign_id): the rows that carry one are counted in the report's warnings."""
    t = TABLES[table]
    return tuple(fk for fk in t.foreign_keys if fk.optional and unchecked_when_empty(t, fk))


def foreign_keys(table: str) -> tuple[Lookup, ...]:
    t = TABLES[table]
    return tuple(foreign_key(t, fk, i) for i, fk in enumerate(t.foreign_keys))


def within_campaign() -> Lookup:
    """ordered_outside_campaign: an order with a campaign lies in [opens_at, closes_at]."""
    return Lookup(
        "ordered_outside_campaign", "ordered_at",
        'LEFT JOIN campaigns AS _cw ON s."campaign_id" = _cw."campaign_id"',
        's."ordered_at" < _cw."opens_at" OR s."ordered_at" > _cw."closes_at"',
        "'column ''ordered_at'' must lie in campaign ' || s.\"campaign_id\" || '''s window ' || "
        "CAST(_cw.\"opens_at\" AS VARCHAR) || ' .. ' || CAST(_cw.\"closes_at\" AS VARCHAR) || "
        "'; got ' || " + shown('s."ordered_at"'),
    )


def first_failing(checks: list[Check] | list[Lookup], probes: bool = False) -> str:
    """CASE returning {rule, detail} of the first failing check in RULE_ORDER, else NULL. `probes`
    (lookups): also `key_column` and `probe`, the column checked and the value a key found nowhere."""
    ordered = sorted(checks, key=lambda c: RULE_ORDER.index(c.rule))  # stable: column order kept
    if not ordered:
        return "NULL::STRUCT(rule VARCHAR, detail VARCHAR)"

    def fields(c: Check | Lookup) -> str:
        more = (f", 'key_column': {lit(c.column)}, 'probe': CAST({getattr(c, 'probe', 'NULL')} AS VARCHAR)"
                if probes else "")
        return f"{{'rule': {lit(c.rule)}, 'detail': {c.detail}{more}}}"

    whens = " ".join(f"WHEN ({c.condition}) THEN {fields(c)}" for c in ordered)
    return f"CASE {whens} END"
