"""CSV files as text, before an engine reads them: empty files, the encoding, and why one does not parse.

Every CSV is streamed once in blocks (never row by row): a file with no text is empty; UTF-8 is read
as it is; a file that is not UTF-8 but is GB18030 (a superset of GBK: what Excel saves in a Chinese
locale) is decoded into a UTF-8 copy for the engines to read, unless the decoded text says it was not
GB18030 (private-use characters, mostly rare ones: a Big5 file from Taiwan or Hong Kong decodes as
GB18030 without an error, into nonsense), and an encoding the check can name (UTF-16, Big5, a file
that turns from UTF-8 to GBK part-way) is named in the error. When an engine cannot parse a CSV,
`csv_problem` reads it again with Python's csv module (the same dialect: comma, double quote, `""`
inside quotes) to name the line and what is wrong: DuckDB's sniffer says only that it failed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import re
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


UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")  # what Excel's "Unicode Text" starts with (little-endian: ff fe)
# a Chinese character in UTF-8 (U+4E00..U+9FFF: lead e4..e9, two continuation bytes); GBK bytes seldom
# form one, two of them in the lines before the first byte that is not UTF-8 say those lines are UTF-8
UTF8_HAN = re.compile(rb"[\xe4-\xe9][\x80-\xbf]{2}")
UTF8_HAN_BEFORE = 2


@dataclass(frozen=True)
class TextCheck:
    """What streaming a CSV found: any text at all, and the first byte that is not UTF-8 (if any)."""

    empty: bool
    bad_line: int | None = None  # 1-based line of the first byte sequence that is not UTF-8
    bad_bytes: bytes = b""
    bad_line_at: int = 0  # byte offset where that line starts
    utf8_before: bool = False  # the lines before it hold Chinese written in UTF-8 (UTF8_HAN_BEFORE)
    head: bytes = b""  # the file's first bytes (a UTF-16 byte order mark?)

    @property
    def utf16(self) -> str | None:
        """'little-endian' / 'big-endian' when the file starts with a UTF-16 byte order mark."""
        if self.head.startswith(UTF16_BOMS[0]):
            return "little-endian"
        return "big-endian" if self.head.startswith(UTF16_BOMS[1]) else None


def check_text(path: Path) -> TextCheck:
    """Stream the file once: is there any text, and is it UTF-8 throughout? Where it is not, the line,
    where that line starts, and whether the lines before it were UTF-8 Chinese text (not ASCII only):
    a file that turns from UTF-8 into another encoding part-way."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    empty, lines, offset, han, head = True, 0, 0, 0, b""
    with open_bytes(path) as f:
        while block := f.read(BLOCK):
            head = head or block[:4]
            empty = empty and not block.strip(BLANK)
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                line = lines + block.count(b"\n", 0, exc.start) + 1
                start = block.rfind(b"\n", 0, exc.start) + 1  # 0: the line began in an earlier block
                han += _utf8_han(block[:start], han)
                return TextCheck(empty=False, bad_line=line, bad_bytes=block[exc.start:exc.start + 4],
                                 bad_line_at=offset + start, utf8_before=han >= UTF8_HAN_BEFORE, head=head)
            han += _utf8_han(block, han)
            lines += block.count(b"\n")
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:  # the file ends inside a multi-byte character
            return TextCheck(empty=False, bad_line=lines + 1, bad_bytes=b"", head=head)
    return TextCheck(empty=empty, head=head)


def _utf8_han(block: bytes, found: int) -> int:
    """How many more UTF-8 Chinese characters the block holds, counting to UTF8_HAN_BEFORE at most
    (a search that stops early, never a pass over every character)."""
    more = 0
    for _ in UTF8_HAN.finditer(block):
        more += 1
        if found + more >= UTF8_HAN_BEFORE:
            break
    return more


PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
HAN_RUNS = re.compile("[\u4e00-\u9fff]+")


@dataclass
class Decoded:
    """What decoding a file as GB18030 gave: characters in the Private Use Area (U+E000..U+F8FF, which
    no text means: GB18030 gives them to byte pairs its tables leave unassigned, as Big5 punctuation and
    many Big5 characters are), Chinese characters, and of those the rare ones (outside GB2312, the
    6,763 common characters that simplified Chinese text is made of)."""

    private_use: int = 0
    han: int = 0
    rare: int = 0

    def add(self, text: str) -> None:
        self.private_use += len(PRIVATE_USE.findall(text))
        han = "".join(HAN_RUNS.findall(text))
        self.han += len(han)
        self.rare += han.encode("gb2312", errors="replace").count(b"?")

    @property
    def private_use_share(self) -> bool:
        """1% or more private-use characters among the Chinese ones: not GB18030 text (a stray one,
        a shop's own glyph in a GBK user-defined area, is not enough)."""
        return self.private_use > 0 and 100 * self.private_use >= self.han + self.private_use

    @property
    def implausible(self) -> bool:
        """Not GB18030 text, by the look of it: `private_use_share`, or rare characters half or more of
        10 or more (GBK text from a Chinese locale is nearly all common characters; Big5 read as
        GB18030 is mostly rare ones and private use)."""
        return self.private_use_share or (self.han >= 10 and 2 * self.rare >= self.han)


def gb18030_to_utf8(path: Path, out: Path, start: int = 0) -> Decoded | None:
    """Write the file (from byte `start`) decoded as GB18030 into `out` as UTF-8, and what the text
    held (`Decoded`); None (nothing left at `out`) when it is not GB18030 either."""
    decoder = codecs.getincrementaldecoder("gb18030")()
    found = Decoded()
    try:
        with open_bytes(path) as src, open(out, "w", encoding="utf-8", newline="") as dst:
            if start:
                src.seek(start)
            while block := src.read(BLOCK):
                text = decoder.decode(block)
                found.add(text)
                dst.write(text)
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        out.unlink(missing_ok=True)
        return None
    return found


BIG5 = ("cp950", "big5hkscs")  # Big5 as Windows writes it (Taiwan), and Hong Kong's


def big5_decodes(path: Path) -> bool:
    """True when the file decodes as Big5 without an error and without private-use characters (its
    user-defined area): the encoding to name when GB18030 gave nonsense."""
    for encoding in BIG5:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with open_bytes(path) as src:
                while block := src.read(BLOCK):
                    if PRIVATE_USE.search(decoder.decode(block)):
                        break
                else:
                    decoder.decode(b"", final=True)
                    return True
        except UnicodeDecodeError:
            continue
    return False


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
