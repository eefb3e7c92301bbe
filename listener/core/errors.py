"""The small exception tree every stage shares.

The CLI maps these to exit codes: ConfigError -> 2, StoreBusyError -> 3, StoreDamagedError -> 4,
SourceError and OutputError -> 1 (other sources still committed).
"""

from __future__ import annotations


class ListenerError(Exception):
    """Base class: the message is written for the person running the command."""


class ConfigError(ListenerError):
    """The configuration (file, key, value or environment) is wrong."""


class StoreBusyError(ListenerError):
    """Another process holds the DuckDB file (a running job or an open writer)."""


class SourceError(ListenerError):
    """A source could not be collected; the others are unaffected."""


class TransientError(SourceError):
    """Worth retrying later: timeouts, 5xx, rate limits past the wait budget."""


class TerminalError(SourceError):
    """Retrying will not help until someone changes something (credentials, URL, plan)."""


class ImportFormatError(ListenerError):
    """An import file cannot be read at all (not a per-row problem)."""


class StoreDamagedError(ListenerError):
    """The store file is not readable as a DuckDB database (corrupt, truncated, overwritten)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path, self.detail = path, detail
        super().__init__(f"{path}: the store is damaged ({detail})")


class OutputError(ListenerError):
    """A file or folder could not be written (disk full, read-only, not a regular file)."""


class StoreMissingError(ConfigError):
    """The store is a DuckDB file not created yet: nothing to read until a run or an import creates it."""
