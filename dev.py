#!/usr/bin/env python3
"""Set up a fresh clone and run the demo or the tests: the README's two commands.

    python3 dev.py demo     # venv + install + `listener demo`
    python3 dev.py test     # venv + install (with test extras) + pytest on parallel workers
    python3 dev.py lint     # ruff check, ruff format --check, mypy (configured in pyproject.toml)

Needs nothing but Python 3.11+. The virtualenv lives in .venv; it is
reinstalled only when pyproject.toml changes. While it installs, each step is
named with the seconds since it started, and pip's progress is summed up every
few seconds (packages collected, then installed), so a first install that
takes a minute or two never looks stuck.
"""

from __future__ import annotations

import hashlib
import os
import queue
import subprocess
import sys
import threading
import time
import venv
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
HEARTBEAT_SECONDS = 10.0


def say(message: str) -> None:
    print(f"dev.py: {message}", flush=True)


def ensure_env() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"listener needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    started = time.monotonic()
    if not PYTHON.exists():
        say(f"step 1/2: creating the virtualenv .venv (Python {sys.version.split()[0]})")
        venv.EnvBuilder(with_pip=True).create(VENV)
        say(f"step 1/2 done in {time.monotonic() - started:.0f}s")
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    say(
        "step 2/2: installing listener and its dependencies into .venv with pip (about 70 packages, "
        "among them duckdb, pyarrow, matplotlib and igraph; a first install takes a minute or two)"
    )
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check"]
    code = run_with_progress([*pip, "install", "--progress-bar", "off", "-e", f"{ROOT}[test]"], "step 2/2")
    if code != 0:
        sys.exit(f"dev.py: pip failed (exit {code}); its output is above. Fix the cause and run dev.py again")
    stamp.write_text(wanted)
    say(f"ready in {time.monotonic() - started:.0f}s")


def run_with_progress(command: list[str], step: str, heartbeat: float = HEARTBEAT_SECONDS) -> int:
    """Run pip, printing what it is doing with the elapsed time: a line when its phase changes and
    one every `heartbeat` seconds; on failure, pip's last 40 lines. Returns pip's exit code."""
    started = time.monotonic()
    lines: queue.Queue[str | None] = queue.Queue()
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        bufsize=1,
    )

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip())
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    tail: deque[str] = deque(maxlen=40)
    progress = PipProgress()
    last_print = started
    while True:
        try:
            line = lines.get(timeout=min(1.0, heartbeat))
        except queue.Empty:
            line = ""
        if line is None:
            break
        if line:
            tail.append(line)
        changed = progress.feed(line)
        now = time.monotonic()
        if changed or now - last_print >= heartbeat:
            say(f"{step} [{now - started:3.0f}s] {progress.describe()}")
            last_print = now
    code = process.wait()
    if code == 0:
        say(f"{step} done in {time.monotonic() - started:.0f}s: {progress.describe()}")
    else:
        print("\n".join(tail), file=sys.stderr, flush=True)
    return code


class PipProgress:
    """pip's output summed up: which phase it is in and how many packages it has seen."""

    def __init__(self) -> None:
        self.phase = "starting pip"
        self.collected = 0
        self.latest = ""
        self.installed = 0

    def feed(self, line: str) -> bool:
        """Take one output line; True when the phase changed (worth a line of its own)."""
        text = line.strip()
        before = self.phase
        if text.startswith(("Collecting ", "Requirement already satisfied: ")):
            self.collected += 1
            self.latest = text.split()[1 if text.startswith("Collecting") else 3].split(";")[0]
            self.phase = "collecting packages"
        elif text.startswith(("Building wheel", "Building editable", "Getting requirements", "Preparing")):
            self.phase = "building listener"
        elif text.startswith("Installing collected packages:"):
            self.installed = len(text.split(":", 1)[1].split(","))
            self.phase = "installing packages"
        elif text.startswith("Successfully installed"):
            self.installed = len(text.split()) - 2
            self.phase = "installed"
        return self.phase != before

    def describe(self) -> str:
        if self.phase == "collecting packages":
            return f"collecting packages: {self.collected} so far (latest: {self.latest})"
        if self.phase == "installing packages":
            return f"installing {self.installed} packages (unpacking; the slowest part)"
        if self.phase == "installed":
            return f"installed {self.installed} packages"
        return self.phase


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command not in ("demo", "test", "lint"):
        print(__doc__)
        return 2
    ensure_env()
    if command == "demo":
        say("running `listener demo` (about 15 seconds)")
        return subprocess.call([str(BIN / "listener"), "demo", *argv[1:]], cwd=ROOT)
    if command == "lint":
        return lint()
    return run_tests(argv[1:])


def lint() -> int:
    """The checks CI runs before the tests; each names what it found. Exit 1 if any failed."""
    checks = [
        ("ruff check", ["-m", "ruff", "check", "."]),
        ("ruff format --check", ["-m", "ruff", "format", "--check", "."]),
        ("mypy", ["-m", "mypy"]),
    ]
    failed = []
    for name, args in checks:
        say(f"lint: {name}")
        if subprocess.call([str(PYTHON), *args], cwd=ROOT) != 0:
            failed.append(name)
    say(f"lint: failed: {', '.join(failed)}" if failed else "lint: all clean")
    return 1 if failed else 0


def test_workers() -> int:
    """pytest-xdist workers: the suite waits on subprocesses, servers and sockets much of the time,
    so twice the cores (at least 4) keeps both cores of a small machine busy."""
    return min(8, max(4, 2 * (os.cpu_count() or 1)))


def run_tests(extra: list[str]) -> int:
    """pytest on parallel workers (unless the arguments choose: `-n 0` runs in one process);
    prints the suite's wall time, which CI shows."""
    chosen = any(a == "-n" or a.startswith(("-n", "--numprocesses")) for a in extra)
    workers = [] if chosen else ["-n", str(test_workers())]
    started = time.monotonic()
    say(f"running the test suite ({'as asked' if chosen else f'{workers[1]} workers'})")
    # The suite starts a few hundred Python processes (workers, CLI runs): with bytecode caching on
    # (some machines turn it off with PYTHONDONTWRITEBYTECODE) each imports compiled modules and
    # pytest's rewritten tests instead of compiling them again (__pycache__ is ignored by git).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    code = subprocess.call([str(PYTHON), "-m", "pytest", *workers, *extra], cwd=ROOT, env=env)
    minutes, seconds = divmod(round(time.monotonic() - started), 60)
    say(f"test suite finished in {minutes}m{seconds:02d}s (exit {code})")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
