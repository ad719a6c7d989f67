"""Model choice for log-linear MSE.

- ``stepwise``: SparseMSE (Chan, Silverman & Vincent 2021). From main effects, for every pair
  (i, j) not in the model λ = Σ fitted μ over cells on both lists, N* the observed number on
  both, p = min(P(X ≤ N*), P(X ≥ N*)) for X ~ Poisson(λ) (one-sided); p = 1 when adding the
  pair fails the existence check; add the smallest p while p < threshold (default 0.02).
- ``aic-stepwise``: UK Home Office 2014 / modslavmse. Add the pair that lowers AIC most; stop,
  without adding it, when none lowers AIC or its Wald p-value exceeds the threshold (0.05).
- ``bic``: best BIC over every hierarchical model up to ``max_order`` (MultipleSystems-
  Estimation); models failing the existence check are dropped. Refuses search spaces larger
  than ``MAX_MODELS``.
- ``downhill``: greedy BIC search: from main effects, move to the best neighbour (add one
  admissible term of order ≤ max_order, or remove one maximal term) while BIC falls.
- ``main``: main effects only (independence; Rcapture's Mt).

Ties go to the first candidate in COUNTS column order (pairs i < j by i, then j).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np
from scipy import stats

from linkage.errors import EstimateDoesNotExist, MiglinkError

from .design import (CaptureTable, Model, all_pairs, closure, count_hierarchical_models,
                     generators, hierarchical_models)
from .loglinear import ModelFit, fit

METHODS = ("stepwise", "aic-stepwise", "bic", "downhill", "main")
DEFAULT_PTHRESH = {"stepwise": 0.02, "aic-stepwise": 0.05}
#: the largest model space ``bic`` enumerates (about a minute on one core)
MAX_MODELS = 40_000


@dataclass
class Selection:
    """The chosen model and every model tried, in the order tried."""

    method: str
    fit: ModelFit
    tried: list[ModelFit] = field(default_factory=list)


def _add(model: Model, term) -> Model:
    return closure(list(model) + [term])


class _Tried:
    def __init__(self, table: CaptureTable, record: bool):
        self.table, self.record = table, record
        self.fits: dict[Model, ModelFit] = {}
        self.order: list[ModelFit] = []

    def __call__(self, model: Model, warm: ModelFit | None = None) -> ModelFit:
        f = self.fits.get(model)
        if f is None:
            f = fit(self.table, model, warm=warm)
            self.fits[model] = f
            if self.record:
                self.order.append(f)
        return f


def _start(table: CaptureTable, tried: _Tried) -> ModelFit:
    f = tried(())
    if not f.ok:
        raise EstimateDoesNotExist(f"main-effects model has no estimate: {f.reason()}")
    return f


def stepwise(table: CaptureTable, pthresh: float = 0.02, *, record: bool = True) -> Selection:
    tried = _Tried(table, record)
    cur = _start(table, tried)
    pairs = all_pairs(table.k)
    P = table.patterns
    while True:
        cand = [p for p in pairs if p not in cur.terms]
        if not cand:
            break
        mu_full = np.zeros(len(table.counts))
        mu_full[cur.keep] = cur.mu
        C = P[:, [c[0] for c in cand]] & P[:, [c[1] for c in cand]]   # cells × candidates
        lam = mu_full @ C
        nst = table.counts @ C
        pv = list(np.minimum(stats.poisson.cdf(nst, lam), stats.poisson.sf(nst - 1, lam)))
        # equal p-values up to rounding noise are ties: the first pair in column order wins
        order = np.argsort(np.round(np.asarray(pv), 12), kind="stable")
        moved = False
        for idx in order:
            if pv[idx] >= pthresh:
                break
            f = tried(_add(cur.terms, cand[idx]), cur)
            if f.ok:
                cur, moved = f, True
                break
        if not moved:
            break
    return Selection("stepwise", cur, tried.order)


def _wald_p(f: ModelFit, term) -> float:
    """Two-sided Wald p-value of the coefficient of ``term``. A −∞ term (empty overlap) has
    no finite Wald statistic: an ordinary GLM gives it a huge SE, so p = 1 (modslavmse)."""
    if term in f.neg_inf_terms:
        return 1.0
    est = [t for t in f.terms if t not in f.neg_inf_terms]
    k = 1 + f.table.k + est.index(term)
    z = f.beta[k] / np.sqrt(f.cov[k, k])
    return float(2 * stats.norm.sf(abs(z)))


def aic_stepwise(table: CaptureTable, pthresh: float = 0.05, *,
                 record: bool = True) -> Selection:
    tried = _Tried(table, record)
    cur = _start(table, tried)
    while True:
        best, best_term = None, None
        for pair in all_pairs(table.k):
            if pair in cur.terms:
                continue
            f = tried(_add(cur.terms, pair), cur)
            if f.ok and (best is None or f.aic < best.aic):
                best, best_term = f, pair
        if best is None or best.aic >= cur.aic or _wald_p(best, best_term) > pthresh:
            break
        cur = best
    return Selection("aic-stepwise", cur, tried.order)


def bic_search(table: CaptureTable, max_order: int = 2, *, record: bool = True) -> Selection:
    n = count_hierarchical_models(table.k, max_order, MAX_MODELS)
    if n is None:
        raise MiglinkError(
            f"bic: more than {MAX_MODELS:,} hierarchical models on {table.k} lists up to order "
            f"{max_order}; use --method downhill or stepwise, or a lower --max-order")
    tried = _Tried(table, record)
    best = None
    for model in hierarchical_models(table.k, max_order):
        f = tried(model, tried.fits.get(model[:-1]))
        if f.ok and (best is None or f.bic < best.bic):
            best = f
    if best is None:
        raise EstimateDoesNotExist("bic: no model up to order "
                                   f"{max_order} has an estimate")
    return Selection("bic", best, tried.order)


def _neighbours(model: Model, k: int, max_order: int):
    have = set(model)
    adds = []
    for r in range(2, max_order + 1):
        for t in combinations(range(k), r):
            if t not in have and all(s in have for s in combinations(t, r - 1) if len(s) >= 2):
                adds.append(closure(list(model) + [t]))
    removes = []
    for g in sorted(generators(model), key=lambda t: (len(t), t)):
        removes.append(tuple(t for t in model if t != g))
    return adds + removes


def downhill(table: CaptureTable, max_order: int = 2, *, record: bool = True) -> Selection:
    tried = _Tried(table, record)
    cur = _start(table, tried)
    while True:
        best = None
        for m in _neighbours(cur.terms, table.k, max_order):
            f = tried(m, cur)
            if f.ok and (best is None or f.bic < best.bic):
                best = f
        if best is None or best.bic >= cur.bic:
            break
        cur = best
    return Selection("downhill", cur, tried.order)


def main_effects(table: CaptureTable, *, record: bool = True) -> Selection:
    tried = _Tried(table, record)
    return Selection("main", _start(table, tried), tried.order)


def fixed(table: CaptureTable, model: Model) -> Selection:
    f = fit(table, model)
    return Selection("fixed", f, [f])


def select(table: CaptureTable, method: str = "stepwise", *, pthresh: float | None = None,
           max_order: int = 2, record: bool = True) -> Selection:
    """Run one of ``METHODS`` on ``table``."""
    if method == "stepwise":
        return stepwise(table, DEFAULT_PTHRESH[method] if pthresh is None else pthresh,
                        record=record)
    if method == "aic-stepwise":
        return aic_stepwise(table, DEFAULT_PTHRESH[method] if pthresh is None else pthresh,
                            record=record)
    if method == "bic":
        return bic_search(table, max_order, record=record)
    if method == "downhill":
        return downhill(table, max_order, record=record)
    if method == "main":
        return main_effects(table, record=record)
    raise MiglinkError(f"unknown MSE method {method!r} (one of {', '.join(METHODS)})")
