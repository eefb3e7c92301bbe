"""Progress for people and for cron: bars in a terminal, plain log lines otherwise.

Also the logging setup, with a filter that masks secret values from the
environment wherever they would appear in a log line.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO

from listener.core.redact import mask, secret_values

log = logging.getLogger("listener")


class Task(Protocol):
    def advance(self, amount: int = 1, note: str | None = None) -> None: ...


class _LogTask:
    def __init__(self, label: str, total: int | None) -> None:
        self.label, self.total, self.done = label, total, 0

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        self.done += amount
        of = f"/{self.total}" if self.total else ""
        log.info("%s: %d%s%s", self.label, self.done, of, f" ({note})" if note else "")


class _BarTask:
    def __init__(self, progress: object, task_id: object) -> None:
        self.progress, self.task_id = progress, task_id

    def advance(self, amount: int = 1, note: str | None = None) -> None:
        fields = {"description": note} if note else {}
        self.progress.update(self.task_id, advance=amount, **fields)  # type: ignore[attr-defined]


def interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


@contextmanager
def task(label: str, total: int | None = None, bars: bool | None = None) -> Iterator[Task]:
    """A progress bar in a terminal; one log line per step under cron."""
    if not (interactive() if bars is None else bars):
        yield _LogTask(label, total)
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=True) as progress:
        yield _BarTask(progress, progress.add_task(label, total=total))


class RedactSecrets(logging.Filter):
    """Masks secrets in the message and in any traceback attached to it."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = secret_values()
        record.msg, record.args = mask(record.getMessage(), secrets), None
        if record.exc_info:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info), secrets)
            record.exc_info = None
        return True


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of the record, so a replaced or closed stream
    (a test's capture, a redirected console) never turns a log line into a logging error."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    if interactive():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(show_path=False, markup=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("urllib3", "requests", "prawcore", "tweepy"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
