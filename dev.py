#!/usr/bin/env python3
"""Set up a fresh clone and run the demo or the tests: the README's two commands.

    python3 dev.py demo     # venv + install + `listener demo`
    python3 dev.py test     # venv + install (with test extras) + pytest

Needs nothing but Python 3.11+. The virtualenv lives in .venv; it is
reinstalled only when pyproject.toml changes.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"listener needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("dev.py: creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print("dev.py: installing listener and its dependencies into .venv", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "-e", f"{ROOT}[test]"], check=True)
    stamp.write_text(wanted)


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("demo", "test"):
        print(__doc__)
        return 2
    ensure_env()
    if command == "demo":
        return subprocess.call([str(BIN / "listener"), "demo", *argv[1:]], cwd=ROOT)
    return subprocess.call([str(PYTHON), "-m", "pytest", *argv[1:]], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
