"""Read canonical mention files (JSONL or CSV) as Arrow batches of (line_no, doc, problem).

Streaming in bounded memory: a batch holds at most `batch_lines` lines and
`batch_bytes` bytes of documents, and no line longer than `max_line_bytes` is
ever read whole (the rest of it is skipped in chunks). Parsing and validation
happen in DuckDB (`listener.ingest.loader`); what only the reader can see (bad UTF-8,
an over-long line, broken CSV quoting) is handed over as the line's `problem`,
so every bad row is reported with its line number and every good row is kept.
"""

from __future__ import annotations

import csv
import json
import re
import stat
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from listener.core.errors import ImportFormatError
from listener.core.models import AUTHOR_FIELDS, CANONICAL_FIELDS, METRIC_FIELDS
from listener.ingest.loader import READER_SCHEMA

BATCH_LINES = 250_000
# Documents per batch. An import holds a few batches at once, several times over (Python
# strings, Arrow, DuckDB's parse): about 7 MB of memory per MB here, on top of what DuckDB
# keeps of the data written. Smaller batches cost load speed (each one is a merge); 16 MB is
# still ~50,000 tweet-sized mentions.
BATCH_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 1024 * 1024  # a longer line (a CSV row: all its lines) is rejected unread
_SKIP_CHUNK = 1024 * 1024
_SNIFF_BYTES = 4096

_OBJECTS = {"author": AUTHOR_FIELDS, "metrics": METRIC_FIELDS}  # dotted columns in CSV: author.id, ...
_TOP_LEVEL = tuple(f for f in CANONICAL_FIELDS if f not in _OBJECTS)
_INT_FIELDS = {
    "author.followers",
    "author.following",
    "metrics.likes",
    "metrics.reposts",
    "metrics.replies",
    "metrics.quotes",
    "metrics.score",
}
_BOOL_FIELDS = {"author.verified"}
_TRUE, _FALSE = {"true", "t", "yes", "y", "1"}, {"false", "f", "no", "n", "0"}
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")


def detect_format(path: Path, declared: str | None) -> str:
    fmt = (declared or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if fmt == "csv":
        return "csv"
    raise ImportFormatError(f"{path}: unknown format '{fmt}'; use .jsonl or .csv (or --format)")


def check_file(path: Path) -> int:
    """Fail with one line if `path` cannot be imported at all; returns its size in bytes.

    Call it before the store is opened, so a file that is missing, a directory,
    a FIFO or device, unreadable, UTF-16/32 or binary changes nothing (a CSV
    header that cannot be used fails the first batch, also before the store).
    """
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImportFormatError(f"{path}: no such file") from None
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImportFormatError(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise ImportFormatError(f"{path}: not a regular file ({_kind(info.st_mode)}); save the data to a file first")
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise ImportFormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    problem = _encoding_problem(head) if head else None
    if problem:
        raise ImportFormatError(f"{path}: {problem}")
    return info.st_size


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"


def _encoding_problem(head: bytes) -> str | None:
    """UTF-16/UTF-32 (by BOM or NUL-interleaved ASCII) or NUL bytes first: not a UTF-8 text file."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "the file is UTF-32; save it as UTF-8"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "the file is UTF-16; save it as UTF-8"
    if b"\x00" not in head:
        return None
    sample = head[: len(head) // 4 * 4]
    if _mostly_nul(sample, (1, 2, 3), 4) or _mostly_nul(sample, (0, 1, 2), 4):
        return "the file is UTF-32; save it as UTF-8"
    if _mostly_nul(sample, (1,), 2) or _mostly_nul(sample, (0,), 2):
        return "the file is UTF-16; save it as UTF-8"
    if head[0] == 0:  # NULs after good lines (a crash's zero-filled tail) are rejected line by line
        return "the file starts with NUL bytes: it is not UTF-8 text"
    return None


def _mostly_nul(sample: bytes, zero_at: tuple[int, ...], width: int) -> bool:
    """ASCII text in UTF-16/32: the bytes at `zero_at` of each unit are NUL, the others are not."""
    units = [sample[i : i + width] for i in range(0, len(sample) - width + 1, width)]
    if len(units) < 2:
        return False
    fits = sum(all(u[i] == 0 for i in zero_at) and any(u[i] for i in range(width) if i not in zero_at) for u in units)
    return fits >= 0.9 * len(units)


def read_batches(
    path: Path,
    fmt: str,
    batch_lines: int = BATCH_LINES,
    batch_bytes: int = BATCH_BYTES,
    max_line_bytes: int = MAX_LINE_BYTES,
    warnings: list[tuple[int, str]] | None = None,
) -> Iterator[pa.Table]:
    """Batches for `listener.ingest.loader.load_batch`; file-level notes go to `warnings` as (line, text)."""
    notes = warnings if warnings is not None else []
    if check_file(path) == 0:
        notes.append((0, "empty file: nothing to import"))  # not an error: a day may have had no data
        return
    with path.open("rb") as handle:
        if fmt == "jsonl":
            yield from _jsonl_batches(handle, batch_lines, batch_bytes, max_line_bytes)
        else:
            rows = _csv_rows(path, _physical_lines(handle, max_line_bytes), max_line_bytes, notes)
            yield from _batched(rows, batch_lines, batch_bytes)


# -- lines ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    data: bytes | None  # None: longer than the limit, skipped unread
    size: int  # bytes in the file, line break included


def _physical_lines(handle: IO[bytes], max_bytes: int) -> Iterator[_Line]:
    """Numbered lines, each read with at most `max_bytes` (+1) bytes in memory."""
    number = 0
    while True:
        data = handle.readline(max_bytes + 1)
        if not data:
            return
        number += 1
        if len(data) <= max_bytes or data.endswith(b"\n"):  # max_bytes of content, then a line break
            yield _Line(number, data, len(data))
        else:
            yield _Line(number, None, len(data) + _skip_line(handle))


def _skip_line(handle: IO[bytes]) -> int:
    """Read past the rest of an over-long line in bounded chunks; returns the bytes skipped."""
    skipped = 0
    while True:
        chunk = handle.readline(_SKIP_CHUNK)
        skipped += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return skipped


def _too_long(line: _Line, max_bytes: int) -> str:
    return f"line is longer than {max_bytes:,} bytes ({line.size:,} bytes); skipped"


def _decode(line: _Line) -> tuple[str, str | None]:
    """The line's text and, when it is not UTF-8, what is wrong (with a replacement-decoded text)."""
    data = line.data or b""
    if line.number == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        column = len(data[: exc.start].decode("utf-8")) + 1
        return data.decode("utf-8", "replace"), f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at column {column})"


# -- JSONL -----------------------------------------------------------------------

_Row = tuple[int, str | None, str | None, int]  # line number, document, problem, bytes


def _jsonl_batches(handle: IO[bytes], batch_lines: int, batch_bytes: int, max_bytes: int) -> Iterator[pa.Table]:
    """The hot path, one tight loop: every line is read with at most `max_bytes` (+1) in memory."""
    numbers: list[int] = []
    docs: list[str | None] = []
    problems: list[str | None] = []
    readline, size, number = handle.readline, 0, 0
    while True:
        data = readline(max_bytes + 1)
        if not data:
            break
        number += 1
        if len(data) > max_bytes and not data.endswith(b"\n"):
            text, problem = None, _too_long(_Line(number, None, len(data) + _skip_line(handle)), max_bytes)
        elif data.isspace():
            continue
        else:
            try:  # inline: this runs once per line
                text, problem = data.decode("utf-8"), None
            except UnicodeDecodeError:
                text, problem = _decode(_Line(number, data, len(data)))
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
                if text.isspace():
                    continue  # only a byte order mark
            if problem is None and "\x00" in text:
                problem = f"contains a NUL byte (column {text.index(chr(0)) + 1}): not text"
            if problem:
                text = None
            else:
                size += len(data)
        numbers.append(number)
        docs.append(text)
        problems.append(problem)
        if len(numbers) >= batch_lines or size >= batch_bytes:
            table = _table(numbers, docs, problems)
            numbers, docs, problems, size = [], [], [], 0  # freed now, not while the batch waits to be loaded
            yield table
    if numbers:
        yield _table(numbers, docs, problems)


# -- CSV -------------------------------------------------------------------------


class _Replay:
    """Lines, with the ability to read some of them again (after a broken CSV row)."""

    def __init__(self, lines: Iterator[_Line]) -> None:
        self.lines = lines
        self.again: deque[_Line] = deque()

    def __iter__(self) -> _Replay:
        return self

    def __next__(self) -> _Line:
        return self.again.popleft() if self.again else next(self.lines)

    def replay(self, lines: list[_Line]) -> None:
        self.again.extendleft(reversed(lines))


class _Overflow(Exception):
    """A CSV row ran into an over-long line or past the size limit."""


class _Feed:
    """What csv.reader reads: the text of each line, remembering which lines one row took."""

    def __init__(self, source: _Replay, max_bytes: int) -> None:
        self.source = source
        self.max_bytes = max_bytes
        self.taken: list[_Line] = []
        self.size = 0
        self.bad_utf8: tuple[int, str] | None = None

    def start_row(self) -> None:
        self.taken, self.size, self.bad_utf8 = [], 0, None

    def __iter__(self) -> _Feed:
        return self

    def __next__(self) -> str:
        line = next(self.source)
        self.taken.append(line)
        self.size += line.size
        if line.data is None or self.size > self.max_bytes:
            raise _Overflow
        text, problem = _decode(line)
        if problem and self.bad_utf8 is None:
            self.bad_utf8 = (line.number, problem)
        return text


@dataclass(frozen=True, slots=True)
class _Record:
    first: int  # the line the row starts on
    last: int
    cells: list[str] | None
    problem: str | None
    size: int


_AGAIN = "the lines after this one were read again as rows"


def _records(source: _Replay, max_bytes: int, width: int | None = None) -> Iterator[_Record]:
    """CSV rows, each with its first line; a broken row is reported and reading resumes on its second line.

    csv.reader (strict) over a feed we control. A row spanning several lines
    that is not CSV (a quote never closed, or closed mid-cell), grows past
    `max_bytes`, or has not `width` cells (the header's), most likely opened a
    quote it never closed: the lines it swallowed are read again as rows of
    their own, so the good rows after it are kept.
    """
    feed = _Feed(source, max_bytes)
    reader = csv.reader(feed, strict=True)
    while True:
        feed.start_row()
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (csv.Error, _Overflow) as exc:
            yield _Record(feed.taken[0].number, feed.taken[-1].number, None, _broken(feed, exc, max_bytes), 0)
            source.replay(feed.taken[1:])
            reader = csv.reader(feed, strict=True)
            continue
        if not cells:
            continue  # a blank line
        first, last = feed.taken[0].number, feed.taken[-1].number
        if width is not None and len(feed.taken) > 1 and len(cells) != width:
            why = (
                f"a quoted field opened on this line runs on to line {last} and the row has {len(cells)} cells, "
                f"the header {width} (unterminated quote?); {_AGAIN}"
            )
            yield _Record(first, last, None, why, 0)
            source.replay(feed.taken[1:])
        elif width is not None and len(cells) > width and any(c.strip() for c in cells[width:]):
            yield _Record(first, last, None, f"the row has {len(cells)} cells but the header has {width}", 0)
        elif feed.bad_utf8:
            number, why = feed.bad_utf8
            yield _Record(first, last, None, why if number == first else f"{why} on line {number}", 0)
        else:
            yield _Record(first, last, cells, None, feed.size)


def _broken(feed: _Feed, exc: Exception, max_bytes: int) -> str:
    first, last = feed.taken[0], feed.taken[-1]
    if isinstance(exc, _Overflow):
        if len(feed.taken) == 1:
            return _too_long(first, max_bytes)
        return (
            f"a quoted field opened on this line runs on to line {last.number} and past "
            f"{max_bytes:,} bytes (unterminated quote?); {_AGAIN}"
        )
    if "unexpected end of data" in str(exc):
        return f"a quoted field opened on this line is never closed (unterminated quote); {_AGAIN}"
    if len(feed.taken) == 1:
        return f"bad CSV quoting: {exc}"
    return f"a quoted field opened on this line runs on to line {last.number} (unterminated quote?): {exc}; {_AGAIN}"


@dataclass(frozen=True, slots=True)
class _Column:
    index: int
    path: tuple[str, ...]  # where the cell goes in the document
    name: str


def _csv_columns(
    path: Path, source: _Replay, max_bytes: int, notes: list[tuple[int, str]] | None = None
) -> tuple[list[_Column], int]:
    """The header's columns and its number of cells; duplicate or conflicting names fail the whole file."""
    for record in _records(source, max_bytes):
        if record.cells is None:
            raise ImportFormatError(f"{path}: line {record.first}: the header row cannot be read: {record.problem}")
        return _columns(path, record.first, [c.strip() for c in record.cells], notes), len(record.cells)
    return [], 0


def _columns(path: Path, line: int, names: list[str], notes: list[tuple[int, str]] | None) -> list[_Column]:
    known = {*_TOP_LEVEL, *(f"{obj}.{sub}" for obj, subs in _OBJECTS.items() for sub in subs)}
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise ImportFormatError(f'{path}: line {line}: column "{name}" appears twice in the header')
        seen.add(name)
    for obj in _OBJECTS:
        nested = sorted(n for n in names if n.startswith(obj + "."))
        if obj in seen and nested:
            raise ImportFormatError(
                f'{path}: line {line}: columns "{obj}" and "{nested[0]}" conflict; '
                f'keep only the dotted ones ("{obj}.id", "{obj}.handle", ...)'
            )
        if obj in seen:
            raise ImportFormatError(
                f'{path}: line {line}: column "{obj}" cannot hold an object in CSV; '
                f'use dotted columns such as "{obj}.{_OBJECTS[obj][0]}"'
            )
    unknown = [n for n in names if n and n not in known]
    if unknown and notes is not None:
        where = 'kept in "raw" (on rows whose own "raw" cell is empty)' if "raw" in seen else 'kept in "raw"'
        notes.append((line, "columns not in the canonical format, " + where + ": " + ", ".join(unknown)))
    if "" in names and notes is not None:
        notes.append((line, f"{names.count('')} column(s) without a name in the header: their cells are dropped"))
    return [_Column(i, tuple(n.split(".")) if n in known else (n,), n) for i, n in enumerate(names) if n]


def _csv_rows(path: Path, lines: Iterator[_Line], max_bytes: int, notes: list[tuple[int, str]]) -> Iterator[_Row]:
    source = _Replay(lines)
    columns, width = _csv_columns(path, source, max_bytes, notes)
    for record in _records(source, max_bytes, width):
        if record.cells is None:
            yield record.first, None, record.problem, 0
        else:
            yield record.first, json.dumps(_csv_doc(columns, record.cells), ensure_ascii=False), None, record.size


def _csv_doc(columns: list[_Column], cells: list[str]) -> dict[str, Any]:
    """One row as a canonical document: dotted columns nest, empty cells are absent."""
    doc: dict[str, Any] = {}
    for column in columns:
        if column.index >= len(cells) or cells[column.index] == "":
            continue
        value = _csv_value(column.name, cells[column.index])
        if len(column.path) == 1:
            doc[column.name] = value
        else:
            doc.setdefault(column.path[0], {})[column.path[1]] = value
    return doc


def _csv_value(key: str, value: str) -> Any:
    """A cell as JSON; what does not convert stays a string, so the loader rejects it naming the field."""
    if key in _INT_FIELDS:
        return int(value) if _INTEGER.fullmatch(value) else value
    if key in _BOOL_FIELDS:
        word = value.strip().lower()
        return True if word in _TRUE else False if word in _FALSE else value
    if key == "mentions":
        if value.lstrip().startswith("["):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                pass
        return [h for h in value.replace(",", " ").split() if h]
    if key in ("raw", "referenced_authors") and value.lstrip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# -- batches ---------------------------------------------------------------------


def _batched(rows: Iterable[_Row], batch_lines: int, batch_bytes: int) -> Iterator[pa.Table]:
    numbers: list[int] = []
    docs: list[str | None] = []
    problems: list[str | None] = []
    size = 0
    for number, doc, problem, nbytes in rows:
        numbers.append(number)
        docs.append(doc)
        problems.append(problem)
        size += nbytes
        if len(numbers) >= batch_lines or size >= batch_bytes:
            table = _table(numbers, docs, problems)
            numbers, docs, problems, size = [], [], [], 0
            yield table
    if numbers:
        yield _table(numbers, docs, problems)


def _table(numbers: list[int], docs: list[str | None], problems: list[str | None]) -> pa.Table:
    # DuckDB scans an Arrow table one record batch per thread: several batches let both
    # cores parse JSON (one big chunk used a single core), also for a few long lines.
    table = pa.table({"line_no": numbers, "doc": docs, "problem": problems}, schema=READER_SCHEMA)
    chunk = max(1, min(16_384, -(-len(numbers) // 8)))
    return pa.Table.from_batches(table.to_batches(max_chunksize=chunk), schema=READER_SCHEMA)
