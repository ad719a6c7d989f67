"""IPF against published examples and closed forms."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from integrators.raking import IPF, check_margins
from linkage.errors import MiglinkError


def test_klemens_2x2_matches_closed_form():
    # Source: B. Klemens, "Modeling with Data" (Princeton UP, 2009), raking example (the
    # apophenia `apop_rake` demo): survey table [[7, 9], [12, 7]] raked to census margins
    # rows (5, 15), columns (10, 10).  IPF keeps the seed's cross-product ratio
    # (Mosteller 1968; Bishop, Fienberg & Holland 1975, sec. 3.6), so the fitted table is
    # [[a, 5-a], [10-a, 5+a]] with a(5+a) / ((5-a)(10-a)) = (7*7)/(9*12) = 49/108, i.e.
    # 59 a^2 + 1275 a - 2450 = 0, a = (-1275 + sqrt(1275^2 + 4*59*2450)) / 118 = 1.77561...
    a = (-1275 + math.sqrt(1275 ** 2 + 4 * 59 * 2450)) / 118
    assert a == pytest.approx(1.7756, abs=1e-4)
    fit = IPF([((0,), [5, 15]), ((1,), [10, 10])], tol=1e-12).fit([[7, 9], [12, 7]])
    assert fit.converged_
    np.testing.assert_allclose(fit.table_, [[a, 5 - a], [10 - a, 5 + a]], atol=1e-9)
    assert "converged" in fit.report()


def test_wikipedia_4x4_is_biproportional():
    # Source: the worked example of en.wikipedia.org/wiki/Iterative_proportional_fitting
    # (seed Z below, row targets 150/300/400/150, column targets 200/300/400/100).
    # The IPF solution is the unique X = P Z Q (P, Q diagonal) with those margins
    # (Sinkhorn 1964), so X / Z must be an outer product u v^T and margins exact.
    Z = np.array([[40, 30, 20, 10], [35, 50, 100, 75], [30, 80, 70, 120], [20, 30, 40, 50.]])
    rows, cols = np.array([150, 300, 400, 150.]), np.array([200, 300, 400, 100.])
    fit = IPF([((0,), rows), ((1,), cols)], tol=1e-10).fit(Z)
    X = fit.table_
    np.testing.assert_allclose(X.sum(1), rows, atol=1e-9)
    np.testing.assert_allclose(X.sum(0), cols, atol=1e-9)
    R = X / Z
    np.testing.assert_allclose(R / R[:, [0]], np.tile(R[0] / R[0, 0], (4, 1)), rtol=1e-9)
    # first cycle by hand: row 1 scaled by 150/100, then column 1 (total 1.5*40 + 300/260*35
    # + 400/300*30 + 150/140*20) scaled to 200
    c1 = 1.5 * 40 + 300 / 260 * 35 + 400 / 300 * 30 + 150 / 140 * 20
    one = IPF([((0,), rows), ((1,), cols)], max_iter=1).fit(Z)
    assert one.table_[0, 0] == pytest.approx(60 * 200 / c1)
    assert not one.converged_ and one.iterations_ == 1


def test_three_way_with_two_way_margins():
    # independence seed (all ones) with one-way margins converges in one cycle to the
    # closed form n_i n_j n_k / N^2
    a, b, c = np.array([10, 30.]), np.array([5, 15, 20.]), np.array([8, 32.])
    fit = IPF([((0,), a), ((1,), b), ((2,), c)]).fit(np.ones((2, 3, 2)))
    np.testing.assert_allclose(fit.table_, np.einsum("i,j,k->ijk", a, b, c) / 40 ** 2)
    assert fit.iterations_ == 1
    # two-way margins of a known table, axes given out of order, are reproduced
    rng = np.random.default_rng(3)
    T = rng.integers(1, 20, (3, 4, 2)).astype(float)
    m01, m21 = T.sum(2), T.sum(0).T  # (axis 2, axis 1)
    fit = IPF([((0, 1), m01), ((2, 1), m21)], tol=1e-10).fit(np.ones_like(T))
    assert fit.converged_
    np.testing.assert_allclose(fit.table_.sum(2), m01, atol=1e-8)
    np.testing.assert_allclose(fit.table_.sum(0).T, m21, atol=1e-8)


def test_inconsistent_margins_refused():
    probs = check_margins([((0,), [5, 15]), ((1,), [10, 11])], (2, 2))
    assert probs and "grand total" in probs[0]
    with pytest.raises(MiglinkError, match="GLS"):
        IPF([((0,), [5, 15]), ((1,), [10, 11])]).fit(np.ones((2, 2)))
    with pytest.raises(MiglinkError, match="seed is all zero"):
        IPF([((0,), [5, 15]), ((1,), [10, 10])]).fit([[0, 0], [1, 1]])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 4), st.integers(2, 4), st.integers(0, 10_000))
def test_margins_reached_from_any_positive_seed(r, c, s):
    rng = np.random.default_rng(s)
    target = rng.integers(1, 50, (r, c)).astype(float)
    seed = rng.uniform(0.1, 5, (r, c))
    fit = IPF([((0,), target.sum(1)), ((1,), target.sum(0))], tol=1e-9).fit(seed)
    assert fit.converged_
    np.testing.assert_allclose(fit.table_.sum(1), target.sum(1), atol=1e-8)
    np.testing.assert_allclose(fit.table_.sum(0), target.sum(0), atol=1e-8)
