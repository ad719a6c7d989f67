"""LCMCR, linkage-aware MSE and the chart."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from integrators.mse import (CaptureTable, LCMCR, estimate_from_histories,
                             linkage_aware_estimate, mse_chart_svg, estimate_table)


def _simulate(N, probs, seed):
    rng = np.random.default_rng(seed)
    H = rng.random((N, len(probs))) < probs
    bits = (H.astype(int) << np.arange(len(probs))).sum(axis=1)
    return H, CaptureTable([chr(65 + i) for i in range(len(probs))],
                           np.bincount(bits, minlength=2 ** len(probs))[1:])


def test_lcmcr_covers_truth_on_independent_lists_and_is_seeded():
    _, t = _simulate(1500, [0.3, 0.25, 0.35, 0.2], seed=11)
    m = LCMCR(burnin=500, samples=1000, seed=3).fit(t)
    assert m.ci_[0] <= 1500 <= m.ci_[1]
    assert m.ci_[0] >= t.n
    m2 = LCMCR(burnin=500, samples=1000, seed=3).fit(t)
    assert np.array_equal(m.draws_, m2.draws_)
    r = m.result()
    assert r["method"] == "lcmcr" and r["estimate"] == pytest.approx(np.median(m.draws_))


def test_lcmcr_through_histories_api():
    H, _ = _simulate(800, [0.4, 0.3, 0.35], seed=2)
    df = pd.DataFrame(H.astype(int), columns=["a", "b", "c"])
    r = estimate_from_histories(df, ["a", "b", "c"], method="lcmcr",
                                lcmcr_options={"burnin": 300, "samples": 600})
    assert r["ci_method"] == "posterior" and r["ci_low"] < r["estimate"] < r["ci_high"]
    json.dumps(r, allow_nan=False)
    df["sex"] = np.where(np.arange(len(df)) % 2 == 0, "F", "M")
    rs = estimate_from_histories(df, ["a", "b", "c"], strata=["sex"], method="lcmcr",
                                 lcmcr_options={"burnin": 200, "samples": 400})
    assert [s["stratum"] for s in rs["strata"]] == [{"sex": "F"}, {"sex": "M"}]
    assert rs["ci_low"] < rs["estimate"] < rs["ci_high"]
    json.dumps(rs, allow_nan=False)


def _linked(N=1500, seed=4, pmin=0.97):
    rng = np.random.default_rng(seed)
    H = rng.random((N, 3)) < [0.3, 0.35, 0.4]
    recs = []
    for j, name in enumerate("ABC"):
        ids = np.flatnonzero(H[:, j])
        recs.append(pd.DataFrame({"list": name, "record_id": [f"{name}{i}" for i in ids],
                                  "person": ids}))
    rec = pd.concat(recs, ignore_index=True)
    m = rec.merge(rec, on="person")
    m = m[m.list_x < m.list_y]
    pairs = pd.DataFrame({"list_l": m.list_x, "record_id_l": m.record_id_x,
                          "list_r": m.list_y, "record_id_r": m.record_id_y,
                          "match_probability": rng.uniform(pmin, 1.0, len(m))})
    return rec[["list", "record_id"]], pairs, H


def test_linkage_aware_widens_and_certain_links_do_not():
    rec, pairs, H = _linked()
    certain = pairs.assign(match_probability=1.0)
    r1 = linkage_aware_estimate(rec, certain, ["A", "B", "C"], draws=20, method="main")
    assert r1["linkage"]["between_draw_sd"] < 1e-9
    assert r1["ci_low"] == pytest.approx(r1["linkage"]["ci_low_given_linkage"])
    # the certain linkage reproduces the histories exactly
    df = pd.DataFrame(H.astype(int), columns=list("ABC"))
    r0 = estimate_from_histories(df, list("ABC"), method="main")
    assert r1["estimate"] == pytest.approx(r0["estimate"])
    rec2, pairs2, _ = _linked(pmin=0.6)
    r2 = linkage_aware_estimate(rec2, pairs2, ["A", "B", "C"], draws=30, method="main")
    assert r2["linkage"]["between_draw_sd"] > 0
    assert r2["ci_high"] - r2["ci_low"] > (r2["linkage"]["ci_high_given_linkage"]
                                           - r2["linkage"]["ci_low_given_linkage"])
    assert r2["ci_method"] == "profile+linkage"
    json.dumps(r2, allow_nan=False)


def test_chart_is_svg_with_every_model():
    t = CaptureTable.from_dict(["b", "c", "d"], {"001": 41, "010": 5, "100": 5, "101": 6,
                                                 "110": 54, "111": 12})
    r = estimate_table(t, method="bic")
    svg = mse_chart_svg(r)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert svg.count("<g id=\"line2d_") >= 12          # 6 estimable models: dot + band each
