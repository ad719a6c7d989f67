"""The synthetic world (linkage.synth) through ingest and link(): pairwise F1 ≥ 0.98."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_synthetic_world_f1(tmp_path):
    synth = pytest.importorskip("linkage.synth")
    from linkage.config import load_config
    from linkage.evaluate import evaluate
    from linkage.ingest import ingest
    from linkage.link import link

    synth.generate_world(tmp_path / "world", persons=1000, seed=3)
    cfg = load_config(tmp_path / "world" / "config.yaml")
    con = duckdb.connect()
    ingest(con, cfg)
    s = link(con, cfg, tmp_path / "out", seed=1)
    truth = pd.read_parquet(tmp_path / "world" / "truth" / "records.parquet")
    res = evaluate(con.execute("SELECT * FROM clusters").df(), truth)
    pw = res["pairwise"]
    print(f"\nsynthetic world (1000 persons, {s['n_records']} records, "
          f"{s['n_representatives']} representatives): pairwise P={pw['precision']:.4f} "
          f"R={pw['recall']:.4f} F1={pw['f1']:.4f}")
    assert res["n_unmatched_truth"] == 0
    assert pw["f1"] >= 0.98
    # every record has a person and events are attached to persons
    assert con.execute("SELECT count(*) FROM events WHERE person_id IS NULL").fetchall() == [(0,)]
