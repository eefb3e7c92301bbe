"""The `listener` command line (listener.cli.app).

The command-family modules import Context, emit and the exit codes from app, and app registers
them at its end; loading app first makes any import order work (e.g. `import listener.cli.collect`).
"""

from listener.cli import app as app  # noqa: F401
