"""igraph, imported without its plotting backends.

`import igraph` imports matplotlib and pyplot (about 0.3 s, most of igraph's import) to offer graph
plots, which listener never draws: every `analyze` process would pay for it. With matplotlib
marked missing while igraph is imported, igraph keeps a stand-in for its plotting module; the
digest's charts import the real matplotlib later as usual. Scheduler jobs run one at a time, so
no other thread imports matplotlib in that instant.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def _import_igraph() -> ModuleType:
    hidden = "matplotlib" not in sys.modules
    if hidden:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]  # `import matplotlib` raises ImportError
    try:
        import igraph
    finally:
        if hidden:
            del sys.modules["matplotlib"]
    return igraph


ig: Any = _import_igraph()  # untyped; modules of this package `import igraph` after it
