"""The DuckLake backend: the same tables in a DuckLake catalog instead of one DuckDB file.

`[store] backend = "ducklake"` keeps the catalog in PostgreSQL and the data as
Parquet files under `[store.ducklake] data_path`, so several workers can write
at once and any number of analysts can read while they do. The pipeline code
is the same; what differs is kept here:

- the extensions are loaded from the `duckdb-extension-ducklake` and
  `duckdb-extension-postgres-scanner` wheels, never downloaded;
- DuckLake has no PRIMARY KEY/UNIQUE constraints, so migrations drop them
  (the code upserts with MERGE and anti-joins, which need none), and takes a
  boolean column default only as a quoted literal;
- concurrent writers are optimistic: a commit that loses a conflict raises
  `duckdb.TransactionException` (`is_conflict` tells it apart), and
  `Store.write_transaction` re-runs the unit of work in a fresh snapshot.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import duckdb

from listener.core.errors import ConfigError, StoreBusyError

ALIAS = "lake"

_INLINE_KEY = re.compile(r"\s+PRIMARY\s+KEY\b", re.IGNORECASE)
_TABLE_KEY = re.compile(r",\s*PRIMARY\s+KEY\s*\([^)]*\)", re.IGNORECASE)
# ALTER TABLE ... ADD COLUMN x BOOLEAN DEFAULT true: DuckLake takes only a literal it can store as text
_BOOLEAN_DEFAULT = re.compile(r"\bBOOLEAN\s+DEFAULT\s+(true|false)\b", re.IGNORECASE)


def extension_file(name: str) -> Path:
    """The extension binary shipped by the `duckdb-extension-<name>` wheel for this DuckDB."""
    package = "postgres_scanner" if name == "postgres" else name
    try:
        module = importlib.import_module(f"duckdb_extension_{package}")
    except ImportError:
        raise ConfigError(
            f"[store] backend = \"ducklake\" needs the '{package}' extension wheel: pip install 'listener[ducklake]'"
        ) from None
    path = Path(module.__file__ or ".").parent / "extensions" / f"v{duckdb.__version__}" / f"{package}.duckdb_extension"
    if not path.exists():
        raise ConfigError(f"{path} is missing: the extension wheel does not match duckdb {duckdb.__version__}")
    return path


def connect_lake(catalog: str, data_path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the lake attached and in use; nothing is fetched from the network."""
    conn = duckdb.connect(
        ":memory:", config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    try:
        if catalog.startswith("postgres:"):
            conn.execute(f"LOAD {_quote(str(extension_file('postgres')))}")  # before ducklake attaches one
        conn.execute(f"LOAD {_quote(str(extension_file('ducklake')))}")
        options = [f"DATA_PATH {_quote(data_path)}"] + (["READ_ONLY"] if read_only else [])
        conn.execute(f"ATTACH {_quote('ducklake:' + catalog)} AS {ALIAS} ({', '.join(options)})")
    except duckdb.Error as exc:
        conn.close()
        raise StoreBusyError(f"cannot open the DuckLake catalog '{_redact(catalog)}': {_first_line(exc)}") from None
    conn.execute(f"USE {ALIAS}")
    conn.execute("SET TimeZone = 'UTC'")
    return conn


def lake_dialect(sql: str) -> str:
    """A migration's DDL without the key constraints DuckLake does not have."""
    sql = _INLINE_KEY.sub("", _TABLE_KEY.sub("", sql))
    return _BOOLEAN_DEFAULT.sub(lambda m: f"BOOLEAN DEFAULT '{m.group(1).lower()}'", sql)


def is_conflict(exc: BaseException) -> bool:
    text = str(exc)
    return isinstance(exc, duckdb.TransactionException) and (
        "conflict" in text.lower() or "retry count" in text or "Failed to commit" in text
    )


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _redact(catalog: str) -> str:
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", catalog, flags=re.IGNORECASE)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
