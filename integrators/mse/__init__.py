"""Multiple systems estimation (capture-recapture with K ≥ 2 lists).

Log-linear models, model choice, existence checks and intervals follow the conventions of
shared/reference/mse/README.md (SparseMSE, MultipleSystemsEstimation, Rcapture, modslavmse).

Public API (imported lazily):
- ``estimate_from_histories(df, lists, strata=None, method="stepwise", ...) -> dict``
- ``estimate_counts(df, lists, strata=None, ...)``, ``estimate_table(CaptureTable, ...)``
- ``MSEstimator``, ``CaptureTable``, ``LCMCR``, ``TwoListEstimate``
- ``linkage_aware_estimate(records, pairs, lists, draws=100, ...)``
- ``mse_chart_svg(result) -> str``
- ``closedp_table(table)`` (Rcapture closedp.t heterogeneity models M0, Mt, Mh, Mth)
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "estimate_from_histories": ".estimate", "estimate_counts": ".estimate",
    "estimate_table": ".estimate", "MSEstimator": ".estimate", "CaptureTable": ".design",
    "LCMCR": ".lcmcr", "TwoListEstimate": ".twolist",
    "linkage_aware_estimate": ".linkage_aware", "mse_chart_svg": ".chart",
    "counts_from_histories": ".histories", "histories_from_clusters": ".histories",
    "closedp_table": ".heterogeneity",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    raise AttributeError(name)
