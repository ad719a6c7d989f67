"""Bootstrap with the model selection repeated in every replicate (BCa intervals).

Replicates are multinomial resamples of the n observed capture histories (the observed
pattern proportions); each replicate re-runs the whole selection and records its Poisson
estimate. The BCa acceleration comes from a count-weighted jackknife: deleting one person
with pattern c (re-running the selection) gives θ̂₍c₎, weighted by the count of c
(Efron 1987; Chan, Silverman & Vincent 2021 use the same scheme for SparseMSE).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from linkage.errors import MiglinkError

from .design import CaptureTable
from .intervals import bca_interval

Estimator = Callable[[CaptureTable], float]


def _safe(estimator: Estimator, table: CaptureTable) -> float:
    try:
        v = float(estimator(table))
    except (MiglinkError, ArithmeticError, ValueError, np.linalg.LinAlgError):
        return float("nan")
    return v if np.isfinite(v) else float("nan")


class Bootstrap:
    """Replicate estimates and jackknife values for one table.

    Parameters: ``estimator`` maps a table to N̂ (selection included); ``replicates``;
    ``rng`` a ``numpy.random.Generator``. Results: ``replicates_`` (NaN where no model had an
    estimate), ``jackknife_``, ``jack_weights_``, ``failed_``."""

    def __init__(self, estimator: Estimator, replicates: int = 1000,
                 rng: np.random.Generator | None = None):
        self.estimator, self.replicates = estimator, int(replicates)
        self.rng = rng if rng is not None else np.random.default_rng(1)

    def run(self, table: CaptureTable) -> "Bootstrap":
        n = int(round(table.n))
        p = table.counts / table.counts.sum()
        draws = self.rng.multinomial(n, p, size=self.replicates)
        self.replicates_ = np.array([_safe(self.estimator, table.with_counts(d))
                                     for d in draws])
        cells = np.flatnonzero(table.counts > 0)
        jack = []
        for c in cells:
            y = table.counts.copy()
            y[c] -= 1
            jack.append(_safe(self.estimator, table.with_counts(y)))
        self.jackknife_ = np.array(jack)
        self.jack_weights_ = table.counts[cells]
        self.failed_ = int(np.sum(~np.isfinite(self.replicates_)))
        return self

    def interval(self, theta_hat: float, level: float = 0.95) -> tuple[float, float]:
        return bca_interval(theta_hat, self.replicates_, self.jackknife_,
                            self.jack_weights_, level)
