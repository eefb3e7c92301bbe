"""The import contract between layers (docs/architecture.md): data flows one way.

core -> store -> ingest -> pipeline -> publish / ops / cli, with connectors and
analytics beside them. Every import counts, also one inside a function: a lazy
import upward is still a dependency upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("listener", "connectors", "analytics")

# layer (a folder or module under ROOT) -> project packages it may import besides itself
ALLOWED: dict[str, tuple[str, ...]] = {
    "listener/core": (),
    "listener/store": ("listener.core",),
    "listener/ingest": ("listener.core", "listener.store"),
    "connectors": ("listener.core",),
    "analytics": ("listener.core", "listener.store"),
    "listener/publish": ("listener.core", "listener.store", "listener.ingest", "analytics"),
    "listener/pipeline.py": (
        "listener.core",
        "listener.store",
        "listener.ingest",
        "listener.publish",
        "connectors",
        "analytics",
    ),
    "listener/ops": ("listener.core", "listener.store", "listener.ingest", "listener.publish", "listener.pipeline"),
    "listener/cli": (
        "listener.core",
        "listener.store",
        "listener.ingest",
        "listener.publish",
        "listener.pipeline",
        "listener.ops",
        "listener.cli",
        "analytics",
        "connectors",
    ),
}


def _module_name(layer: str) -> str:
    return layer.removesuffix(".py").replace("/", ".")


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every module a file imports, absolute names (relative imports resolved against the file)."""
    found: set[str] = set()
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            # `from listener import pipeline` depends on listener.pipeline, not on the bare package
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def violations(root: Path, allowed: dict[str, tuple[str, ...]]) -> list[str]:
    """`file imports module` lines for every import of a project package a layer may not use."""
    bad = []
    for layer, permitted in allowed.items():
        target = root / layer
        files = [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))
        own = _module_name(layer)
        for path in files:
            for module in sorted(imported_modules(path, root)):
                if not module.startswith(PROJECT) or not any(_within(module, p) for p in PROJECT):
                    continue
                if _within(module, own) or any(_within(module, p) for p in permitted):
                    continue
                bad.append(f"{path.relative_to(root)} imports {module}")
    return bad


def test_no_layer_imports_upward():
    assert violations(ROOT, ALLOWED) == []


def test_every_module_belongs_to_a_layer():
    """A new top-level module under listener/ must be placed in a layer, not slip past the contract."""
    covered = {ROOT / layer for layer in ALLOWED}
    loose = [
        p.name
        for p in (ROOT / "listener").iterdir()
        if p.suffix == ".py" and p not in covered and p.name not in ("__init__.py", "__main__.py")
    ]
    folders = [
        p.name
        for p in (ROOT / "listener").iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p not in covered
    ]
    assert loose == [] and folders == []


@pytest.mark.parametrize(
    "layer, line",
    [
        ("listener/core", "from listener.store.connection import Store"),
        ("listener/store", "from analytics.metrics import views"),
        ("listener/ingest", "import listener.publish.snapshot"),
        ("connectors", "from listener.store.gate import StoreGate"),
        ("analytics", "from connectors import REGISTRY"),
        ("analytics", "def later():\n    from listener.ingest.loader import load_batch"),
    ],
)
def test_the_contract_catches_an_upward_import(tmp_path, layer, line):
    """The checker itself: an upward import, even a lazy one, is reported with its file."""
    for folder in ALLOWED:
        target = tmp_path / folder
        if target.suffix != ".py":
            target.mkdir(parents=True, exist_ok=True)
    (tmp_path / layer / "bad.py").write_text(line + "\n", encoding="utf-8")
    (tmp_path / layer / "fine.py").write_text(
        "import json\nfrom listener.core.errors import ConfigError\n", encoding="utf-8"
    )
    found = violations(tmp_path, {k: v for k, v in ALLOWED.items() if not k.endswith(".py")})
    assert len(found) == 1 and found[0].startswith(f"{layer}/bad.py imports ")
