"""How a timestamp written as text is read: the zone rules, as SQL over the trimmed text.

- No zone: platform time (Asia/Shanghai, +08:00), the contract's default; the run warns how many
  values of a file and column were read so (`zone_note`), and separately for dates without a time.
- `CST` is China Standard Time, +08:00 (what Java's Date.toString, Linux `date` and polars print on
  this platform), never US Central as DuckDB and Spark would read it.
- A space before a numeric offset (`09:03:00 +08`, `09:03:00 +08:00`) is dropped, so `+08`, `+0800`
  and `+08:00` read alike with or without it.
- `GMT+8`, `UTC+08:00` (a word, then an offset, as Chinese exports write China time) read as the
  offset they name: `+08:00`.
- `UTC`, `GMT`, `Z`, offsets and zone names (`Asia/Shanghai`) are unambiguous and read as written;
  any other letters after the time (`EST`, `PST`, `IST`, `BST`, ...) name no single zone, so the
  value is not read (a row-level `bad_type` whose detail says which zones are accepted).
- A Chinese date, `2026年3月15日` (with a time or without: `2026年3月15日 14:32`), is unambiguous and
  read as 2026-3-15 (14:32); in date columns too.
- A number of 10 or 13 digits is not read (epoch seconds or milliseconds; a Parquet integer column is
  not read either): its `bad_type` detail says what it looks like and what to write.

Every pattern is written once here, without backslashes, so that the engines' SQL (DuckDB's RE2,
Spark's Java regex after transpiling) reads it alike.
"""

from __future__ import annotations

from common.clock import PLATFORM_TZ

PLATFORM = f"{PLATFORM_TZ}, +08:00"
UNAMBIGUOUS_WORDS = ("UTC", "GMT", "UT", "CST")  # CST: China Standard Time here
NOT_ZONES = ("AM", "PM")  # a 12-hour clock: not read, but not a zone either
ACCEPTED_ZONES = ("an offset (+08:00, +0800, +08), UTC, GMT, Z, CST (China, +08:00) "
                  "or a zone name (Asia/Shanghai)")

_CST = "'.*[0-9] *[Cc][Ss][Tt]'"
_WORD = "'(GMT|UTC|[Gg][Mm][Tt]|[Uu][Tt][Cc])'"
_WORD_OFFSET = "'.*[0-9] *(GMT|UTC|[Gg][Mm][Tt]|[Uu][Tt][Cc]) *[+-][0-9]{1,2}(:?[0-9]{2})?'"
_SPACED_PLUS = "'.*[0-9] +[+][0-9]{2}(:?[0-9]{2})?'"
_SPACED_MINUS = "'.*[0-9] +-[0-9]{2}(:?[0-9]{2})?'"
_TRAILING_WORD = "'.*[0-9] *[A-Za-z]{2,5}'"
# a time (H:MM, optionally :SS and a fraction), then an offset or a zone word / name
_HAS_ZONE = "'.*[0-9]:[0-9]{2}[:.,0-9]* *([+-][0-9]{1,2}(:?[0-9]{2})?|[A-Za-z].*)'"
_HAS_TIME = "'.*[0-9]:[0-9].*'"


def trailing_word(text: str) -> str:
    """SQL: the letters the text ends with, upper-cased ('' when it ends otherwise)."""
    return f"upper(regexp_extract({text}, '([A-Za-z]+)$', 1))"


def ambiguous_zone(text: str) -> str:
    """SQL, true when the text ends, after the time, in a zone abbreviation that names no single zone.
    Matches only (no regexp_extract): DuckDB keeps a column whose expression may raise (as
    regexp_extract may) even where no query reads it, and every pass over the staged view paid it."""
    allowed = "|".join((*UNAMBIGUOUS_WORDS, *NOT_ZONES))
    return (f"(regexp_full_match({text}, {_TRAILING_WORD}) "
            f"AND NOT regexp_full_match(upper({text}), '.*[0-9] *({allowed})'))")


def normalized(text: str) -> str:
    """SQL: the text as the engines should read it (CST -> +08:00, no space before an offset)."""
    return (
        f"CASE WHEN regexp_full_match({text}, {_WORD_OFFSET}) THEN {_offset_of_word(text)} "
        f"WHEN regexp_full_match({text}, {_CST}) "
        f"THEN rtrim(left({text}, length({text}) - 3)) || '+08:00' "
        f"WHEN regexp_full_match({text}, {_SPACED_PLUS}) THEN regexp_replace({text}, ' +[+]', '+') "
        f"WHEN regexp_full_match({text}, {_SPACED_MINUS}) THEN regexp_replace({text}, ' +-', '-') "
        f"ELSE {text} END"
    )


def _offset_of_word(text: str) -> str:
    """SQL for `... 09:27:48 GMT+8`: the word and the spaces around it dropped, a one-digit hour padded
    (`09:27:48+08`, `09:27:48+08:00`), as every engine reads an offset."""
    bare = f"regexp_replace({text}, ' *' || {_WORD} || ' *', '')"
    return (f"(CASE WHEN regexp_full_match({bare}, '.*[+-][0-9]') "
            f"THEN left({bare}, length({bare}) - 1) || '0' || right({bare}, 1) "
            f"WHEN regexp_full_match({bare}, '.*[+-][0-9]:[0-9]{{2}}') "
            f"THEN left({bare}, length({bare}) - 4) || '0' || right({bare}, 4) ELSE {bare} END)")


def plain(text: str) -> str:
    """SQL, true for the common case that needs none of the zone rules (no regular expression: it is
    evaluated on every value, and the rules' expressions made a CSV ingest 2.4x slower): the text
    ends in a digit (no zone word), has no space before a sign (no spaced offset) and no GMT / UTC
    before an offset."""
    return (f"(right({text}, 1) BETWEEN '0' AND '9' AND strpos({text}, ' +') = 0 "
            f"AND strpos({text}, ' -') = 0 AND strpos(upper({text}), 'GMT') = 0 "
            f"AND strpos(upper({text}), 'UTC') = 0)")


def from_chinese_date(text: str) -> str:
    """SQL: a date written the Chinese way as the engines read one: `2026年3月15日 14:32` ->
    `2026-3-15 14:32`, `2026年1月23日` -> `2026-1-23` (replace, not a pattern with group references,
    which the engines write differently)."""
    dashed = f"replace(replace({text}, '年', '-'), '月', '-')"
    return f"trim(replace(replace({dashed}, '日 ', ' '), '日', ' '))"


def read_timestamp(text: str, target: str) -> str:
    """SQL: the trimmed text as a timestamp of type `target`; NULL when it cannot be read or its zone
    is ambiguous. A Chinese date (年月日) is read without the zone rules: platform time, or an offset
    as the cast reads it."""
    return (f"(CASE WHEN strpos({text}, '年') > 0 THEN TRY_CAST({from_chinese_date(text)} AS {target}) "
            f"WHEN {plain(text)} THEN TRY_CAST({text} AS {target}) "
            f"WHEN NOT {ambiguous_zone(text)} THEN TRY_CAST({normalized(text)} AS {target}) END)")


EPOCHS = (("[0-9]{10}", "seconds"), ("[0-9]{13}", "milliseconds"))


def epoch_detail(column: str, text: str, kind: str) -> str:
    """SQL: CASE branches (WHEN ... THEN ...) for a value of 10 or 13 digits, which looks like an epoch
    time (Unix seconds or milliseconds): said so, with the form to write. Not read: which epoch, unit
    and zone a number means is a guess, as for a Parquet integer column (fatal)."""
    quote = "''"  # a single quote inside the SQL string
    form = "YYYY-MM-DD HH:MM:SS (+08:00 optional)" if kind == "timestamp" else "YYYY-MM-DD"
    return " ".join(
        f"WHEN regexp_full_match({text}, '{pattern}') THEN 'column {quote}{column}{quote} must be a "
        f"{'timestamp' if kind == 'timestamp' else 'date'}; got {quote}' || {text} || '{quote}, which "
        f"looks like epoch {unit} (a Unix time): write it as {form}'"
        for pattern, unit in EPOCHS)


# what a value carried, for the warnings: 1 no zone (platform time assumed), 2 a date without a time
NO_ZONE, DATE_ONLY = 1, 2


def zone_kind_of_text(text: str, value: str) -> str:
    """SQL: NO_ZONE / DATE_ONLY for a text value read as `value` without a zone of its own, else NULL."""
    after_date = f"substr({text}, 11)"  # a plain text's offset can only follow the date
    offset = f"(strpos({after_date}, '+') > 0 OR strpos({after_date}, '-') > 0)"
    # the zoned values first (most of a zoned file), so that only the others pay the cast in `value`
    return (f"CASE WHEN {plain(text)} AND {offset} THEN NULL WHEN {value} IS NULL THEN NULL "
            f"WHEN {plain(text)} THEN "
            f"(CASE WHEN strpos({text}, ':') > 0 THEN {NO_ZONE} ELSE {DATE_ONLY} END) "
            f"WHEN regexp_full_match({text}, {_HAS_ZONE}) THEN NULL "
            f"WHEN regexp_full_match({text}, {_HAS_TIME}) THEN {NO_ZONE} ELSE {DATE_ONLY} END")


def zone_kind_of_type(duck_type: str, value: str) -> str:
    """SQL: NO_ZONE / DATE_ONLY for a typed (Parquet) value: a naive TIMESTAMP or a DATE."""
    if duck_type == "DATE":
        return f"CASE WHEN {value} IS NOT NULL THEN {DATE_ONLY} END"
    if duck_type.startswith("TIMESTAMP") and duck_type != "TIMESTAMP WITH TIME ZONE":
        return f"CASE WHEN {value} IS NOT NULL THEN {NO_ZONE} END"
    return "NULL"


def zone_note(where: str, column: str, kind: int, count: int) -> str:
    """The warning for `count` values of one column (of one file, or several: `where`) read as
    platform time."""
    values = f"{count:,} value is" if count == 1 else f"{count:,} values are"
    if kind == DATE_ONLY:
        what = "a date without a time; read as 00:00 platform time" if count == 1 else \
            "dates without a time; read as 00:00 platform time"
    else:
        what = "without a time zone; read as platform time"
    return f"{where} column {column}: {values} {what} ({PLATFORM}); write an offset (+08:00) to be explicit"


def ambiguous_detail(column: str, text: str) -> str:
    """SQL text for a value whose zone is an ambiguous abbreviation."""
    return (f"'column ''{column}'': zone ''' || {trailing_word(text)} || ''' is ambiguous (abbreviations "
            f"name several zones); expected a timestamp YYYY-MM-DD HH:MM:SS with {ACCEPTED_ZONES}; got ''' "
            f"|| {text} || ''''")
