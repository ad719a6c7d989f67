"""evaluate(): hand-computed pairwise and cluster figures; the command; invariants."""

from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.errors import MiglinkError
from linkage.evaluate import blocking_recall, evaluate, evaluate_command
from linkage.standardise import build_linkage_keys
from test_link_records import make_records


def _frames():
    # truth: A = {1,2,3}, B = {4,5}, C = {6}
    # clusters: {1,2}, {3,4,5}, {6}
    ids = [str(i) for i in range(1, 7)]
    truth = pd.DataFrame({"source": "s", "record_id": ids,
                          "true_id": ["A", "A", "A", "B", "B", "C"]})
    clusters = pd.DataFrame({"source": "s", "record_id": ids,
                             "person_id": [1, 1, 2, 2, 2, 3]})
    return clusters, truth


def test_hand_computed_figures():
    clusters, truth = _frames()
    r = evaluate(clusters, truth)
    # predicted pairs: C(2,2)+C(3,2)+0 = 1+3 = 4; true pairs: C(3,2)+C(2,2) = 3+1 = 4
    # TP: (1,2) in A; (4,5) in B -> 2
    pw = r["pairwise"]
    assert (pw["true_positive_pairs"], pw["predicted_pairs"], pw["true_pairs"]) == (2, 4, 4)
    assert pw["precision"] == pytest.approx(0.5) and pw["recall"] == pytest.approx(0.5)
    assert pw["f1"] == pytest.approx(0.5)
    # clusters: only {6} equals a true entity: precision 1/3, recall 1/3
    c = r["cluster"]
    assert c["exact_clusters"] == 1
    assert c["precision"] == pytest.approx(1 / 3) and c["recall"] == pytest.approx(1 / 3)


def test_link_errors_by_kind_of_disagreement():
    clusters, truth = _frames()
    links = pd.DataFrame({"source_l": "s", "record_id_l": ["1", "3", "2", "4"],
                          "source_r": "s", "record_id_r": ["2", "4", "3", "5"],
                          "match_weight": [9, 4, -2, 8], "match_probability": [1, .9, .2, 1]})
    records = pd.DataFrame({"source": "s", "record_id": [str(i) for i in range(1, 7)],
                            "given_name": ["Ana", "Ana", "Ana", "Bo", "Bo", "Cy"],
                            "birth_date": ["1990-01-01", "1990-01-01", "1991-01-01",
                                           "1991-01-01", "1991-01-01", None]})
    r = evaluate(clusters, truth, links, records)["links"]
    # 3-4 linked but different truth (given differs); 2-3 same truth but split (date differs)
    assert (r["false_links"], r["missed_links"], r["scored_pairs"]) == (1, 1, 4)
    assert r["false_links_by_disagreement"] == {"given_name": 1}
    assert r["missed_links_by_disagreement"] == {"birth_date": 1}


def test_perfect_and_empty_cases():
    clusters, truth = _frames()
    perfect = truth.rename(columns={"true_id": "person_id"})
    r = evaluate(perfect, truth)
    assert r["pairwise"]["f1"] == 1.0 and r["cluster"]["f1"] == 1.0
    singles = clusters.assign(person_id=range(6))
    r = evaluate(singles, truth)
    assert r["pairwise"]["precision"] == 1.0 and r["pairwise"]["recall"] == 0.0


def test_unmatched_records_are_counted():
    clusters, truth = _frames()
    r = evaluate(clusters.iloc[:5], truth)
    assert r["n_unmatched_truth"] == 1 and r["n_records"] == 5


def _brute(clusters, truth):
    m = clusters.merge(truth, on=["source", "record_id"])
    tp = pred = true = 0
    for (_, a), (_, b) in itertools.combinations(m.iterrows(), 2):
        same_c, same_t = a.person_id == b.person_id, a.true_id == b.true_id
        tp += same_c and same_t
        pred += same_c
        true += same_t
    return tp, pred, true


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), min_size=1, max_size=25))
def test_counts_equal_pair_enumeration(assign):
    ids = [str(i) for i in range(len(assign))]
    clusters = pd.DataFrame({"source": "s", "record_id": ids,
                             "person_id": [a for a, _ in assign]})
    truth = pd.DataFrame({"source": "s", "record_id": ids, "true_id": [b for _, b in assign]})
    r = evaluate(clusters, truth)["pairwise"]
    assert (r["true_positive_pairs"], r["predicted_pairs"], r["true_pairs"]) == \
        _brute(clusters, truth)
    assert 0 <= r["f1"] <= 1


def test_command_writes_json_and_prints(tmp_path, capsys):
    clusters, truth = _frames()
    clusters.to_parquet(tmp_path / "c.parquet")
    truth.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "eval.json"
    args = SimpleNamespace(clusters=str(tmp_path / "c.parquet"), truth=str(tmp_path / "t.csv"),
                           links=None, out=str(out))
    assert evaluate_command(args) == 0
    assert "pairwise" in capsys.readouterr().out
    assert json.loads(out.read_text())["pairwise"]["f1"] == pytest.approx(0.5)


def test_command_errors_name_file_and_column(tmp_path):
    clusters, truth = _frames()
    truth.drop(columns="true_id").to_csv(tmp_path / "t.csv", index=False)
    clusters.to_csv(tmp_path / "c.csv", index=False)
    args = SimpleNamespace(clusters=str(tmp_path / "c.csv"), truth=str(tmp_path / "t.csv"),
                           links=None, out=None)
    with pytest.raises(MiglinkError, match=r"t\.csv.*true_id"):
        evaluate_command(args)
    args.truth = str(tmp_path / "missing.csv")
    with pytest.raises(MiglinkError, match="not found"):
        evaluate_command(args)


def test_blocking_recall_against_truth():
    con = duckdb.connect()
    df = pd.DataFrame({"source": "s", "record_id": ["1", "2", "3", "4"],
                       "given_name": ["Ana", "Anna", "Bo", "Bo"],
                       "family_name": ["Silva", "Silva", "Li", "Lee"],
                       "birth_date": ["1990-01-01", "1991-01-01", "1980-05-05", "1980-05-05"]})
    make_records(con, df)
    build_linkage_keys(con)
    truth = df[["source", "record_id"]].assign(true_id=["a", "a", "b", "b"])
    r = blocking_recall(con, truth, ["l.family_std = r.family_std",
                                     "l.birth_date = r.birth_date"])
    assert r["true_pairs"] == 2 and r["recall"] == 1.0
    assert list(r["per_rule"].values()) == [0.5, 0.5]
    assert np.isclose(blocking_recall(con, truth, ["l.given_std = r.given_std"])["recall"], 0.5)


def test_miglink_evaluate_dispatches_here(tmp_path, capsys):
    from integrators.cli import main

    clusters, truth = _frames()
    clusters.to_csv(tmp_path / "c.csv", index=False)
    truth.to_parquet(tmp_path / "t.parquet")
    links = pd.DataFrame({"source_l": ["s"], "record_id_l": ["3"], "source_r": ["s"],
                          "record_id_r": ["4"], "match_weight": [4.0],
                          "match_probability": [0.94]})
    links.to_csv(tmp_path / "l.csv", index=False)
    rc = main(["evaluate", "--clusters", str(tmp_path / "c.csv"), "--truth",
               str(tmp_path / "t.parquet"), "--links", str(tmp_path / "l.csv"),
               "--out", str(tmp_path / "e.json")])
    assert rc == 0
    res = json.loads((tmp_path / "e.json").read_text())
    assert res["links"]["false_links"] == 1 and res["cluster"]["exact_clusters"] == 1
    rc = main(["evaluate", "--clusters", str(tmp_path / "nope.csv"), "--truth",
               str(tmp_path / "t.parquet")])
    assert rc == 2 and "nope.csv" in capsys.readouterr().err
