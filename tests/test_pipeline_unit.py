"""The pipeline's own logic: --steps parsing, the atomic database, capture histories."""

import duckdb
import pandas as pd
import pytest

from integrators.cli import main
from integrators.pipeline import STEPS, Run, capture_histories, parse_steps
from linkage.errors import MiglinkError


def test_parse_steps_all_by_default():
    assert parse_steps(None) == list(STEPS)


def test_parse_steps_keeps_pipeline_order_and_open_ranges():
    assert parse_steps("mse,link") == ["link", "mse"]
    assert parse_steps("tables-") == ["tables", "mse", "report"]


def test_parse_steps_unknown_step_is_one_line_error():
    with pytest.raises(MiglinkError, match="unknown step 'linkk'"):
        parse_steps("linkk")


def test_failed_run_leaves_previous_database_untouched(tmp_path):
    run = Run(cfg=None, out_dir=tmp_path)
    with run.database() as con:
        con.execute("CREATE TABLE kept AS SELECT 42 AS x")
    with pytest.raises(RuntimeError):
        with run.database() as con:
            con.execute("DROP TABLE kept")
            raise RuntimeError("step failed")
    con = duckdb.connect(str(tmp_path / "miglink.duckdb"))
    assert con.execute("SELECT x FROM kept").fetchone() == (42,)
    assert not list(tmp_path.glob(".miglink.duckdb.partial*"))


def test_step_that_needs_missing_tables_says_which(tmp_path):
    with pytest.raises(MiglinkError, match="needs table\\(s\\) crossings, residence_persons"):
        Run(cfg=None, out_dir=tmp_path).run(["residence"])


def test_capture_histories_one_row_per_person_on_any_list():
    con = duckdb.connect()
    con.execute("""CREATE TABLE clusters AS SELECT * FROM (VALUES
        ('police', '1', 1), ('ngo', '7', 1), ('border', 'x', 1),
        ('ngo', '8', 2), ('border', 'y', 3), ('health', '3', 4), ('police', '2', 4))
        t(source, record_id, person_id)""")
    con.execute("CREATE TABLE persons AS SELECT * FROM (VALUES (1,'F'),(2,NULL),(4,'M')) "
                "t(person_id, sex)")
    h = capture_histories(con, ["police", "ngo", "health"], ["sex"])
    assert h["person_id"].tolist() == [1, 2, 4]   # person 3 is on no list
    assert h[["police", "ngo", "health"]].values.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]
    assert h["sex"].tolist() == ["F", "unknown", "M"]


def test_cli_prints_one_line_error_without_traceback(tmp_path, capsys):
    code = main(["run", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("miglink: error: ") and err.count("\n") == 1
    assert "nope.yaml" in err
    assert not (tmp_path / "o" / "miglink.duckdb").exists()


def test_default_reference_dates_cover_whole_years():
    import datetime as dt

    from integrators.pipeline import default_reference_dates

    con = duckdb.connect()
    con.execute("CREATE TABLE crossings AS SELECT * FROM (VALUES "
                "(DATE '2018-03-02'), (DATE '2021-07-01')) t(crossing_date)")
    # first full 12-month window after 2018-03-02 ends 2019-12-31; 2021 is not over yet
    assert default_reference_dates(con) == [dt.date(2019, 12, 31), dt.date(2020, 12, 31)]
    assert default_reference_dates(con, dt.date(2021, 12, 31))[-1] == dt.date(2021, 12, 31)


def test_mobility_tables_withhold_every_measure_of_small_cells(tmp_path):
    from integrators.mobility_tables import build_mobility_tables

    con = duckdb.connect()
    # 2 seasonal workers (under the threshold 5) and 6 circular movers in 2023
    con.execute("""CREATE TABLE mobility AS SELECT * FROM (VALUES
        (1, 2023, 'seasonal_worker', 1, 150, 151), (2, 2023, 'seasonal_worker', 1, 140, 141),
        (3, 2023, 'circular', 3, 20, 23), (4, 2023, 'circular', 2, 10, 12),
        (5, 2023, 'circular', 2, 12, 14), (6, 2023, 'circular', 4, 30, 34),
        (7, 2023, 'circular', 2, 9, 11), (8, 2023, 'circular', 2, 8, 10))
        t(person_id, year, mobility_type, trips, person_days, days_touched)""")
    build_mobility_tables(con, {"threshold": 5}, tmp_path)
    t = pd.read_csv(tmp_path / "tables" / "mobility.csv")
    seasonal = t[t.mobility_type == "seasonal_worker"]
    assert seasonal["suppressed"].all() and seasonal["value"].isna().all()
    circ = t[t.mobility_type == "circular"].set_index("measure")["value"]
    assert circ.to_dict() == {"persons": 6, "trips": 15, "person_days": 89,
                              "days_touched": 104}


def test_mse_step_says_why_when_no_estimate_exists():
    """Two persons on two lists, never together: no stratum nor the whole has an estimate."""
    from integrators.pipeline import mse_from_linked

    con = duckdb.connect()
    con.execute("""CREATE TABLE clusters AS SELECT * FROM (VALUES
        ('police', '1', 1), ('ngo', '2', 2)) t(source, record_id, person_id)""")
    con.execute("CREATE TABLE persons AS SELECT * FROM (VALUES (1,'F'),(2,'M')) "
                "t(person_id, sex)")
    out = mse_from_linked(con, {"lists": ["police", "ngo"], "strata": ["sex"]})
    assert out["estimate"] is None and out["observed"] == 2
    assert out["error"]


def test_atomic_outputs_get_the_ordinary_file_mode(tmp_path):
    import os

    from linkage.io import write_text

    umask = os.umask(0o022)
    try:
        path = write_text(tmp_path / "x.json", "{}")
    finally:
        os.umask(umask)
    assert (path.stat().st_mode & 0o777) == 0o644


def test_residence_accuracy_scores_only_persons_some_source_saw(tmp_path):
    from integrators.evaluation import residence_scores

    out, truth = tmp_path / "out", tmp_path / "truth"
    out.mkdir(), truth.mkdir()
    pd.DataFrame({"source": ["b", "b", "c"], "record_id": ["1", "2", "3"],
                  "true_id": [10, 10, 20]}).to_parquet(truth / "records.parquet")
    pd.DataFrame({"source": ["b", "b", "c"], "record_id": ["1", "2", "3"],
                  "person_id": [1, 1, 2]}).to_parquet(out / "clusters.parquet")
    d = pd.Timestamp("2023-12-31")
    # true 30 is in no source: not scored; 10 right, 20 wrong -> 0.5
    pd.DataFrame({"true_id": [10, 20, 30], "reference_date": [d] * 3, "rule": ["12/16"] * 3,
                  "resident": [True, False, True],
                  "status": ["resident_present", "not_present", "resident_present"]}
                 ).to_parquet(truth / "residence.parquet")
    pd.DataFrame({"person_id": [1, 2], "reference_date": [d] * 2, "rule": ["12/16"] * 2,
                  "status": ["resident_present", "temporary_present"]}
                 ).to_parquet(out / "residence.parquet")
    assert residence_scores(out, truth) == {"12/16": 0.5}


def test_linkage_aware_mse_from_the_runs_links():
    """List records joined only through a bridging border record: with every link certain,
    the re-drawn estimate equals the base one; with uncertain links the interval widens."""
    from integrators.pipeline import mse_from_linked

    counts = {"100": 60, "010": 50, "001": 40, "110": 20, "101": 15, "011": 12, "111": 6}
    lists = ["A", "B", "C"]
    clusters, links = [], []
    pid = 0
    for pattern, n in counts.items():
        for _ in range(n):
            pid += 1
            clusters.append(("border", f"b{pid}", pid))
            for lst, bit in zip(lists, pattern):
                if bit == "1":
                    clusters.append((lst, f"{lst}{pid}", pid))
                    links.append(("border", f"b{pid}", lst, f"{lst}{pid}", 0.9))
    con = duckdb.connect()
    con.execute("CREATE TABLE clusters(source VARCHAR, record_id VARCHAR, person_id BIGINT)")
    con.executemany("INSERT INTO clusters VALUES (?, ?, ?)", clusters)
    con.execute("CREATE TABLE links(source_l VARCHAR, record_id_l VARCHAR, source_r VARCHAR, "
                "record_id_r VARCHAR, match_probability DOUBLE)")
    con.executemany("INSERT INTO links VALUES (?, ?, ?, ?, ?)", links)
    cfg = {"lists": lists, "method": "main", "linkage_draws": 30}
    out = mse_from_linked(con, cfg, threshold=0.5)
    la = out["linkage_aware"]
    assert out["observed"] == sum(counts.values())
    assert la["estimate"] == pytest.approx(out["estimate"])  # same base linkage
    assert la["ci_low"] < out["ci_low"] and la["ci_high"] > out["ci_high"]
    assert la["linkage"]["draws"] == 30 and la["linkage"]["between_draw_sd"] > 0
    con.execute("UPDATE links SET match_probability = 1.0")
    certain = mse_from_linked(con, cfg, threshold=0.5)["linkage_aware"]
    assert certain["linkage"]["between_draw_sd"] < 1e-9
    assert certain["ci_low"] == pytest.approx(out["ci_low"])
