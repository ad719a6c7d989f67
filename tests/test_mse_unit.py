"""MSE units: two-list estimators, refusals, invariants, strata, histories, bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from linkage.errors import EstimateDoesNotExist, MiglinkError
from integrators.mse.design import (CaptureTable, closure, count_hierarchical_models,
                                    hierarchical_models, parse_r_string, r_string)
from integrators.mse.estimate import estimate_counts, estimate_from_histories, estimate_table
from integrators.mse.histories import counts_from_histories, histories_from_clusters
from integrators.mse.loglinear import fit
from integrators.mse.selection import select
from integrators.mse.twolist import TwoListEstimate

KOREA = CaptureTable.from_dict(["b", "c", "d"], {"001": 41, "010": 5, "100": 5, "101": 6,
                                                 "110": 54, "111": 12})


def test_chapman_and_lincoln_petersen_by_hand():
    # n1 = 11, n2 = 47, m = 6
    e = TwoListEstimate(n10=5, n01=41, n11=6)
    assert e.lincoln_petersen == pytest.approx(11 * 47 / 6)
    assert e.lincoln_petersen_var == pytest.approx(11 * 47 * 5 * 41 / 6 ** 3)
    assert e.chapman == pytest.approx(12 * 48 / 7 - 1)            # 81.2857...
    assert e.chapman == pytest.approx(81.285714, abs=1e-6)
    assert e.chapman_var == pytest.approx(12 * 48 * 5 * 41 / (49 * 8))   # 301.2245
    assert math.sqrt(e.chapman_var) == pytest.approx(17.3558, abs=1e-4)


def test_two_lists_loglinear_is_lincoln_petersen():
    t = CaptureTable(["A", "B"], [5, 41, 6])    # patterns: A only, B only, both
    r = estimate_table(t)
    assert r["estimate"] == pytest.approx(11 * 47 / 6)
    assert r["two_list"]["chapman"] == pytest.approx(12 * 48 / 7 - 1)
    assert r["two_list"]["lincoln_petersen"] == pytest.approx(r["estimate"])
    assert r["model"] == []


@given(st.integers(1, 500), st.integers(1, 500), st.integers(1, 200))
@settings(max_examples=40, deadline=None)
def test_two_list_invariant(a, b, m):
    t = CaptureTable(["A", "B"], [a, b, m])
    f = fit(t, ())
    assert f.estimate == pytest.approx((a + m) * (b + m) / m, rel=1e-9)
    assert f.df == 0 and f.deviance == pytest.approx(0, abs=1e-8)


def test_saturated_model_refused():
    f = fit(KOREA, parse_r_string("[123]", 3))
    assert f.code in (2, 3) and not f.ok
    with pytest.raises(EstimateDoesNotExist) as exc:
        estimate_table(KOREA, terms="b:c:d")
    assert "not identifiable" in str(exc.value) and "\n" not in str(exc.value)


def test_nonexistent_model_refused():
    assert fit(KOREA, parse_r_string("[12,13]", 3)).code == 1
    with pytest.raises(EstimateDoesNotExist, match="does not exist"):
        estimate_table(KOREA, terms="b:c,b:d")


def test_neg_inf_term_dropped_and_counted():
    t = CaptureTable.from_dict(["A", "B", "C"], {"001": 20, "010": 30, "100": 40, "110": 6})
    f = fit(t, parse_r_string("[23,1]", 3))
    assert f.neg_inf_terms == ((1, 2),)
    assert f.keep.sum() == 5 and f.df == 1 and f.npar == 5
    assert f.summary()["neg_inf_terms"] == ["B:C"]


def test_unknown_list_in_terms_is_one_line_error():
    with pytest.raises(MiglinkError, match="'x'"):
        estimate_table(KOREA, terms="b:x")


counts3 = st.lists(st.integers(1, 300), min_size=7, max_size=7)


@given(counts3, st.integers(2, 5))
@settings(max_examples=30, deadline=None)
def test_estimates_scale_with_counts(y, c):
    """Poisson log-linear MLEs are scale-equivariant: μ̂(c·y) = c·μ̂(y)."""
    t1, t2 = CaptureTable(["A", "B", "C"], y), CaptureTable(["A", "B", "C"], np.array(y) * c)
    for model in [(), closure([(0, 1)]), closure([(0, 1), (1, 2)])]:
        f1, f2 = fit(t1, model), fit(t2, model)
        assert f2.estimate == pytest.approx(c * f1.estimate, rel=1e-7)


@given(counts3, st.permutations([0, 1, 2]))
@settings(max_examples=30, deadline=None)
def test_list_order_does_not_matter(y, perm):
    t = CaptureTable(["A", "B", "C"], y)
    P = t.patterns
    newbits = (P[:, perm] << np.arange(3)).sum(axis=1)
    y2 = np.zeros(7)
    y2[newbits - 1] = y
    t2 = CaptureTable([t.lists[i] for i in perm], y2)
    assert fit(t2, ()).estimate == pytest.approx(fit(t, ()).estimate, rel=1e-8)
    assert select(t2, "bic").fit.bic == pytest.approx(select(t, "bic").fit.bic, rel=1e-8)


def test_hierarchical_enumeration_counts():
    assert len(hierarchical_models(3, 2)) == 8
    assert len(hierarchical_models(3, 3)) == 9
    assert len(hierarchical_models(4, 3)) == 113        # MultipleSystemsEstimation, 4 lists
    assert count_hierarchical_models(8, 2, 40_000) is None
    assert r_string(parse_r_string("[234,14]", 4), 4) == "[234,14]"


def test_bic_refuses_huge_search_space():
    t = CaptureTable([f"L{i}" for i in range(8)], np.ones(255))
    with pytest.raises(MiglinkError, match="more than") as exc:
        select(t, "bic", max_order=2)
    assert "\n" not in str(exc.value)


def test_downhill_not_worse_than_main():
    t = CaptureTable.from_dict(["A", "B", "C", "D"], {
        "0001": 10, "0010": 182, "0011": 8, "0100": 74, "0101": 7, "0110": 20, "0111": 14,
        "1000": 709, "1001": 12, "1010": 650, "1011": 46, "1100": 104, "1101": 18,
        "1110": 157, "1111": 58})
    d = select(t, "downhill", max_order=2)
    assert d.fit.bic <= fit(t, ()).bic
    b = select(t, "bic", max_order=2)
    assert b.fit.bic <= d.fit.bic + 1e-9


def _korea_frame(strata_value):
    rows = [(0, 0, 1, 41), (0, 1, 0, 5), (1, 0, 0, 5), (1, 0, 1, 6), (1, 1, 0, 54), (1, 1, 1, 12)]
    df = pd.DataFrame(rows, columns=["b", "c", "d", "count"])
    df["sex"] = strata_value
    return df


def test_strata_total_is_sum_with_wald_on_sum():
    a = _korea_frame("F")
    b = _korea_frame("M")
    b["count"] = b["count"] * 2
    df = pd.concat([a, b], ignore_index=True)
    r = estimate_counts(df, ["b", "c", "d"], strata=["sex"], method="main")
    s = {x["stratum"]["sex"]: x for x in r["strata"]}
    assert r["estimate"] == pytest.approx(s["F"]["estimate"] + s["M"]["estimate"])
    assert s["M"]["estimate"] == pytest.approx(2 * s["F"]["estimate"])
    se = math.sqrt(s["F"]["se"] ** 2 + s["M"]["se"] ** 2)
    assert r["se"] == pytest.approx(se)
    assert r["ci_high"] == pytest.approx(r["estimate"] + 1.959963985 * se)
    assert r["observed"] == 123 * 3
    assert "Wald" in r["rule_for_sum"]


def test_histories_to_counts_and_estimate():
    rng = np.random.default_rng(3)
    N = 2000
    h = pd.DataFrame((rng.random((N, 3)) < [0.3, 0.4, 0.5]).astype(int), columns=["x", "y", "z"])
    h["person_id"] = np.arange(N)
    c = counts_from_histories(h, ["x", "y", "z"])
    assert c["count"].sum() == int(h[["x", "y", "z"]].any(axis=1).sum())
    r = estimate_from_histories(h, ["x", "y", "z"], method="main")
    assert r["ci_low"] <= N <= r["ci_high"]           # independent lists: the truth is covered
    cl = pd.DataFrame({"source": ["x", "y", "y"], "record_id": ["1", "2", "3"],
                       "person_id": [7, 7, 8]})
    w = histories_from_clusters(cl, ["x", "y"])
    assert w.set_index("person_id").loc[7].tolist() == [1, 1]
    assert w.set_index("person_id").loc[8].tolist() == [0, 1]


def test_bca_bootstrap_reproducible_and_sensible():
    r1 = estimate_table(KOREA, method="main", ci="bca", bootstrap=200, seed=5)
    r2 = estimate_table(KOREA, method="main", ci="bca", bootstrap=200, seed=5)
    assert r1["ci_low"] == r2["ci_low"] and r1["ci_high"] == r2["ci_high"]
    assert r1["ci_low"] < r1["estimate"] < r1["ci_high"]
    assert r1["bootstrap"] == {"replicates": 200, "seed": 5, "failed": 0}
    r3 = estimate_table(KOREA, method="main", ci="bca", bootstrap=200, seed=6)
    assert r3["ci_low"] != r1["ci_low"]


def test_wald_ci_option_and_level():
    r95 = estimate_table(KOREA, terms="b:c,c:d", ci="wald")
    assert r95["ci_low"] == pytest.approx(133.03, abs=0.005)
    r80 = estimate_table(KOREA, terms="b:c,c:d", ci="wald", ci_level=0.8)
    assert r95["ci_low"] < r80["ci_low"] < r80["ci_high"] < r95["ci_high"]


def test_strata_bca_sums_replicates():
    a, b = _korea_frame("F"), _korea_frame("M")
    b["count"] = b["count"] * 3
    df = pd.concat([a, b], ignore_index=True)
    r = estimate_counts(df, ["b", "c", "d"], strata=["sex"], method="main", ci="bca",
                        bootstrap=100, seed=4)
    s = r["strata"]
    assert r["estimate"] == pytest.approx(s[0]["estimate"] + s[1]["estimate"])
    assert r["ci_low"] < r["estimate"] < r["ci_high"]
    # the total's interval is narrower, relative to the estimate, than the sum of the limits
    assert r["ci_high"] - r["ci_low"] < (s[0]["ci_high"] + s[1]["ci_high"]
                                         - s[0]["ci_low"] - s[1]["ci_low"])
    assert "BCa" in r["rule_for_sum"]
    r2 = estimate_counts(df, ["b", "c", "d"], strata=["sex"], method="main", ci="bca",
                         bootstrap=100, seed=4)
    assert r2["ci_low"] == r["ci_low"]


def test_strata_refusal_names_the_stratum():
    a = _korea_frame("F")
    b = _korea_frame("M")
    b.loc[b["d"].eq(1), "count"] = 0                       # nobody on list d in stratum M
    df = pd.concat([a, b], ignore_index=True)
    assert estimate_counts(a, ["b", "c", "d"], terms="b:c")["estimate"] > 0
    with pytest.raises(EstimateDoesNotExist, match="stratum sex=M"):
        estimate_counts(df, ["b", "c", "d"], strata=["sex"], terms="b:c")


@given(st.lists(st.integers(0, 3), min_size=15, max_size=15),
       st.sampled_from([(), ((0, 1),), ((0, 1), (2, 3)), ((0, 1), (1, 2), (0, 2))]))
@settings(max_examples=60, deadline=None)
def test_existence_shortcuts_agree_with_the_lp(y, gens):
    """The cheap exact shortcuts in mle_exists give the LP's answer on sparse tables."""
    from integrators.mse.design import design
    from integrators.mse.existence import S_TOL
    from integrators.mse.loglinear import split_terms
    from scipy.optimize import linprog
    t = CaptureTable(["A", "B", "C", "D"], y)
    if t.n == 0:
        return
    est, neg, keep = split_terms(t, closure(gens))
    A = design(t, est)[keep]
    n = t.counts[keep]
    from integrators.mse.existence import mle_exists
    m, p = A.shape
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=np.hstack([-np.eye(m), np.ones((m, 1))]),
                  b_ub=np.zeros(m), A_eq=np.hstack([A.T, np.zeros((p, 1))]),
                  b_eq=A.T @ (n / max(n.mean(), 1e-12)), bounds=[(0, None)] * (m + 1),
                  method="highs")
    lp = res.status == 0 and -res.fun > S_TOL
    assert mle_exists(A, n) == lp


def test_stepwise_tie_goes_to_first_pair_in_column_order():
    # exchangeable lists: all three pairs have the same p-value (up to rounding noise)
    t = CaptureTable.from_dict(["A", "B", "C"], {"100": 50, "010": 50, "001": 50, "110": 30,
                                                 "101": 30, "011": 30, "111": 1})
    s = select(t, "stepwise", pthresh=0.99)
    assert s.tried[1].terms == ((0, 1),)


def test_pthresh_validated():
    with pytest.raises(MiglinkError, match="pthresh"):
        estimate_table(KOREA, pthresh=2)
