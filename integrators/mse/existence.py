"""Existence and identifiability of the log-linear MLE (Fienberg & Rinaldo 2012).

The MLE of a Poisson log-linear model with design ``A`` (cells × parameters) and counts ``n``
exists iff ``n`` lies in the relative interior of the marginal cone, i.e. iff the linear
program  max s  s.t.  Aᵀx = Aᵀn,  x_i ≥ s,  x ≥ 0  has optimum s > 0. The code is
1·[s = 0] + 2·[A rank-deficient] (0 = estimable; 1, 2, 3 = no estimate), as in
SparseMSE's ``checkident`` / the reference README.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog

#: an LP optimum below this (relative to the mean count) counts as s = 0
S_TOL = 1e-7


def mle_exists(A: np.ndarray, n: np.ndarray) -> bool:
    """True when the extended-MLE LP has a strictly positive optimum."""
    n = np.asarray(n, dtype=float)
    if len(n) == 0:
        return False
    pos = n > 0
    if pos.all():
        return True          # x = n is interior: s = min(n) > 0
    # Sufficient condition, exact and cheap: the MLE fails to exist only along a direction d
    # with (Ad)_i = 0 on every positive cell and (Ad)_i ≤ 0 elsewhere, Ad ≠ 0; if the rows of
    # the positive cells have full column rank no such d exists.
    if pos.sum() >= A.shape[1] and np.linalg.matrix_rank(A[pos]) == A.shape[1]:
        return True
    m, p = A.shape
    scale = max(n.mean(), 1e-12)
    # variables (x_1..x_m, s); maximise s  ->  minimise -s
    c = np.zeros(m + 1)
    c[-1] = -1.0
    A_eq = np.hstack([A.T, np.zeros((p, 1))])
    b_eq = A.T @ (n / scale)
    A_ub = np.hstack([-np.eye(m), np.ones((m, 1))])      # s - x_i <= 0
    b_ub = np.zeros(m)
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq,
                  bounds=[(0, None)] * (m + 1), method="highs")
    if res.status != 0:
        return False
    return -res.fun > S_TOL


def rank_deficient(A: np.ndarray) -> bool:
    if A.shape[0] < A.shape[1]:
        return True
    return np.linalg.matrix_rank(A) < A.shape[1]


def existence_code(A: np.ndarray, n: np.ndarray) -> int:
    """0 estimable, 1 MLE does not exist, 2 not identifiable (rank-deficient), 3 both."""
    code = 0 if mle_exists(A, n) else 1
    if rank_deficient(A):
        code += 2
    return code


CODE_REASONS = {
    1: "the maximum-likelihood estimate does not exist (Fienberg & Rinaldo 2012 check)",
    2: "the model is not identifiable (design matrix rank-deficient, e.g. saturated after "
       "dropping empty-overlap cells)",
    3: "the maximum-likelihood estimate does not exist and the model is not identifiable",
}
