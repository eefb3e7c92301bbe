"""`listener --help`, `status` and `sql` start without the analytics, the connectors or their heavy
libraries (igraph; praw, tweepy, feedparser): most tests and every cron line start the CLI in a
new process. Checked by what a fresh interpreter has imported, never by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

from listener.core.settings import load_settings
from listener.publish.snapshot import snapshot_store
from listener.store.connection import open_store

# The source registry (connectors.registry, connectors.settings) loads with the package, so settings
# can validate every [sources.*]; the connectors themselves and their libraries must not.
HEAVY = (
    "analytics",
    "connectors.rss",
    "connectors.x",
    "connectors.reddit",
    "igraph",
    "matplotlib",
    "praw",
    "tweepy",
    "feedparser",
)

IMPORT_ONLY = f"""
import json, sys
import listener.cli.app
print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))
"""

# The real entry point; `listener sql` ends by handing the process to the DuckDB shell (os.execv),
# so the probe reports at that moment instead of becoming the shell.
COMMAND = f"""
import json, os, sys

def report(outcome):
    print(json.dumps({{"outcome": outcome, "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
    sys.stdout.flush()
    os._exit(0)

os.execv = lambda path, argv: report("exec " + os.path.basename(path))
from listener.cli.app import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    report(exc.code)
report(0)
"""


def _last_json_line(proc: subprocess.CompletedProcess[str]) -> object:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _probe(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "LISTENER_CONFIG": ""},
    )


def test_importing_the_cli_loads_no_analytics_connectors_or_their_libraries():
    assert _last_json_line(_probe(IMPORT_ONLY)) == []


@pytest.fixture
def store_with_snapshot(config_for) -> Path:
    """A real, empty store and its analysts' snapshot (what `listener sql` opens)."""
    config = config_for()
    settings = load_settings(config)
    with open_store(settings.store):
        pass
    snapshot_store(settings.store, settings.store_path.parent / "snapshot")
    return config


@pytest.mark.parametrize(
    "args, outcome",
    [
        (["--help"], 0),
        (["status", "--json"], 0),
        (["sql", "-c", "SELECT 1"], "exec duckdb"),
        (["sql", "--live", "-c", "SELECT 1"], "exec duckdb"),
    ],
)
def test_light_commands_run_without_analytics_connectors_or_their_libraries(store_with_snapshot, args, outcome):
    result = _last_json_line(_probe(COMMAND, "--config", str(store_with_snapshot), *args))
    assert result == {"outcome": outcome, "loaded": []}


GRAPH_STEPS = """
import json, sys
import analytics.network.communities, analytics.network.shapes
before = "matplotlib" in sys.modules
from analytics.network.igraph_quiet import ig
members = ig.Graph(n=3, edges=[(0, 1)]).connected_components().membership
from matplotlib.figure import Figure  # the digest's charts, later in the same process
Figure().add_subplot().plot([1, 2])
print(json.dumps({"matplotlib_with_igraph": before, "members": members}))
"""


def test_the_graph_steps_load_igraph_without_matplotlib_and_the_charts_still_draw():
    """igraph imports matplotlib to offer plots (about 0.3 s a process); the analysis never plots a graph."""
    assert _last_json_line(_probe(GRAPH_STEPS)) == {"matplotlib_with_igraph": False, "members": [0, 0, 1]}
