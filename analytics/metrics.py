"""Metrics the `listener analyze` step computes after sentiment: spike alerts and KPIs.

The entry points the pipeline calls; the work lives in `analytics.spikes`
(robust z-scores of daily volume and negative counts -> `alerts`) and
`analytics.kpis` (3-5 KPIs per ISO week against a baseline recorded once ->
`kpi_baselines`, `kpi_values`). Both own their transaction and recompute
everything they write, so a rerun converges. The analyst views are in
`analytics.views`. Definitions: docs/analytics-metrics.md.
"""
from __future__ import annotations

from analytics.kpis import KPI_SQL, update_kpis
from analytics.spikes import detect_spikes

__all__ = ["KPI_SQL", "detect_spikes", "update_kpis"]
