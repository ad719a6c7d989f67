"""Bayesian non-parametric latent-class MSE (LCMCR; Manrique-Vallier 2016, Biometrics 72).

Each person belongs to a latent class k with probability π_k; given the class, list
memberships are independent Bernoulli(λ_jk). π has a truncated stick-breaking prior
(Dirichlet process, K* classes, concentration α ~ Gamma(a, b)), λ_jk ~ Beta(1, 1), and
p(N) ∝ 1/N. The Gibbs sampler augments the n0 = N − n unobserved persons:
  n0 | π, λ ~ NegBin(n, 1 − p0),  p0 = Σ_k π_k ∏_j (1 − λ_jk);
class counts of every observed pattern and of the unobserved ~ multinomial; λ, the sticks
and α from their conjugate conditionals. Everything is vectorised over patterns and classes;
the only loop is over MCMC iterations. Seeded with a numpy Generator.
"""

from __future__ import annotations

import numpy as np

from .design import CaptureTable


class LCMCR:
    """Parameters: ``k_star`` (truncation), ``burnin``, ``samples``, ``thin``, ``a``, ``b``
    (Gamma prior of α), ``seed``. After ``fit(table)``: ``draws_`` (posterior draws of N),
    ``estimate_`` (posterior median), ``ci_`` (equal-tailed credible interval)."""

    def __init__(self, k_star: int = 10, burnin: int = 2000, samples: int = 4000,
                 thin: int = 2, a: float = 0.25, b: float = 0.25, seed: int = 1):
        self.k_star, self.burnin, self.samples, self.thin = k_star, burnin, samples, thin
        self.a, self.b, self.seed = a, b, seed

    def fit(self, table: CaptureTable, level: float = 0.95) -> "LCMCR":
        rng = np.random.default_rng(self.seed)
        X = table.patterns.astype(float)                  # M × J
        y = table.counts.astype(np.int64)
        keep = y > 0
        X, y = X[keep], y[keep]
        n = int(y.sum())
        K = self.k_star
        J = X.shape[1]
        lam = rng.beta(1, 1, size=(J, K))
        alpha = 1.0
        V = rng.beta(1, alpha, size=K)
        V[-1] = 1.0
        pi = V * np.concatenate([[1.0], np.cumprod(1 - V[:-1])])
        draws = []
        total = self.burnin + self.samples * self.thin
        for it in range(total):
            loglam, log1m = np.log(lam), np.log1p(-lam)
            # classes of the observed patterns
            logp = np.log(pi + 1e-300)[None, :] + X @ loglam + (1 - X) @ log1m   # M × K
            logp -= logp.max(axis=1, keepdims=True)
            p = np.exp(logp)
            p /= p.sum(axis=1, keepdims=True)
            cls = rng.multinomial(y, p)                    # M × K class counts
            # the unobserved
            q = pi * np.exp(log1m.sum(axis=0))             # K
            p0 = float(q.sum())
            p0 = min(max(p0, 1e-12), 1 - 1e-12)
            n0 = int(rng.negative_binomial(n, 1 - p0))
            cls0 = rng.multinomial(n0, q / q.sum())
            m = cls.sum(axis=0) + cls0                     # K
            s = X.T @ cls                                  # J × K ones
            lam = rng.beta(1 + s, 1 + m[None, :] - s)
            lam = np.clip(lam, 1e-10, 1 - 1e-10)
            tail = np.concatenate([np.cumsum(m[::-1])[::-1][1:], [0]])
            V = rng.beta(1 + m, alpha + tail)
            V = np.clip(V, 1e-12, 1 - 1e-12)
            V[-1] = 1.0
            pi = V * np.concatenate([[1.0], np.cumprod(1 - V[:-1])])
            alpha = rng.gamma(self.a + K - 1, 1.0 / (self.b - np.log1p(-V[:-1]).sum()))
            if it >= self.burnin and (it - self.burnin) % self.thin == 0:
                draws.append(n + n0)
        self.n_ = n
        self.lists_ = list(table.lists)
        self.draws_ = np.asarray(draws, dtype=float)
        self.estimate_ = float(np.median(self.draws_))
        self.level_ = level
        self.ci_ = tuple(float(v) for v in
                         np.quantile(self.draws_, [(1 - level) / 2, (1 + level) / 2]))
        return self

    def result(self) -> dict:
        """The mse.json-shaped dict (log-linear-only keys are None)."""
        return {
            "lists": self.lists_, "observed": int(self.n_), "method": "lcmcr",
            "model": None, "neg_inf_terms": [], "estimate": self.estimate_,
            "se": float(np.std(self.draws_, ddof=1)),
            "unobserved": self.estimate_ - self.n_,
            "ci_low": self.ci_[0], "ci_high": self.ci_[1], "ci_method": "posterior",
            "ci_level": self.level_, "deviance": None, "df": None, "aic": None, "bic": None,
            "models": [],
            "lcmcr": {"k_star": self.k_star, "burnin": self.burnin, "samples": self.samples,
                      "thin": self.thin, "seed": self.seed,
                      "posterior_mean": float(self.draws_.mean())},
        }
