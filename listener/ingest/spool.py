"""The durable local spool between fetching and loading.

Connectors fetch without touching DuckDB; every page they return is written
here first, as one segment file, and loaded into the store later in its own
short transaction (see `listener.pipeline.drain`). So a reader holding the
database never makes a run lose what it fetched, and the writer holds the
file only for the length of a load.

A segment is one JSON-lines file: a header line, then one canonical mention
document per line (the same documents `listener import` reads). Two kinds:

- ``page``: the mentions of one fetched page plus the cursor values that become
  true once they are stored;
- ``run``: the end of one source's run (status, error, warnings, counts).

Writes are durable and atomic: the file is written under a hidden temporary
name, fsynced, renamed into place and the directory fsynced, so a segment is
either whole or absent after a crash. Segments load in name order (time of
writing). A segment is removed only after the transaction that loaded it has
committed; the store remembers loaded segment names (`spool_segments`), so a
segment left behind by a crash between commit and removal is not loaded twice.
A segment that cannot be read is moved to ``rejected/`` with a log line; the
rest still load.

One process collects a source at a time: `source_lock` holds a lock file per
source while it fetches and spools.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"
_sequence = itertools.count()


class SpoolError(Exception):
    """A segment file that cannot be read as a segment."""


class SourceBusy(Exception):
    """Another process is collecting this source right now."""


@dataclass
class Segment:
    path: Path
    header: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def kind(self) -> str:
        return str(self.header.get("kind"))

    @property
    def source(self) -> str:
        return str(self.header.get("source"))

    @property
    def mentions(self) -> int:
        return int(self.header.get("mentions") or 0)

    def documents(self) -> list[str]:
        """The canonical mention documents, one per line after the header."""
        with self.path.open("r", encoding="utf-8", newline="\n") as fh:
            next(fh, None)
            docs = [line.rstrip("\n") for line in fh if line.strip()]
        if len(docs) != self.mentions:
            raise SpoolError(f"{self.path}: header says {self.mentions} mentions, found {len(docs)}")
        return docs


@dataclass
class SpoolSummary:
    directory: str
    pages: int = 0
    runs: int = 0
    mentions: int = 0
    rejected: int = 0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return vars(self).copy()


class Spool:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- writing -------------------------------------------------------------
    def append_page(
        self,
        *,
        source: str,
        run_id: str,
        command: str,
        stream: str,
        documents: list[str],
        cursor: Mapping[str, str | None],
        started_at: str,
    ) -> Segment:
        header = {
            "kind": "page",
            "source": source,
            "run_id": run_id,
            "command": command,
            "started_at": started_at,
            "stream": stream,
            "cursor": dict(cursor),
            "mentions": len(documents),
        }
        return self._write(source, header, documents)

    def append_run_end(self, run: Mapping[str, Any]) -> Segment:
        header = {"kind": "run", "source": run["source"], "run_id": run["run_id"], "mentions": 0, "run": dict(run)}
        return self._write(str(run["source"]), header, [])

    def _write(self, source: str, header: dict[str, Any], documents: list[str]) -> Segment:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{next(_sequence) % 1_000_000:06d}-{source}-{uuid.uuid4().hex[:8]}"
        header = {**header, "segment": name, "written_at": datetime.now(UTC).isoformat()}
        final = self.root / f"{name}{SUFFIX}"
        temporary = self.root / f".{name}.tmp"
        try:
            with temporary.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps(header, ensure_ascii=False) + "\n")
                for doc in documents:
                    fh.write(doc.replace("\n", " ") + "\n")  # canonical JSON never holds a raw newline
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, final)
        except OSError:  # disk full, read-only: no half segment stays behind
            temporary.unlink(missing_ok=True)
            raise
        _fsync_directory(self.root)
        return Segment(final, header)

    # -- reading -------------------------------------------------------------
    def pending(self, source: str | None = None) -> list[Segment]:
        """Whole segments waiting to be loaded, oldest first; unreadable ones are set aside."""
        if not self.root.is_dir():
            return []
        segments = []
        for path in sorted(self.root.glob(f"*{SUFFIX}")):
            try:
                segment = Segment(path, _read_header(path))
            except (OSError, SpoolError) as exc:
                if path.exists():
                    self.reject(path, str(exc))
                continue
            if source is None or segment.source == source:
                segments.append(segment)
        return segments

    def pending_cursors(self, source: str) -> dict[str, str]:
        """The cursor values that spooled, not yet loaded pages of `source` will commit."""
        cursors: dict[str, str] = {}
        for segment in self.pending(source):
            if segment.kind == "page":
                cursors.update({k: v for k, v in (segment.header.get("cursor") or {}).items() if v is not None})
        return cursors

    def summary(self) -> SpoolSummary:
        summary = SpoolSummary(directory=str(self.root))
        for segment in self.pending():
            if segment.kind == "page":
                summary.pages += 1
                summary.mentions += segment.mentions
            else:
                summary.runs += 1
            summary.by_source[segment.source] = summary.by_source.get(segment.source, 0) + 1
        rejected = self.root / "rejected"
        summary.rejected = len(list(rejected.glob(f"*{SUFFIX}"))) if rejected.is_dir() else 0
        return summary

    # -- after loading -------------------------------------------------------
    def remove(self, segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)

    def reject(self, path: Path, why: str) -> None:
        target = self.root / "rejected"
        target.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target / path.name)
        log.error("spool: %s set aside in %s: %s", path.name, target, why)

    # -- one collector per source ---------------------------------------------
    @contextmanager
    def source_lock(self, source: str) -> Iterator[None]:
        """Held while a process fetches `source`; a second collector gets SourceBusy at once."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(locks / f"{source}.lock"), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise SourceBusy(f"another process is collecting '{source}' right now") from None
        try:
            self._remove_stale_temporaries(source)
            yield
        finally:
            lock.release()

    @contextmanager
    def run_lock(self, run_id: str) -> Iterator[None]:
        """Held by a process for the life of one run that the spool does not carry (an import),
        so the next command can tell a run still going from one whose process died."""
        locks = self.root / "locks"
        locks.mkdir(parents=True, exist_ok=True)
        path = locks / f"run-{run_id}.lock"
        with FileLock(str(path)):
            yield
        path.unlink(missing_ok=True)

    def is_active(self, source: str, run_id: str | None = None) -> bool:
        """Whether a live process holds `source`'s collector lock (or, with `run_id`, that run's lock)."""
        path = self.root / "locks" / (f"run-{run_id}.lock" if run_id else f"{source}.lock")
        if not path.exists():
            return False
        lock = FileLock(str(path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            return True
        lock.release()
        return False

    def _remove_stale_temporaries(self, source: str) -> None:
        # Only this source's collector writes its temporaries, and we hold its lock.
        for path in self.root.glob(f".*-{source}-*.tmp"):
            path.unlink(missing_ok=True)


def _read_header(path: Path) -> dict[str, Any]:
    with path.open("r", encoding="utf-8", newline="\n") as fh:
        line = fh.readline()
    try:
        header = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SpoolError(f"unreadable header: {exc}") from None
    if not isinstance(header, dict) or header.get("kind") not in ("page", "run") or not header.get("source"):
        raise SpoolError("header is not a spool segment header")
    return header


def _fsync_directory(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
