"""How jobs reach the store: only for the length of a write, waiting while a reader holds it.

DuckDB allows one writing process or many read-only ones per file. A job that
opened the store for its whole run would lock analysts out for that long, and
fail at once when a notebook still had the file open. `StoreGate` opens the
store only around each write and, when the file is held, retries with
exponential backoff up to `[store] lock_timeout_seconds` before giving up with
StoreBusyError. `HeldStore` is the same interface over a store the caller
already has open (the demo, tests, `listener import`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from listener.core.errors import StoreBusyError
from listener.store.connection import Store, open_store

if TYPE_CHECKING:
    from listener.core.settings import Store as StoreSettings

log = logging.getLogger(__name__)


class StoreAccess(Protocol):
    def writer(self, wait: bool = True, brief: bool = False) -> AbstractContextManager[Store | None]:
        """The store open for writing, or None when busy and `wait` is False.

        `brief`: one small write between fetches; skip the checkpoint on close.
        """
        ...

    def cursors(self, source: str) -> dict[str, str]:
        """The committed cursors of `source`."""
        ...


class HeldStore:
    """A store the caller keeps open: every write goes straight to it."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @contextmanager
    def writer(self, wait: bool = True, brief: bool = False) -> Iterator[Store | None]:
        yield self.store

    def cursors(self, source: str) -> dict[str, str]:
        return self.store.cursors(source)


class StoreGate:
    """Opens the store per write and closes it after, so readers get in between.

    On DuckLake nobody holds a lock (readers never block writers), so the gate
    keeps one connection for all its writes instead.
    """

    def __init__(
        self,
        location: Path | StoreSettings,
        timeout_seconds: float,
        first_delay: float = 0.2,
        max_delay: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.location = location
        self.timeout_seconds = timeout_seconds
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self._kept: Store | None = None

    @property
    def is_lake(self) -> bool:
        return not isinstance(self.location, Path) and self.location.backend == "ducklake"

    @property
    def path(self) -> Path:
        return self.location if isinstance(self.location, Path) else self.location.path

    @contextmanager
    def writer(self, wait: bool = True, brief: bool = False) -> Iterator[Store | None]:
        if self.is_lake:
            if self._kept is None:
                self._kept = self._open(read_only=False, wait=True)
            yield self._kept
            return
        store = self._open(read_only=False, wait=wait)
        if store is not None and brief:
            # Closing checkpoints the WAL into the file: ~0.5 s per page on a store of 200k
            # mentions, most of the time the file would be held. The WAL stays until a later
            # write passes checkpoint_threshold or the run's last load closes normally.
            store.conn.execute("PRAGMA disable_checkpoint_on_shutdown")
        try:
            yield store
        finally:
            if store is not None:
                store.close()

    @contextmanager
    def reader(self) -> Iterator[Store]:
        """The store open read-only (waiting while a writer holds the file), closed after."""
        store = self._open(read_only=True, wait=True)
        assert store is not None
        try:
            yield store
        finally:
            store.close()

    def cursors(self, source: str) -> dict[str, str]:
        if self.is_lake:
            with self.writer() as store:
                assert store is not None
                return store.cursors(source)
        if not self.path.exists():
            return {}
        store = self._open(read_only=True, wait=True)
        assert store is not None
        try:
            return store.cursors(source)
        finally:
            store.close()

    def close(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def _open(self, read_only: bool, wait: bool) -> Store | None:
        deadline = time.monotonic() + self.timeout_seconds
        delay = self.first_delay
        told = False
        while True:
            try:
                return open_store(self.location, read_only=read_only)
            except StoreBusyError as exc:
                if not wait:
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise StoreBusyError(
                        f"{exc} Waited {self.timeout_seconds:g}s ([store] lock_timeout_seconds)."
                    ) from None
                if not told:  # once per wait: under cron every line lands in a log file
                    log.info("%s is held by another process; retrying for up to %.0fs", self.path, remaining)
                    told = True
                self.sleep(min(delay, remaining))
                delay = min(delay * 2, self.max_delay)


def access_for(target: Store | StoreAccess) -> StoreAccess:
    return HeldStore(target) if isinstance(target, Store) else target
