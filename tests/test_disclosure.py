"""Disclosure control: suppression that margins cannot undo, unbiased random rounding."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st
from scipy.optimize import linprog

from integrators.disclosure import (CellSuppression, RandomRounding, check_no_identifiers,
                                    disclosure_settings, margin_relations, protect_frame)
from linkage.errors import MiglinkError


def with_margins(interior: np.ndarray) -> np.ndarray:
    r, c = interior.shape
    full = np.zeros((r + 1, c + 1))
    full[:r, :c] = interior
    full[:r, c] = interior.sum(axis=1)
    full[r, :] = full[:r].sum(axis=0)
    return full


def attack(values: np.ndarray, A: np.ndarray, suppressed: np.ndarray):
    """An intruder's bounds on each suppressed cell: min/max by LP over x >= 0 with every
    published cell fixed and every relation A x = 0 (the margin equations)."""
    n = values.size
    bounds = [(v, v) if not s else (0, None) for v, s in zip(values, suppressed)]
    out = {}
    for k in np.flatnonzero(suppressed):
        c = np.zeros(n)
        c[k] = 1
        lo = linprog(c, A_eq=A, b_eq=np.zeros(len(A)), bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=A, b_eq=np.zeros(len(A)), bounds=bounds, method="highs")
        assert lo.status == 0
        top = np.inf if hi.status == 3 else -hi.fun
        out[k] = (lo.fun, top)
    return out


def test_hand_worked_2x2():
    # interior [[2, 10], [9, 20]]: the 2 is sensitive; row 0 and column 0 each need a
    # second suppressed cell; the cheapest that closes a cycle are 10 (row 0), 9 (col 0)
    # and then 20 (the cell that completes the rectangle).
    full = with_margins(np.array([[2., 10.], [9., 20.]]))
    A = margin_relations(2, 2)
    fit = CellSuppression(5).fit(full.ravel(), A)
    s = fit.suppressed_.reshape(3, 3)
    assert s[:2, :2].all() and not s[2, :].any() and not s[:, 2].any()
    assert fit.primary_.reshape(3, 3)[0, 0] and fit.primary_.sum() == 1
    lo, hi = attack(full.ravel(), A, fit.suppressed_)[0]
    assert lo == pytest.approx(0) and hi == pytest.approx(11)  # the 2 lies anywhere in [0, 11]


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 5), st.integers(2, 4), st.data())
def test_no_suppressed_cell_recoverable_from_margins(r, c, data):
    interior = np.array(data.draw(st.lists(
        st.lists(st.sampled_from([0, 0, 1, 2, 3, 4, 5, 7, 12, 30]), min_size=c, max_size=c),
        min_size=r, max_size=r)), dtype=float)
    full = with_margins(interior)
    A = margin_relations(r, c)
    fit = CellSuppression(5).fit(full.ravel(), A)
    x = full.ravel()
    # every sensitive cell (0 < x < 5) is suppressed; zeros are never suppressed
    assert fit.suppressed_[(x > 0) & (x < 5)].all()
    assert not fit.suppressed_[x == 0].any()
    assert fit.unprotected_.size == 0
    # the classic rule: a row/column (margins included) with a suppressed cell has >= 2
    s = fit.suppressed_.reshape(r + 1, c + 1)
    assert set(s.sum(axis=1)) <= {0, 2, 3, 4, 5, 6} and set(s.sum(axis=0)) <= set(range(0, 7)) - {1}
    for k, (lo, hi) in attack(x, A, fit.suppressed_).items():
        assert hi - lo > 0.5, f"cell {k} = {x[k]} recoverable: [{lo}, {hi}]"


def test_random_rounding_unbiased_and_seeded():
    x = np.array([0, 1, 2, 3, 4, 7, 10, 11.0])
    rr = RandomRounding(base=3, seed=42)
    a = rr.fit_transform(x)
    assert np.array_equal(a, RandomRounding(base=3, seed=42).fit_transform(x))
    assert np.all(a % 3 == 0) and np.all(np.abs(a - x) < 3)
    assert a[0] == 0 and a[3] == 3  # multiples of the base are kept
    reps = np.stack([RandomRounding(3, s).fit_transform(x) for s in range(4000)])
    # E[rounded] = x: standard error of the mean is at most 1.5/sqrt(4000) ~ 0.024
    assert np.allclose(reps.mean(axis=0), x, atol=0.1)


def test_protect_frame_long_table_and_identifiers():
    df = pd.DataFrame({"area": ["a", "a", "a", "b", "b", "b"],
                       "cat": ["x", "y", "total", "x", "y", "total"],
                       "value": [3, 40, 43, 20, 30, 50]})

    def rel(part):  # x + y - total = 0
        a = np.zeros((1, len(part)))
        a[0] = np.where(part["cat"] == "total", -1, 1)
        return a

    out = protect_frame(df, disclosure_settings({"method": "suppress", "threshold": 5}),
                        by=["area"], relations=rel, name="t")
    assert out["suppressed"].tolist() == [True, True, False, False, False, False]
    assert out["value"].isna().tolist() == [True, True, False, False, False, False]
    rounded = protect_frame(df, disclosure_settings({"method": "round", "base": 5}),
                            by=["area"], relations=rel, name="t")
    assert (rounded["value"] % 5 == 0).all()
    with pytest.raises(MiglinkError, match="birth_date"):
        check_no_identifiers(df.assign(birth_date=1), "t")
    with pytest.raises(MiglinkError, match="method"):
        disclosure_settings({"method": "blur"})


def test_unprotectable_cell_is_reported_not_hidden():
    # x0 + x1 = T with T frozen (published by another table) and x1 = 0: the 3 equals T
    # whatever is suppressed, so it is reported as unprotected rather than looping
    fit = CellSuppression(5).fit([3, 0, 3], [[1, 1, -1]], frozen=[False, False, True])
    assert fit.suppressed_.tolist() == [True, False, False]
    assert fit.unprotected_.tolist() == [0]
