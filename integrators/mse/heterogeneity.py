"""Closed-population models with capture heterogeneity (Rcapture ``closedp.t``; Rivest &
Baillargeon 2007, Baillargeon & Rivest 2007 J. Stat. Softw. 19(5)).

Log-linear Poisson models on the 2^K − 1 patterns whose design depends on the number of lists
a pattern is on, k: M0 (one column k), Mt (the list indicators, = the independence model),
Mh/Mth adding a heterogeneity column of k — Poisson(a): a^k − 1, Darroch: k²/2,
Gamma(θ): −log(θ + k) + log θ, Chao lower bound: max(k − j + 1, 0) for j = 3..K with columns
whose coefficient is negative removed one at a time (Rcapture's ``neg = TRUE``). Estimates
N̂ = n + exp(β̂0), SE, deviance, df, AIC and BIC = −2ℓ + npar·{2, log n}.
"""

from __future__ import annotations

import numpy as np

from .design import CaptureTable
from .loglinear import deviance, irls, poisson_loglik


def _het_columns(k: np.ndarray, h: str, K: int) -> np.ndarray:
    if h == "Poisson2":
        return (2.0 ** k - 1)[:, None]
    if h == "Darroch":
        return (k ** 2 / 2.0)[:, None]
    if h == "Gamma3.5":
        return (-np.log(3.5 + k) + np.log(3.5))[:, None]
    if h == "Chao":
        return np.column_stack([np.maximum(k - j + 1, 0) for j in range(3, K + 1)]) \
            if K >= 3 else np.zeros((len(k), 0))
    raise ValueError(h)


def closedp_row(table: CaptureTable, model: str) -> dict:
    """One row of Rcapture's closedp.t table: model in M0, Mt, Mh <h>, Mth <h> with h one of
    Chao, Poisson2, Darroch, Gamma3.5."""
    P = table.patterns.astype(float)
    k = P.sum(axis=1)
    base, _, h = model.partition(" ")
    if base == "M0":
        X = k[:, None]
    elif base == "Mt":
        X = P
    elif base == "Mh":
        X = np.column_stack([k, _het_columns(k, h, table.k)])
    elif base == "Mth":
        X = np.column_stack([P, _het_columns(k, h, table.k)])
    else:
        raise ValueError(model)
    nbase = 1 if base in ("M0", "Mh") else table.k
    X = np.column_stack([np.ones(len(P)), X])
    y = table.counts
    beta, mu, cov = irls(X, y)
    if h == "Chao":                      # drop negative heterogeneity effects, first one first
        while True:
            eta = beta[1 + nbase:]
            neg = np.flatnonzero(eta < 0)
            if len(neg) == 0:
                break
            X = np.delete(X, 1 + nbase + neg[0], axis=1)
            beta, mu, cov = irls(X, y)
    e = float(np.exp(beta[0]))
    ll = poisson_loglik(y, mu)
    npar = X.shape[1]
    return {"model": model, "N": table.n + e, "se": float(np.sqrt(e + e * e * cov[0, 0])),
            "deviance": deviance(y, mu), "df": int(len(y) - npar),
            "AIC": 2 * npar - 2 * ll, "BIC": npar * np.log(table.n) - 2 * ll}


CLOSEDP_MODELS = ("M0", "Mt", "Mh Chao", "Mh Poisson2", "Mh Darroch", "Mh Gamma3.5",
                  "Mth Chao", "Mth Poisson2", "Mth Darroch", "Mth Gamma3.5")


def closedp_table(table: CaptureTable) -> list[dict]:
    """Rcapture closedp.t's log-linear rows (Mb and Mbh need capture order: not here)."""
    return [closedp_row(table, m) for m in CLOSEDP_MODELS]
