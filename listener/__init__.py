"""listener: a social listening pipeline into DuckDB."""

# The source registry fills the source catalogue (listener.core.sources) that settings validate
# `[sources.<name>]` and `[organization.own_accounts]` against. Importing it here, with the package,
# means it is complete before any code can load settings, whichever module a process imports first;
# core itself never imports connectors (the layer contract, tests/test_layers.py).
import connectors.registry  # noqa: F401
