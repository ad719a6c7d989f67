"""Raking: iterative proportional fitting (IPF) of a table to known margins.

Deming & Stephan (1940), "On a least squares adjustment of a sampled frequency table when
the expected marginal totals are known", Ann. Math. Statist. 11(4):427-444.  Each cycle
scales the table so that each margin in turn is met exactly; with consistent margins and a
seed whose zero pattern allows them, the cycles converge to the unique table of the form
seed x (one factor per margin) that meets every margin (Bishop, Fienberg & Holland 1975,
ch. 3): the closest table to the seed in Kullback-Leibler divergence, which keeps the
seed's interactions not fixed by the margins (e.g. a 2x2 table's cross-product ratio).

Margins must be consistent (same grand total; margins that share axes agree on their
common sub-margin).  :func:`check_margins` says which are not; inconsistent margins have
no raking solution and belong to the weighted least-squares route (integrators.accounts).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from linkage.errors import MiglinkError

Margin = tuple[Sequence[int], np.ndarray]


def _margin_of(table: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    other = tuple(a for a in range(table.ndim) if a not in axes)
    m = table.sum(axis=other)
    # table.sum keeps the remaining axes in increasing order; reorder to `axes`
    order = np.argsort(np.argsort(axes))
    return np.transpose(m, order) if m.ndim > 1 else m


def check_margins(margins: Sequence[Margin], shape: Sequence[int],
                  rtol: float = 1e-9) -> list[str]:
    """Problems that make the margins inconsistent (an empty list when they are consistent).

    Checks each target's shape, non-negativity, equal grand totals, and that every two
    margins agree on the sub-margin over their common axes.
    """
    problems: list[str] = []
    ms = [(tuple(int(a) for a in ax), np.asarray(t, float)) for ax, t in margins]
    for i, (ax, t) in enumerate(ms):
        want = tuple(shape[a] for a in ax)
        if t.shape != want:
            problems.append(f"margin {i} over axes {ax} has shape {t.shape}, expected {want}")
        elif (t < 0).any() or not np.isfinite(t).all():
            problems.append(f"margin {i} over axes {ax} has negative or non-finite values")
    if problems:
        return problems
    totals = [t.sum() for _, t in ms]
    scale = max([abs(x) for x in totals] + [1.0])
    for i in range(len(ms)):
        for j in range(i + 1, len(ms)):
            (ai, ti), (aj, tj) = ms[i], ms[j]
            common = tuple(a for a in ai if a in aj)
            si = _sub(ti, ai, common)
            sj = _sub(tj, aj, common)
            if not np.allclose(si, sj, rtol=0, atol=rtol * scale):
                what = f"axes {common}" if common else "the grand total"
                problems.append(f"margins {i} {ai} and {j} {aj} disagree on {what} "
                                f"(largest difference {np.abs(si - sj).max():g})")
    return problems


def _sub(t: np.ndarray, axes: tuple[int, ...], keep: tuple[int, ...]) -> np.ndarray:
    drop = tuple(k for k, a in enumerate(axes) if a not in keep)
    s = t.sum(axis=drop) if drop else t
    kept = [a for a in axes if a in keep]
    order = [kept.index(a) for a in keep]
    return np.transpose(s, order) if np.ndim(s) > 1 else s


class IPF:
    """Iterative proportional fitting of an N-dimensional table to margins.

    Parameters: ``margins`` — list of ``(axes, target)``, ``target`` indexed by ``axes`` in
    the order given (any number of dimensions, overlapping margins allowed); ``tol`` — stop
    when every margin is met to ``tol`` (absolute); ``max_iter`` — cycles at most.
    ``fit(seed)`` sets ``table_``, ``iterations_``, ``converged_``, ``max_error_`` (largest
    absolute margin error at the end) and ``history_`` (that error after each cycle).
    Inconsistent margins raise MiglinkError naming the disagreement (use GLS instead).
    """

    def __init__(self, margins: Sequence[Margin], tol: float = 1e-8, max_iter: int = 1000):
        self.margins = [(tuple(int(a) for a in ax), np.asarray(t, float)) for ax, t in margins]
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, seed) -> "IPF":
        x = np.array(seed, dtype=float)
        if (x < 0).any() or not np.isfinite(x).all():
            raise MiglinkError("raking seed must be finite and non-negative")
        problems = check_margins(self.margins, x.shape)
        if problems:
            raise MiglinkError("inconsistent margins, use GLS reconciliation instead: "
                               + "; ".join(problems))
        for i, (ax, t) in enumerate(self.margins):
            cur = _margin_of(x, ax)
            bad = (cur == 0) & (t > 0)
            if bad.any():
                cell = tuple(int(v) for v in np.argwhere(bad)[0])
                raise MiglinkError(f"margin {i} over axes {ax} wants {t[bad][0]:g} at {cell} "
                                   f"where the seed is all zero: no raking solution")
        history: list[float] = []
        converged = False
        it = 0
        for it in range(1, self.max_iter + 1):
            for ax, t in self.margins:
                cur = _margin_of(x, ax)
                f = np.divide(t, cur, out=np.zeros_like(t), where=cur > 0)
                # broadcast the factor over the axes not in the margin
                shape = [1] * x.ndim
                order = np.argsort(ax)
                fa = np.transpose(f, order) if f.ndim > 1 else f
                for a in sorted(ax):
                    shape[a] = x.shape[a]
                x *= fa.reshape(shape)
            err = max(float(np.abs(_margin_of(x, ax) - t).max()) for ax, t in self.margins)
            history.append(err)
            if err <= self.tol:
                converged = True
                break
        self.table_ = x
        self.iterations_ = it
        self.converged_ = converged
        self.max_error_ = history[-1] if history else 0.0
        self.history_ = history
        return self

    def report(self) -> str:
        """One line on convergence, for logs and the report."""
        state = "converged" if self.converged_ else "did NOT converge"
        return (f"IPF {state} after {self.iterations_} cycles; largest margin error "
                f"{self.max_error_:.3g} (tolerance {self.tol:g})")
