"""Meta-tests against drift: import direction, registry, commands documented."""

from __future__ import annotations

import ast
from pathlib import Path

from click import Group

from connectors import REGISTRY
from connectors.base import Connector
from listener.cli.app import cli
from listener.core.settings import settings_from_dict

ROOT = Path(__file__).resolve().parent.parent


def _imports(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((path.name, node.module))
            elif isinstance(node, ast.Import):
                found.update((path.name, alias.name) for alias in node.names)
    return found


def test_connectors_never_import_store_pipeline_or_analytics():
    bad = {
        (f, m)
        for f, m in _imports("connectors")
        if m.startswith(
            ("analytics", "listener.store.connection", "listener.pipeline", "listener.ingest.loader", "duckdb")
        )
    }
    assert not bad


def test_analytics_never_imports_connectors():
    assert not {(f, m) for f, m in _imports("analytics") if m.startswith("connectors")}


def test_registry_entries_satisfy_the_protocol():
    settings = settings_from_dict({"organization": {"name": "A", "brand_terms": ["a"]}})
    for name, factory in REGISTRY.items():
        connector = factory(settings)
        assert isinstance(connector, Connector)
        assert connector.name == name


def test_every_command_is_in_the_readme_and_has_help_with_an_example():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert isinstance(cli, Group)
    for name, command in cli.commands.items():
        assert f"listener {name}" in readme, f"README does not mention `listener {name}`"
        assert "Example" in (command.help or ""), f"`listener {name} --help` has no example"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 dev.py test" in readme and "python3 dev.py test" in ci
    assert "python3 dev.py demo" in readme
