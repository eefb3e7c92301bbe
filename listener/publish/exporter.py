"""Write the store out: canonical mentions, any table, the interaction graph.

What `listener export --out` writes, `listener import` reads: ids are
un-namespaced (the native ids) and the original payload rides along in `raw`.
`--table` copies one table or view to Parquet or CSV with DuckDB's COPY;
`--graph` writes who-talks-to-whom as GEXF 1.3 for Gephi and friends.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb

from analytics.definitions import is_placeholder
from listener.core.models import AUTHOR_FIELDS, CANONICAL_FIELDS, METRIC_FIELDS
from listener.store.connection import scalar

# How each field of the canonical format is read back from the store, in `CANONICAL_FIELDS`
# order. `in_reply_to_author` and `referenced_authors` only serve to resolve `interactions` when
# loaded: they are not kept, so not exported.
_AUTHOR_SQL = {
    "id": "CASE WHEN a.author_id LIKE m.source || ':@%' THEN NULL ELSE substr(a.author_id, length(m.source) + 2) END",
    "handle": "a.handle",
    "name": "a.display_name",
    "followers": "a.followers_count",
    "following": "a.following_count",
    "verified": "a.verified",
    "url": "a.url",
}
_METRICS_SQL = {
    "likes": "m.like_count",
    "reposts": "m.repost_count",
    "replies": "m.reply_count",
    "quotes": "m.quote_count",
    "score": "m.score",
}
_NESTED = {"author": (AUTHOR_FIELDS, _AUTHOR_SQL), "metrics": (METRIC_FIELDS, _METRICS_SQL)}


def _native(column: str) -> str:
    """A namespaced id (`x:123`) as the network's own id (`123`)."""
    return f"substr(m.{column}, length(m.source) + 2)"


def _struct(field: str) -> str:
    members, sql = _NESTED[field]
    return "{" + ", ".join(f"'{member}': {sql[member]}" for member in members) + "}"


_FIELD_SQL = {
    "source": "m.source",
    "id": "m.native_id",
    "url": "m.url",
    "created_at": "strftime(m.created_at, '%Y-%m-%dT%H:%M:%S+00:00')",
    "title": "m.title",
    "text": "m.text",
    "lang": "m.lang",
    "community": "m.community",
    "thread_id": _native("thread_id"),
    "parent_id": _native("parent_id"),
    "author": _struct("author"),
    "metrics": _struct("metrics"),
    "mentions": (
        "(SELECT list(coalesce(i.target_handle, substr(i.to_author_id, length(m.source) + 2))) "
        "FROM interactions i WHERE i.mention_id = m.mention_id AND i.kind = 'mention')"
    ),
    "repost_of": _native("repost_of"),
    "quote_of": _native("quote_of"),
    "raw": "m.raw",
}
EXPORTED_FIELDS = tuple(f for f in CANONICAL_FIELDS if f in _FIELD_SQL)

CANONICAL_SELECT = (
    "SELECT\n    "
    + ",\n    ".join(f'{_FIELD_SQL[f]} AS "{f}"' for f in EXPORTED_FIELDS)
    + "\nFROM mentions m LEFT JOIN authors a ON a.author_id = m.author_id\n"
)


def _flat(field: str) -> str:
    """CSV has no objects or lists: dotted columns, and the mentioned handles separated by spaces."""
    if field in _NESTED:
        return ", ".join(f'{field}.{member} AS "{field}.{member}"' for member in _NESTED[field][0])
    return "array_to_string(mentions, ' ') AS mentions" if field == "mentions" else field


FLAT_SELECT = "SELECT " + ", ".join(_flat(f) for f in EXPORTED_FIELDS if f != "raw") + "\nFROM canonical\n"


def export_mentions(conn: duckdb.DuckDBPyConnection, out: Path, fmt: str) -> int:
    """Write every mention to `out`; returns the number of rows written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    conn.execute(f"CREATE OR REPLACE TEMP VIEW canonical AS {CANONICAL_SELECT} ORDER BY m.mention_id")
    query = "SELECT * FROM canonical" if fmt == "jsonl" else FLAT_SELECT
    options = "FORMAT json" if fmt == "jsonl" else "FORMAT csv, HEADER true"
    conn.execute(f"COPY ({query}) TO {_literal(out)} ({options})")
    return int(scalar(conn, "SELECT count(*) FROM mentions"))


TABLE_FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def store_relations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Tables and views of the store (not temporary ones), as the catalog names them."""
    rows = conn.execute(
        "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' AND NOT temporary "
        "UNION SELECT view_name FROM duckdb_views() WHERE schema_name = 'main' AND NOT temporary AND NOT internal "
        "ORDER BY 1"
    ).fetchall()
    return [name for (name,) in rows]


def table_format(out: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    try:
        return TABLE_FORMATS[out.suffix.lower()]
    except KeyError:
        raise ValueError(
            f"{out}: cannot tell the format from the extension; use .parquet or .csv, or --format parquet|csv"
        ) from None


def export_table(conn: duckdb.DuckDBPyConnection, name: str, out: Path, fmt: str) -> int:
    """Copy one store table or view to Parquet or CSV; returns the rows written.

    The name must be one the catalog lists (exact match), so it is never a
    way to run arbitrary SQL; it is then quoted as an identifier.
    """
    known = {n.lower(): n for n in store_relations(conn)}
    if name.lower() not in known:
        raise KeyError(name)
    ident = '"' + known[name.lower()].replace('"', '""') + '"'
    out.parent.mkdir(parents=True, exist_ok=True)
    options = "FORMAT parquet, COMPRESSION zstd" if fmt == "parquet" else "FORMAT csv, HEADER true"
    return int(scalar(conn, f"COPY (SELECT * FROM {ident}) TO {_literal(out)} ({options})"))


def _literal(path: Path) -> str:
    # COPY takes no bound parameter for its target; quote the path as a SQL string literal.
    return "'" + str(path).replace("'", "''") + "'"


# -- interaction graph as GEXF 1.3 ------------------------------------------------

GEXF_NS = "http://gexf.net/1.3"
EDGE_KINDS = ("reply", "comment", "mention", "repost", "quote")
NODE_ATTRIBUTES = (("handle", "string"), ("source", "string"), ("followers", "long"), ("is_own", "boolean"))
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
GRAPH_BATCH = 10_000

GRAPH_EDGES_SQL = """
SELECT from_author_id, to_author_id, count(*) AS weight,
       {kind_counts}
FROM interactions
WHERE from_author_id IS NOT NULL AND to_author_id IS NOT NULL
  AND NOT {placeholder_from} AND NOT {placeholder_to}
  AND (?::TIMESTAMPTZ IS NULL OR created_at >= ?::TIMESTAMPTZ)
  AND (?::TIMESTAMPTZ IS NULL OR created_at < ?::TIMESTAMPTZ)
GROUP BY ALL
"""


def _xml_text(value: object) -> str:
    return _NOT_XML.sub("", str(value))


def _element_xml(tag: str, attrs: dict[str, str], children: list[ET.Element] | None = None) -> str:
    element = ET.Element(tag, {k: _xml_text(v) for k, v in attrs.items()})
    for child in children or []:
        element.append(child)
    return ET.tostring(element, encoding="unicode")


def _attvalues(values: dict[str, object]) -> ET.Element:
    holder = ET.Element("attvalues")
    for key, value in values.items():
        if value is not None:
            ET.SubElement(holder, "attvalue", {"for": key, "value": _xml_text(value)})
    return holder


def export_graph(
    conn: duckdb.DuckDBPyConnection, out: Path, since: datetime | None = None, until: datetime | None = None
) -> tuple[int, int]:
    """Write the author interaction graph in [since, until) as GEXF 1.3; returns (nodes, edges).

    Nodes are authors at either end of an edge, with handle, source,
    followers and is_own; an edge aggregates every interaction from one author
    to another: weight = count, plus one count per kind. Placeholder authors
    (`x:unknown`, `reddit:[deleted]`: no one in particular) are left out, as in
    every per-author analysis (docs/schema.md). Elements are
    serialised one at a time by ElementTree (escaping), rows are fetched in
    batches, so memory stays bounded whatever the graph's size.
    """
    kind_counts = ", ".join(f"count(*) FILTER (kind = '{k}') AS {k}" for k in EDGE_KINDS)
    window = [since, since, until, until]
    edges_sql = GRAPH_EDGES_SQL.format(
        kind_counts=kind_counts,
        placeholder_from=is_placeholder("from_author_id"),
        placeholder_to=is_placeholder("to_author_id"),
    )
    conn.execute(f"CREATE OR REPLACE TEMP TABLE graph_edges AS {edges_sql}", window)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", encoding="utf-8", newline="\n") as handle:
            counts = _write_gexf(conn, handle, since, until)
    finally:
        conn.execute("DROP TABLE IF EXISTS graph_edges")
    return counts


def _write_gexf(
    conn: duckdb.DuckDBPyConnection, handle: Any, since: datetime | None, until: datetime | None
) -> tuple[int, int]:
    window = f"interactions from {since.date() if since else 'the start'} to {until.date() if until else 'now'}"
    handle.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    handle.write(f'<gexf xmlns="{GEXF_NS}" version="1.3">\n')
    meta = ET.Element("meta", {"lastmodifieddate": date.today().isoformat()})
    ET.SubElement(meta, "creator").text = "listener"
    ET.SubElement(meta, "description").text = f"Who talks to whom: {window} (weight = interactions)"
    handle.write(ET.tostring(meta, encoding="unicode") + "\n")
    handle.write('<graph mode="static" defaultedgetype="directed">\n')
    node_attrs = ET.Element("attributes", {"class": "node"})
    for name, kind in NODE_ATTRIBUTES:
        ET.SubElement(node_attrs, "attribute", {"id": name, "title": name, "type": kind})
    edge_attrs = ET.Element("attributes", {"class": "edge"})
    for name in EDGE_KINDS:
        ET.SubElement(edge_attrs, "attribute", {"id": name, "title": name, "type": "long"})
    handle.write(ET.tostring(node_attrs, encoding="unicode") + "\n")
    handle.write(ET.tostring(edge_attrs, encoding="unicode") + "\n")

    handle.write("<nodes>\n")
    nodes = 0
    cursor = conn.execute(
        """
        SELECT n.author_id, coalesce(a.handle, n.author_id), coalesce(a.source, split_part(n.author_id, ':', 1)),
               a.followers_count, coalesce(a.is_own, false)
        FROM (SELECT from_author_id AS author_id FROM graph_edges
              UNION SELECT to_author_id FROM graph_edges) n
        LEFT JOIN authors a USING (author_id) ORDER BY n.author_id
        """
    )
    while batch := cursor.fetchmany(GRAPH_BATCH):
        for author_id, label, source, followers, is_own in batch:
            values = {
                "handle": label,
                "source": source,
                "followers": followers,
                "is_own": "true" if is_own else "false",
            }
            handle.write(_element_xml("node", {"id": author_id, "label": label}, [_attvalues(values)]) + "\n")
            nodes += 1
    handle.write("</nodes>\n<edges>\n")
    edges = 0
    cursor = conn.execute("SELECT * FROM graph_edges ORDER BY from_author_id, to_author_id")
    while batch := cursor.fetchmany(GRAPH_BATCH):
        for source_id, target_id, weight, *kinds in batch:
            values = {k: n for k, n in zip(EDGE_KINDS, kinds) if n}
            handle.write(
                _element_xml(
                    "edge",
                    {"id": str(edges), "source": source_id, "target": target_id, "weight": str(weight)},
                    [_attvalues(values)],
                )
                + "\n"
            )
            edges += 1
    handle.write("</edges>\n</graph>\n</gexf>\n")
    return nodes, edges
