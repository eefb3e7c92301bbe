"""dev.py says what it is doing while pip installs: step names, elapsed seconds, pip's phase."""

from __future__ import annotations

import importlib.util
import re
import sys

from conftest import ROOT

spec = importlib.util.spec_from_file_location("dev", ROOT / "dev.py")
dev = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dev)

# A process that writes what `pip install` writes, at pip's pace (a pause where pip downloads).
PIP_LIKE = """
import sys, time
for line in ["Obtaining file:///work/main", "Collecting duckdb<1.6,>=1.5.5", "Collecting pyarrow<30,>=15",
             "Requirement already satisfied: click<9,>=8.1 in ./.venv/lib/python3.11/site-packages"]:
    print(line, flush=True)
time.sleep(1.6)
print("Building wheels for collected packages: listener", flush=True)
print("Installing collected packages: duckdb, pyarrow, listener", flush=True)
time.sleep(0.3)
print("Successfully installed duckdb-1.5.5 listener-0.1.0 pyarrow-22.0.0", flush=True)
sys.exit(int(sys.argv[1]))
"""


def test_install_progress_names_the_step_the_phase_and_the_seconds(capsys):
    code = dev.run_with_progress([sys.executable, "-c", PIP_LIKE, "0"], "step 2/2", heartbeat=0.5)
    assert code == 0
    out = capsys.readouterr().out.splitlines()
    assert all(line.startswith("dev.py: step 2/2") for line in out)
    assert any(re.search(r"\[\s*\d+s\] collecting packages: 3 so far \(latest: click<9,>=8.1\)", line) for line in out)
    assert any("installing 3 packages" in line for line in out)
    assert re.fullmatch(r"dev.py: step 2/2 done in \d+s: installed 3 packages", out[-1])
    # during the pause, the heartbeat repeats where pip is instead of going quiet
    assert sum("collecting packages: 3 so far" in line for line in out) >= 2


def test_a_failed_install_shows_pips_own_last_lines(capsys):
    assert dev.run_with_progress([sys.executable, "-c", PIP_LIKE, "1"], "step 2/2", heartbeat=5) == 1
    captured = capsys.readouterr()
    assert "Successfully installed duckdb-1.5.5" in captured.err
    assert "done in" not in captured.out
