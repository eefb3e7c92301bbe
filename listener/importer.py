"""Read canonical mention files (JSONL or CSV) as Arrow batches of (line_no, doc).

Streaming in bounded memory: one batch of lines at a time. Parsing and
validation happen in DuckDB (`listener.loader`), so a bad row is reported with
its line number and every good row is kept.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from listener.errors import ImportFormatError
from listener.loader import BATCH_SCHEMA

BATCH_LINES = 250_000
_INT_FIELDS = {"author.followers", "author.following", "metrics.likes", "metrics.reposts",
               "metrics.replies", "metrics.quotes", "metrics.score"}
_BOOL_FIELDS = {"author.verified"}


def detect_format(path: Path, declared: str | None) -> str:
    fmt = (declared or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if fmt == "csv":
        return "csv"
    raise ImportFormatError(f"{path}: unknown format '{fmt}'; use .jsonl or .csv (or --format)")


def read_batches(path: Path, fmt: str, batch_lines: int = BATCH_LINES) -> Iterator[pa.Table]:
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file")
    reader = _jsonl_lines(path) if fmt == "jsonl" else _csv_lines(path)
    numbers: list[int] = []
    docs: list[str | None] = []
    for line_no, doc in reader:
        numbers.append(line_no)
        docs.append(doc)
        if len(numbers) >= batch_lines:
            yield _chunked(numbers, docs)
            numbers, docs = [], []
    if numbers:
        yield _chunked(numbers, docs)


def _chunked(numbers: list[int], docs: list[str | None]) -> pa.Table:
    # DuckDB scans an Arrow table one record batch per thread: many small
    # batches let both cores parse JSON (one big chunk used a single core).
    table = pa.table({"line_no": numbers, "doc": docs}, schema=BATCH_SCHEMA)
    return pa.Table.from_batches(table.to_batches(max_chunksize=16_384), schema=BATCH_SCHEMA)


def _jsonl_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                yield line_no, raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError:
                yield line_no, None  # reported as "not valid JSON" with its line number


def _csv_lines(path: Path) -> Iterator[tuple[int, str | None]]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            return
        for row in reader:
            yield reader.line_num, json.dumps(_unflatten(row), ensure_ascii=False)


def _unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """`author.handle` columns -> nested objects; empty cells are absent."""
    doc: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        key = key.strip()
        target = doc
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                break
        else:
            target[leaf] = _csv_value(key, value)
    return doc


def _csv_value(key: str, value: str) -> Any:
    if key in _INT_FIELDS:
        try:
            return int(float(value))
        except ValueError:
            return value
    if key in _BOOL_FIELDS:
        return value.strip().lower() in ("1", "true", "yes", "y", "t")
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
