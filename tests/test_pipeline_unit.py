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
