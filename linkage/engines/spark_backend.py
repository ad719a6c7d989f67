"""Spark backend (``linkage.backend: spark``): the same Splink model on pyspark.

A local SparkSession (``local[2]``, few shuffle partitions) unless the ``linkage.spark``
config section says otherwise (any ``spark.*`` key is passed to the builder, ``master``
names the cluster). The comparison SQL of :mod:`linkage.model` is written for DuckDB;
:func:`spark_settings` rewrites its few DuckDB-only functions into Spark SQL (Splink's
``jaro_winkler`` UDF from its bundled jar, ``array_intersect``/``split``, ``startswith``).
"""

from __future__ import annotations

import copy
import re

from ..errors import MiglinkError

_REWRITES = (
    (re.compile(r"\bjaro_winkler_similarity\("), "jaro_winkler("),
    (re.compile(r"\blen\(list_intersect\("), "size(array_intersect("),
    (re.compile(r"\bstring_split\("), "split("),
    (re.compile(r"\bstarts_with\("), "startswith("),
)


def to_spark_sql(sql: str) -> str:
    for pat, rep in _REWRITES:
        sql = pat.sub(rep, sql)
    return sql


def spark_settings(settings: dict) -> dict:
    """A copy of a Splink settings dict with comparison SQL in Spark's dialect."""
    out = copy.deepcopy(settings)
    for comp in out["comparisons"]:
        for lv in comp["comparison_levels"]:
            lv["sql_condition"] = to_spark_sql(lv["sql_condition"])
    out["blocking_rules_to_generate_predictions"] = [
        to_spark_sql(r) for r in out["blocking_rules_to_generate_predictions"]]
    return out


def spark_session(conf: dict | None = None):
    """A local SparkSession with Splink's similarity jar on the class path."""
    try:
        from pyspark.sql import SparkSession
        from splink.backends.spark import similarity_jar_location
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise MiglinkError("linkage.backend: spark needs pyspark (pip install "
                           "'miglink[spark]')") from exc
    conf = dict(conf or {})
    b = SparkSession.builder.master(conf.pop("master", "local[2]")).appName("miglink")
    defaults = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "4",
                "spark.ui.enabled": "false", "spark.ui.showConsoleProgress": "false",
                "spark.driver.memory": "2g",
                "spark.jars": similarity_jar_location(),
                "spark.sql.ansi.enabled": "false"}
    for k, v in {**defaults, **conf}.items():
        b = b.config(k, str(v))
    try:
        spark = b.getOrCreate()
    except Exception as exc:  # noqa: BLE001 - Java missing or broken: one line
        raise MiglinkError(f"linkage.backend: spark could not start ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_api(conf: dict | None = None):
    """Splink's SparkAPI. ``break_lineage_method`` and ``num_partitions_on_repartition``
    in ``conf`` go to Splink; on a local master lineage is broken by ``persist``."""
    from splink import SparkAPI

    conf = dict(conf or {})
    local = str(conf.get("master", "local[2]")).startswith("local")
    splink_opts = {"break_lineage_method": conf.pop("break_lineage_method",
                                                    "persist" if local else None),
                   "num_partitions_on_repartition": conf.pop(
                       "num_partitions_on_repartition", None)}
    spark = spark_session(conf)
    spark.sparkContext.setCheckpointDir(spark.conf.get("spark.local.dir", "/tmp")
                                        + "/miglink-spark-checkpoints")
    return SparkAPI(spark_session=spark, **splink_opts)
