"""Clerical review round trip: pairs near the threshold out, labels back into training."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from linkage.errors import MiglinkError
from linkage.evaluate import evaluate
from linkage.link import clerical_band, link
from test_link import _frame
from test_link_records import make_records


def _con():
    con = duckdb.connect()
    make_records(con, _frame().drop(columns="true_id"))
    return con


def _labels_from_truth(pairs: pd.DataFrame) -> pd.DataFrame:
    truth = _frame().set_index(["source", "record_id"])["true_id"]
    tl = truth.reindex(pd.MultiIndex.from_frame(pairs[["source_l", "record_id_l"]])).to_numpy()
    tr = truth.reindex(pd.MultiIndex.from_frame(pairs[["source_r", "record_id_r"]])).to_numpy()
    return pairs[["source_l", "record_id_l", "source_r", "record_id_r"]].assign(
        is_match=(tl == tr).astype(int))


def test_default_band_is_threshold_weight_plus_minus_two():
    lo, hi = clerical_band({"threshold": 0.9, "clerical_band": None})
    # weight of 0.9 is log2(9); ±2 bits -> odds 9/4 and 36
    assert lo == pytest.approx(9 / 4 / (1 + 9 / 4)) and hi == pytest.approx(36 / 37)
    assert clerical_band({"threshold": 0.9, "clerical_band": [0.2, 0.7]}) == (0.2, 0.7)
    with pytest.raises(MiglinkError, match="clerical_band"):
        clerical_band({"threshold": 0.9, "clerical_band": [0.8, 0.2]})


def test_export_lists_band_pairs_with_levels(tmp_path):
    con = _con()
    s = link(con, {"linkage": {"clerical_band": [0.3, 0.95]}}, tmp_path)
    cr = pd.read_csv(tmp_path / "linkage/clerical_review.csv", dtype=str)
    assert len(cr) == s["n_clerical_pairs"] > 0
    p = cr["match_probability"].astype(float)
    assert ((p >= 0.3) & (p <= 0.95)).all()
    # the three John Smiths sit in the band; their birth dates disagree
    smith = cr[(cr.given_name_l == "John") & (cr.family_name_r == "Smith")]
    assert len(smith) == 3 and set(smith["birth_date_level"]) == {"else"}
    assert set(smith["name_level"]) == {"all name tokens equal"}
    assert cr["is_match"].isna().all()


@pytest.mark.parametrize("engine", ["splink", "recordlinkage"])
def test_labels_train_the_model(engine, tmp_path):
    con = _con()
    link(con, {"linkage": {"engine": engine}}, tmp_path / "first")
    links = con.execute("SELECT * FROM links WHERE match_key = 'model'").df()
    lab = _labels_from_truth(links)
    assert lab["is_match"].nunique() == 2
    lab.to_csv(tmp_path / "labels.csv", index=False)
    s = link(con, {"linkage": {"engine": engine, "labels": "labels.csv"},
                   "base_dir": str(tmp_path)}, tmp_path / "second")
    params = json.loads((tmp_path / "second/linkage/parameters.json").read_text())
    if engine == "splink":
        assert any("labelled" in t for t in params["training"])
    else:
        assert params["classifier"] == "LogisticRegressionClassifier"
    got = evaluate(con.execute("SELECT * FROM clusters").df(),
                   _frame()[["source", "record_id", "true_id"]])["pairwise"]
    # the labels teach that equal common names with different birth dates are not one
    # person (the unsupervised ECM merges the John Smiths); 19 labelled matches, 3 not
    assert got["precision"] == 1.0, s
    assert got["recall"] >= (1.0 if engine == "splink" else 0.9), s


def test_bad_labels_file_names_row_and_column(tmp_path):
    con = _con()
    pd.DataFrame({"source_l": ["visa"], "record_id_l": ["v1"], "source_r": ["border"],
                  "record_id_r": ["b1"], "is_match": ["maybe"]}).to_csv(
        tmp_path / "labels.csv", index=False)
    with pytest.raises(MiglinkError, match=r"labels\.csv, row 1, column 'is_match'"):
        link(con, {"linkage": {"labels": str(tmp_path / "labels.csv")}}, tmp_path)
    with pytest.raises(MiglinkError, match="not found"):
        link(con, {"linkage": {"labels": str(tmp_path / "nope.csv")}}, tmp_path)
