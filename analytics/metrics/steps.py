"""Metrics the `listener analyze` step computes after sentiment: spike alerts and KPIs.

The entry points the pipeline calls; the work lives in `analytics.metrics.spikes`
(robust z-scores of daily volume and negative counts -> `alerts`) and
`analytics.metrics.kpis` (3-5 KPIs per ISO week against a baseline recorded once ->
`kpi_baselines`, `kpi_values`). Both own their transaction and recompute
everything they write, so a rerun converges. The analyst views are in
`analytics.metrics.views`. Definitions: docs/analytics-metrics.md.
"""

from __future__ import annotations

from analytics.metrics.kpis import KPI_SQL, update_kpis
from analytics.metrics.spikes import detect_spikes

__all__ = ["KPI_SQL", "detect_spikes", "update_kpis"]
