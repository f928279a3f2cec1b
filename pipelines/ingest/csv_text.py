"""CSV files as text, before an engine reads them: empty files, the encoding, and why one does not parse.

Every CSV is streamed once in blocks (never row by row): a file with no text is empty; UTF-8 is read
as it is; a file that is not UTF-8 but is GB18030 (a superset of GBK: what Excel saves in a Chinese
locale) is decoded into a UTF-8 copy for the engines to read. When an engine cannot parse a CSV,
`csv_problem` reads it again with Python's csv module (the same dialect: comma, double quote, `""`
inside quotes) to name the line and what is wrong: DuckDB's sniffer says only that it failed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

BLOCK = 1 << 22  # bytes per read: the check is bounded in memory whatever the file's size
BLANK = b" \t\r\n\xef\xbb\xbf"  # whitespace and the UTF-8 byte order mark


def open_bytes(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115


def open_text(path: Path) -> IO[str]:
    """A UTF-8 CSV as text for the csv module (a byte order mark dropped, line ends kept)."""
    return io.TextIOWrapper(open_bytes(path), encoding="utf-8-sig", newline="")


@dataclass(frozen=True)
class TextCheck:
    """What streaming a CSV found: any text at all, and the first byte that is not UTF-8 (if any)."""

    empty: bool
    bad_line: int | None = None  # 1-based line of the first byte sequence that is not UTF-8
    bad_bytes: bytes = b""


def check_text(path: Path) -> TextCheck:
    """Stream the file once: is there any text, and is it UTF-8 throughout?"""
    decoder = codecs.getincrementaldecoder("utf-8")()
    empty, lines = True, 0
    with open_bytes(path) as f:
        while block := f.read(BLOCK):
            empty = empty and not block.strip(BLANK)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + block.count(b"\n", 0, exc.start) + 1
                return TextCheck(empty=False, bad_line=line, bad_bytes=block[exc.start:exc.start + 4])
            lines += block.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a multi-byte character
            return TextCheck(empty=False, bad_line=lines + 1, bad_bytes=b"")
    return TextCheck(empty=empty)


def gb18030_to_utf8(path: Path, out: Path) -> bool:
    """Write the file decoded as GB18030 into `out` as UTF-8; False (nothing left at `out`) when it
    is not GB18030 either."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    try:
        with open_bytes(path) as src, open(out, "w", encoding="utf-8", newline="") as dst:
            while block := src.read(BLOCK):
                dst.write(decoder.decode(block))
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        return False
    return True


@contextmanager
def _no_field_limit() -> Iterator[None]:
    """A runaway quote makes one huge field: let the reader reach the end and say so."""
    before = csv.field_size_limit()
    csv.field_size_limit((1 << 31) - 1)
    try:
        yield
    finally:
        csv.field_size_limit(before)


def explain(error: csv.Error) -> str:
    text = str(error)
    if "unexpected end of data" in text:
        return 'a quoted field opens here and is never closed (a missing closing ")'
    if "expected after" in text:
        return ('a closing " is followed by more text; expected a comma or the end of the line '
                '(write a " inside a quoted field as "")')
    return text


def csv_header(path: Path) -> list[str]:
    """The header line's column names as written (empty when the file cannot be read so)."""
    try:
        with _no_field_limit(), open_text(path) as f:
            return next(csv.reader(f), [])
    except (csv.Error, OSError, UnicodeDecodeError):
        return []  # the engine's read says what is wrong


def csv_problem(path: Path) -> str | None:
    """The first line that breaks the CSV dialect (fields not as many as the header's, a quote never
    closed, ...), in words; None when Python's reader finds nothing wrong. Blank lines are skipped,
    as the engines skip them, so `data row` counts as quarantine's row_number does."""
    with _no_field_limit(), open_text(path) as f:
        reader = csv.reader(f, strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            return f"line 1 (the header): {explain(exc)}"
        if not header:
            return "the first line is blank; expected the header line naming the columns"
        row = 0
        while True:
            start = reader.line_num + 1
            try:
                fields = next(reader, None)
            except csv.Error as exc:
                return f"line {start}: {explain(exc)}"
            if fields is None:
                return None
            if not fields:
                continue
            row += 1
            if len(fields) != len(header):
                found = f"{len(fields)} field" + ("" if len(fields) == 1 else "s")
                return (f"line {start} (data row {row}) has {found}; expected {len(header)}, as many "
                        "as the header line names")
