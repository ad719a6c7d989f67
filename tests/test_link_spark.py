"""linkage.backend: spark runs the same Splink model as DuckDB and agrees with it."""

from __future__ import annotations

import importlib.util
import shutil

import duckdb
import numpy as np
import pytest

from linkage.engines.spark_backend import to_spark_sql
from linkage.link import link
from test_link import _frame
from test_link_records import make_records

HAVE_SPARK = importlib.util.find_spec("pyspark") is not None
HAVE_JAVA = shutil.which("java") is not None


def test_duckdb_sql_is_rewritten_for_spark():
    sql = ("jaro_winkler_similarity(given_std_l, given_std_r) >= 0.92 OR "
           "starts_with(given_std_l, given_std_r) OR "
           "len(list_intersect(string_split(a_l, ' '), string_split(a_r, ' '))) > 0")
    assert to_spark_sql(sql) == (
        "jaro_winkler(given_std_l, given_std_r) >= 0.92 OR startswith(given_std_l, "
        "given_std_r) OR size(array_intersect(split(a_l, ' '), split(a_r, ' '))) > 0")


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(not HAVE_SPARK, reason="pyspark is not installed")
@pytest.mark.skipif(not HAVE_JAVA, reason="no Java runtime (java not on PATH)")
def test_spark_agrees_with_duckdb(tmp_path):
    df = _frame().drop(columns="true_id")
    runs = {}
    for backend in ("duckdb", "spark"):
        con = duckdb.connect()
        make_records(con, df)
        lk = {"backend": backend}
        if backend == "spark":
            lk["spark"] = {"spark.sql.shuffle.partitions": 1, "spark.default.parallelism": 1,
                           "num_partitions_on_repartition": 1}
        link(con, {"linkage": lk}, tmp_path / backend)
        runs[backend] = (con.execute("SELECT * FROM clusters").df(),
                         con.execute("SELECT * FROM links ORDER BY ALL").df())
    (cd, ld), (cs, ls) = runs["duckdb"], runs["spark"]
    assert cd.equals(cs)
    key = ["source_l", "record_id_l", "source_r", "record_id_r", "match_key"]
    assert ld[key].equals(ls[key])
    np.testing.assert_allclose(ld["match_probability"], ls["match_probability"], atol=1e-9)
