"""Confidence intervals for the population size N.

- ``profile_interval``: profile likelihood (Cormack 1992; Rcapture ``closedpCI.t``). For a
  trial N a dark cell n0 = N − n whose design row is the intercept alone is added and the
  model refitted (cells dropped for −∞ terms stay dropped); the multinomial profile
  log-likelihood is ℓ(N) = −D(N)/2 + c(N) with D the Poisson deviance of that fit and c the
  Cormack (1992) term log(n0^n0 N! / (N^N n0!)) — Stirling's form n0 − N − ½log(n0/N) when
  N > 100, exactly as Rcapture computes it — and the interval is
  {N : ℓ(N) ≥ max ℓ − χ²₁(level)/2}.
- ``wald_interval``: lognormal Wald on the dark figure, n + exp(β̂0 ± z·se(β̂0))
  (SparseMSE's reported interval).
- ``bca_interval``: bias-corrected and accelerated bootstrap (Efron 1987) from replicate
  estimates, with the acceleration from a count-weighted jackknife over capture patterns.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.optimize import brentq, minimize_scalar
from scipy.special import gammaln, xlogy

from .design import design
from .loglinear import FitFailed, ModelFit, irls


def cormack_term(n0: float, N: float) -> float:
    """log(n0^n0 N! / (N^N n0!)), Stirling-approximated above N = 100 (Rcapture)."""
    if N > 100:
        if n0 <= 1:
            return -N + 0.5 * np.log(2 * np.pi * N)
        return n0 - N - 0.5 * np.log(n0 / N)
    return float(xlogy(n0, n0) + gammaln(N + 1) - N * np.log(N) - gammaln(n0 + 1))


class ProfileLikelihood:
    """Multinomial profile log-likelihood of N for a fitted model (Rcapture closedpCI.t)."""

    def __init__(self, fit: ModelFit):
        if not fit.ok:
            raise ValueError("model has no estimate")
        self.fit = fit
        est = [t for t in fit.terms if t not in fit.neg_inf_terms]
        X = design(fit.table, tuple(est), dark=True)
        keep = np.append(fit.keep, True)
        self.X = X[keep]
        self.y_obs = fit.table.counts[fit.keep]
        self.n = fit.n
        self._beta = np.asarray(fit.beta, dtype=float)

    def loglik(self, N: float) -> float:
        n0 = N - self.n
        y = np.append(self.y_obs, n0)
        try:
            beta, mu, _ = irls(self.X, y, self._beta)
        except FitFailed:
            beta, mu, _ = irls(self.X, y, None, max_iter=500)
        self._beta = beta
        dev = 2.0 * float(np.sum(xlogy(y, y) - xlogy(y, mu)) - np.sum(y - mu))
        return -dev / 2.0 + cormack_term(n0, N)

    def maximise(self) -> tuple[float, float]:
        """(N at the maximum, maximum log-likelihood)."""
        N_hat = self.fit.estimate
        hi = max(N_hat * 1.5, self.n + 10)
        res = minimize_scalar(lambda N: -self.loglik(N), bounds=(self.n, hi),
                              method="bounded", options={"xatol": 1e-6 * N_hat})
        return float(res.x), float(-res.fun)

    def interval(self, level: float = 0.95) -> tuple[float, float, float]:
        """(lower, upper, N at the profile maximum)."""
        N_max, l_max = self.maximise()
        crit = stats.chi2.ppf(level, 1) / 2.0

        def g(N):
            return self.loglik(N) - (l_max - crit)

        lo_end = self.n
        if g(lo_end) >= 0:
            low = lo_end
        else:
            low = brentq(g, lo_end, N_max, xtol=1e-8 * N_max)
        step = max(N_max - self.n, 1.0)
        hi = N_max + step
        for _ in range(200):
            if g(hi) < 0:
                break
            step *= 2
            hi = N_max + step
        else:
            return float(low), float("inf"), N_max
        high = brentq(g, N_max, hi, xtol=1e-8 * N_max)
        return float(low), float(high), N_max


def profile_interval(fit: ModelFit, level: float = 0.95) -> tuple[float, float]:
    lo, hi, _ = ProfileLikelihood(fit).interval(level)
    return lo, hi


def wald_interval(fit: ModelFit, level: float = 0.95) -> tuple[float, float]:
    z = stats.norm.ppf(0.5 + level / 2)
    b0, s = float(fit.beta[0]), fit.se_beta0
    return fit.n + np.exp(b0 - z * s), fit.n + np.exp(b0 + z * s)


def bca_interval(theta_hat: float, replicates: np.ndarray, jack: np.ndarray,
                 jack_weights: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """BCa limits from bootstrap ``replicates`` (NaNs ignored) and jackknife values ``jack``
    (one per distinct capture pattern, weighted by its count)."""
    reps = np.asarray(replicates, dtype=float)
    reps = reps[np.isfinite(reps)]
    if len(reps) < 10:
        return float("nan"), float("nan")
    prop = (np.sum(reps < theta_hat) + 0.5 * np.sum(reps == theta_hat)) / len(reps)
    prop = min(max(prop, 1.0 / (len(reps) + 1)), 1 - 1.0 / (len(reps) + 1))
    z0 = stats.norm.ppf(prop)
    w = np.asarray(jack_weights, dtype=float)
    j = np.asarray(jack, dtype=float)
    ok = np.isfinite(j) & (w > 0)
    w, j = w[ok], j[ok]
    jbar = np.sum(w * j) / w.sum()
    d = jbar - j
    den = 6.0 * np.sum(w * d ** 2) ** 1.5
    a = float(np.sum(w * d ** 3) / den) if den > 0 else 0.0
    alphas = np.array([(1 - level) / 2, (1 + level) / 2])
    za = stats.norm.ppf(alphas)
    adj = stats.norm.cdf(z0 + (z0 + za) / (1 - a * (z0 + za)))
    lo, hi = np.quantile(reps, adj)
    return float(lo), float(hi)
