"""Poisson log-linear models for multiple systems estimation.

Fits a hierarchical log-linear model to the 2^K − 1 observable capture-pattern counts by IRLS
(numpy). The dark figure is exp(β̂0), so N̂ = n + exp(β̂0) and
SE(N̂) = sqrt(e^β0 + e^{2β0} Var β̂0) (Cormack 1989; SparseMSE / Rcapture conventions).
Sparse tables (Chan, Silverman & Vincent 2021): a term no observed person shows is set to −∞,
every cell containing it is dropped, and the term still counts as a parameter in AIC/BIC.
AIC = 2·npar − 2ℓ and BIC = npar·log n − 2ℓ with the full Poisson log-likelihood
ℓ = Σ (y log μ − μ − log y!) over the cells kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import gammaln

from .design import CaptureTable, Model, design, generators, r_string, term_names
from .existence import CODE_REASONS, mle_exists, rank_deficient


class FitFailed(RuntimeError):
    """IRLS did not converge."""


def irls(X: np.ndarray, y: np.ndarray, beta0: np.ndarray | None = None, *,
         tol: float = 1e-10, max_iter: int = 100):
    """Poisson GLM (log link) by iteratively reweighted least squares.

    Returns (beta, mu, cov) where cov = (XᵀWX)⁻¹ at the fit."""
    y = np.asarray(y, dtype=float)
    if beta0 is not None:
        eta = X @ beta0
        eta = np.clip(eta, -700, 700)
        mu = np.exp(eta)
    else:
        mu = y + 0.5
        eta = np.log(mu)
    dev_old = np.inf
    beta = beta0
    for _ in range(max_iter):
        z = eta + (y - mu) / mu
        XW = X.T * mu
        H = XW @ X
        try:
            beta = np.linalg.solve(H, XW @ z)
        except np.linalg.LinAlgError as exc:
            raise FitFailed(str(exc)) from exc
        eta = np.clip(X @ beta, -700, 700)
        mu = np.exp(eta)
        pos = y > 0
        dev = 2.0 * (np.sum(y[pos] * np.log(y[pos] / mu[pos])) - np.sum(y - mu))
        if abs(dev - dev_old) <= tol * (abs(dev) + 0.1):
            break
        dev_old = dev
    else:
        raise FitFailed("IRLS did not converge")
    XW = X.T * mu
    cov = np.linalg.inv(XW @ X)
    return beta, mu, cov


def poisson_loglik(y: np.ndarray, mu: np.ndarray) -> float:
    pos = y > 0
    return float(np.sum(y[pos] * np.log(mu[pos])) - mu.sum() - gammaln(y + 1).sum())


def deviance(y: np.ndarray, mu: np.ndarray) -> float:
    pos = y > 0
    return float(2.0 * (np.sum(y[pos] * np.log(y[pos] / mu[pos])) - np.sum(y - mu)))


@dataclass
class ModelFit:
    """A fitted (or refused) log-linear model. ``code`` ≠ 0 means no estimate."""

    table: CaptureTable
    terms: Model                       # hierarchical closure (interactions only)
    neg_inf_terms: Model               # terms with empty overlap, set to −∞
    keep: np.ndarray                   # boolean mask of observable cells kept
    code: int
    beta: np.ndarray | None = None
    cov: np.ndarray | None = None
    mu: np.ndarray | None = None       # fitted values on the kept cells
    npar: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code == 0 and self.beta is not None

    @property
    def n(self) -> float:
        return self.table.n

    @property
    def unobserved(self) -> float:
        return float(np.exp(self.beta[0])) if self.ok else float("nan")

    @property
    def estimate(self) -> float:
        return self.n + self.unobserved if self.ok else float("nan")

    @property
    def se_beta0(self) -> float:
        return float(np.sqrt(self.cov[0, 0])) if self.ok else float("nan")

    @property
    def se(self) -> float:
        if not self.ok:
            return float("nan")
        e = self.unobserved
        return float(np.sqrt(e + e * e * self.cov[0, 0]))

    @property
    def y(self) -> np.ndarray:
        return self.table.counts[self.keep]

    @property
    def deviance(self) -> float:
        return deviance(self.y, self.mu) if self.ok else float("nan")

    @property
    def loglik(self) -> float:
        return poisson_loglik(self.y, self.mu) if self.ok else float("nan")

    @property
    def df(self) -> int | None:
        return int(self.keep.sum() - len(self.beta)) if self.ok else None

    @property
    def aic(self) -> float:
        return 2 * self.npar - 2 * self.loglik if self.ok else float("nan")

    @property
    def bic(self) -> float:
        return self.npar * np.log(self.n) - 2 * self.loglik if self.ok else float("nan")

    @property
    def generating_class(self) -> list[str]:
        """Maximal interaction terms as "A:B" strings (−∞ terms included)."""
        return [term_names(t, self.table.lists) for t in generators(self.terms)]

    @property
    def r_string(self) -> str:
        return r_string(self.terms, self.table.k)

    def summary(self) -> dict:
        """The per-model record of mse.json's ``models``."""
        return {
            "terms": self.generating_class,
            "model": self.r_string,
            "neg_inf_terms": [term_names(t, self.table.lists) for t in self.neg_inf_terms],
            "code": int(self.code),
            "estimate": _num(self.estimate),
            "se": _num(self.se),
            "deviance": _num(self.deviance),
            "df": self.df,
            "aic": _num(self.aic),
            "bic": _num(self.bic),
        }

    def reason(self) -> str:
        return CODE_REASONS.get(self.code, "")


def _num(x):
    x = float(x)
    return None if not np.isfinite(x) else x


def split_terms(table: CaptureTable, terms: Model):
    """(estimated terms, −∞ terms, kept-cell mask) for a model on a table."""
    neg = tuple(t for t in terms if table.overlap(t) == 0)
    keep = np.ones(len(table.counts), dtype=bool)
    for t in neg:
        keep &= ~table.term_column(t)
    est = tuple(t for t in terms if t not in neg)
    return est, neg, keep


def warm_beta(warm: "ModelFit | None", est: Model, k: int) -> np.ndarray | None:
    """Starting coefficients for ``est`` from a fitted neighbour (0 for new terms)."""
    if warm is None or not warm.ok:
        return None
    w_est = [t for t in warm.terms if t not in warm.neg_inf_terms]
    coef = dict(zip(w_est, warm.beta[1 + k:]))
    return np.concatenate([warm.beta[:1 + k], [coef.get(t, 0.0) for t in est]])


def fit(table: CaptureTable, terms: Model, *, beta0: np.ndarray | None = None,
        check: bool = True, warm: "ModelFit | None" = None) -> ModelFit:
    """Fit the hierarchical model ``terms`` (closure of interactions) to ``table``.

    Cells containing an empty-overlap term are dropped (term −∞), the Fienberg–Rinaldo check
    is run on what remains, and the model is fitted only when the code is 0."""
    est, neg, keep = split_terms(table, terms)
    X = design(table, est)[keep]
    y = table.counts[keep]
    npar = 1 + table.k + len(terms)
    mf = ModelFit(table, tuple(terms), neg, keep, 0, npar=npar)
    # Over all 2^K − 1 observable cells any proper subset of the saturated columns is linearly
    # independent (the one null vector of the saturated design has no zero entry), so the
    # rank needs computing only when cells were dropped or the model is saturated.
    if (not keep.all() or X.shape[1] >= X.shape[0]) and rank_deficient(X):
        mf.code = 2 + (0 if mle_exists(X, y) else 1)
        return mf
    if beta0 is None and warm is not None:
        beta0 = warm_beta(warm, est, table.k)
    try:
        beta, mu, cov = irls(X, y, beta0)
    except FitFailed:
        beta = None
    if beta is None and beta0 is not None:
        try:
            beta, mu, cov = irls(X, y, None)
        except FitFailed:
            beta = None
    if beta is not None and (y > 0).all():
        mf.beta, mf.mu, mf.cov = beta, mu, cov
        return mf
    if beta is not None and not check:
        mf.beta, mf.mu, mf.cov = beta, mu, cov
        return mf
    # Zero cells: the Fienberg–Rinaldo LP decides. Existence depends only on the design and
    # the support of y (which cells are positive), so the answer is cached per support.
    memo = table._cache.setdefault("exists", {})
    key = (est, keep.tobytes(), (y > 0).tobytes())
    exists = memo.get(key)
    if exists is None:
        exists = mle_exists(X, y)
        memo[key] = exists
    if exists:
        if beta is None:
            try:
                beta, mu, cov = irls(X, y, None, max_iter=500)
            except FitFailed:
                mf.code = 1
                return mf
        mf.beta, mf.mu, mf.cov = beta, mu, cov
        return mf
    mf.code = 1
    return mf


def fit_main(table: CaptureTable) -> ModelFit:
    return fit(table, ())
