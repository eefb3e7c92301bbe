"""The source registry is the single source of truth for sources (connectors/registry.py).

No code outside connectors/ spells a source's name, and a new connector needs nothing but its
registry entry: settings accept its table and own accounts, the collector runs it, the loader
marks its own posts and uses its word for a reply.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from conftest import ORG_TOML, FeedServer, Route, table_rows

from connectors import REGISTRY, SOURCES
from connectors.base import RawPage
from connectors.registry import SourceSpec, register, unregister
from listener import pipeline
from listener.core.errors import ConfigError
from listener.core.models import AuthorRef, Mention
from listener.core.settings import Settings, SourceBase, load_settings
from listener.core.sources import registered_sources, source_label, source_names
from listener.store.connection import open_store

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("listener", "analytics")
# The schema's migrations are history: what they once wrote stays as it was.
EXEMPT = ("listener/store/migrations.py",)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def source_literals(
    root: Path, names: tuple[str, ...], folders: tuple[str, ...] = SCANNED, exempt: tuple[str, ...] = EXEMPT
) -> list[str]:
    """`file:line: text` for every string that is a source's name or quotes one ('reddit' in SQL)."""
    quoted = re.compile(r"(?<!\w)(['\"])(?:" + "|".join(map(re.escape, names)) + r")\1")
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where in exempt:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            docstrings = _docstrings(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in docstrings
                    and (node.value in names or quoted.search(node.value))
                ):
                    found.append(f"{where}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_no_source_name_is_spelled_outside_connectors():
    assert source_literals(ROOT, source_names()) == []


def test_the_scan_finds_a_name_and_a_quoted_name_in_sql(tmp_path: Path):
    """The checker itself: a bare name and a quoted one inside SQL are found; docstrings, prose and
    longer words are not, nor the exempt migrations."""
    for folder in ("listener/store", "analytics"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "analytics" / "bad.py").write_text(
        'KIND = "reddit"\nSQL = f"SELECT 1 FROM mat_posts WHERE source <> \'rss\' AND n > {1}"\n', encoding="utf-8"
    )
    (tmp_path / "analytics" / "fine.py").write_text(
        '"""Reddit and RSS posts; \'rss\' in a docstring is prose."""\n'
        'AXIS = "xs"\nLABEL = "Reddit threads"\nSQL = "SELECT \'rss_feed\'"\n',
        encoding="utf-8",
    )
    (tmp_path / "listener" / "store" / "migrations.py").write_text(
        "OLD = \"UPDATE t SET source = 'x'\"\n", encoding="utf-8"
    )
    found = source_literals(tmp_path, ("rss", "x", "reddit"))
    assert found == [
        "analytics/bad.py:1: 'reddit'",
        "analytics/bad.py:2: \"SELECT 1 FROM mat_posts WHERE source <> 'rss' AND n > \"",
    ]


def test_every_entry_is_in_the_catalogue_with_its_factory():
    assert registered_sources()[: len(SOURCES)] == SOURCES
    for spec in SOURCES:
        assert REGISTRY[spec.name] is spec.factory
        assert spec.settings_model is not SourceBase  # each source has its own table's model
    with pytest.raises(ValueError, match="registered twice"):
        register(
            SourceSpec(
                name=SOURCES[0].name,
                label="Another",
                factory=SOURCES[0].factory,
                settings_model=SOURCES[0].settings_model,
            )
        )


# -- a new connector: its registry entry is all it takes -------------------------------------


class ForumSource(SourceBase):
    """`[sources.forum]`: a JSON list of posts at one URL."""

    url: str = ""


class ForumConnector:
    name = "forum"

    def __init__(self, config: ForumSource) -> None:
        self.config = config

    @classmethod
    def from_settings(cls, settings: Settings) -> ForumConnector:
        return cls(settings.sources.section(cls.name, ForumSource))

    def fetch(self, cursors: Mapping[str, str]) -> Iterator[RawPage]:
        response = requests.get(self.config.url, timeout=5)
        response.raise_for_status()
        yield RawPage(stream=self.config.url, payload=response.json(), cursor={self.config.url: "read"})

    def map_page(self, page: RawPage) -> list[Mention]:
        return [
            Mention(
                source=self.name,
                id=post["id"],
                created_at=datetime.fromisoformat(post["at"]),
                author=AuthorRef(handle=post["by"]),
                text=post["text"],
                parent_id=post.get("parent"),
            )
            for post in page.payload
        ]


def forum_handle(handle: str) -> str:
    """'@Acme_Team@forum.example' -> 'acme_team': accounts are written with their server."""
    return handle.strip().lstrip("@").split("@")[0].lower()


FORUM = SourceSpec(
    name="forum",
    label="Forum",
    factory=ForumConnector.from_settings,
    settings_model=ForumSource,
    own_handle=forum_handle,
    reply_kind="comment",
)
FORUM_TOML = ORG_TOML + 'forum = ["@Acme_Team@forum.example"]\n'  # ORG_TOML ends in [organization.own_accounts]


@pytest.fixture
def forum() -> Iterator[SourceSpec]:
    register(FORUM)
    yield FORUM
    unregister(FORUM.name)


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "listener.toml"
    path.write_text(text + f'\n[store]\npath = "{(tmp_path / "listener.duckdb").as_posix()}"\n', encoding="utf-8")
    return path


def test_a_registered_source_is_collected_and_its_own_posts_are_own(
    tmp_path: Path, feed_server: FeedServer, forum: SourceSpec
):
    at = (datetime.now(UTC) - timedelta(hours=3)).replace(microsecond=0)
    posts = [
        {"id": "1", "at": at.isoformat(), "by": "jane", "text": "Is acme coffee any good?"},
        {
            "id": "2",
            "at": (at + timedelta(minutes=5)).isoformat(),
            "by": "Acme_Team",
            "parent": "1",
            "text": "Thanks for asking about acme!",
        },
    ]
    feed_server.routes["/posts.json"] = Route(
        body=json.dumps(posts).encode(), headers={"Content-Type": "application/json"}
    )
    settings = load_settings(
        _config(tmp_path, FORUM_TOML + f'[sources.forum]\nenabled = true\nurl = "{feed_server.url("/posts.json")}"\n')
    )
    assert settings.sources.enabled() == ["forum"]
    assert settings.sources.forum.url == feed_server.url("/posts.json")
    assert settings.organization.own_accounts.for_source("forum") == ["acme_team"]  # the entry's rule
    assert source_label("forum") == "Forum"

    with open_store(settings.store) as store:
        report = pipeline.collect(store, settings)
    assert [(r.source, r.status, r.inserted) for r in report.runs] == [("forum", "ok", 2)]
    db = settings.store_path
    assert table_rows(db, "SELECT mention_id, is_own FROM mentions ORDER BY 1") == [
        ("forum:1", False),
        ("forum:2", True),
    ]
    assert table_rows(db, "SELECT author_id, is_own FROM authors ORDER BY 1") == [
        ("forum:@acme_team", True),
        ("forum:@jane", False),
    ]
    assert table_rows(db, "SELECT mention_id, kind, to_author_id FROM interactions") == [
        ("forum:2", "comment", "forum:@jane")
    ]


def test_a_registered_source_table_is_as_strict_as_the_others(tmp_path: Path, forum: SourceSpec):
    with pytest.raises(ConfigError, match=r"unknown key 'sources\.forum\.urll' \(did you mean 'url'\?\)"):
        load_settings(_config(tmp_path, FORUM_TOML + '[sources.forum]\nurll = "http://127.0.0.1/"\n'))


def test_an_unregistered_source_is_an_unknown_key_naming_the_known_ones(tmp_path: Path):
    known = ", ".join(source_names())
    with pytest.raises(ConfigError, match=rf"unknown key 'sources\.forum' \(known sources: {known}\)"):
        load_settings(_config(tmp_path, ORG_TOML + "[sources.forum]\nenabled = true\n"))
    with pytest.raises(ConfigError, match=r"unknown key 'organization\.own_accounts\.forum'"):
        load_settings(_config(tmp_path, FORUM_TOML))
    with pytest.raises(ConfigError, match=r"unknown key 'sources\.redit' \(did you mean 'reddit'\?\)"):
        load_settings(_config(tmp_path, ORG_TOML + "[sources.redit]\nenabled = true\n"))
