"""Splink engine: train the Fellegi-Sunter model and score candidate pairs.

Training (Splink 5): the prior λ by Splink's direct estimate from deterministic rules
(recall 0.7), u by random sampling (seeded), m by EM over several blocking rules (u fixed),
then m from clerical labels when given. Inputs smaller than ``min_train_records`` keep the
prior m/u of :mod:`linkage.model`: EM on a handful of records is not identifiable.
"""

from __future__ import annotations

import copy
import logging
import time
import warnings

import pandas as pd

from ..model import ModelSpec

logger = logging.getLogger(__name__)

#: Below this many (representative) records the model keeps its prior m, u and λ.
MIN_TRAIN_RECORDS = 1000


class SplinkEngine:
    """Score pairs of ``table`` (rows of ``linkage_keys``) with Splink.

    Parameters: ``spec`` (:class:`linkage.model.ModelSpec`), ``seed``, ``max_pairs`` (u
    sampling), ``backend`` (``duckdb`` | ``spark``), ``spark`` (dict of Spark conf).
    Attributes after :meth:`fit`: ``linker_``, ``trained_`` (bool), ``training_log_``.
    """

    def __init__(self, spec: ModelSpec, seed: int = 1, max_pairs: float = 1e6,
                 backend: str = "duckdb", spark: dict | None = None,
                 min_train_records: int = MIN_TRAIN_RECORDS):
        self.spec, self.seed, self.max_pairs = spec, seed, max_pairs
        self.backend, self.spark, self.min_train_records = backend, spark or {}, min_train_records

    # -- inputs ---------------------------------------------------------------------------
    def _db_api(self, con):
        if self.backend == "spark":
            from .spark_backend import spark_api
            self.db_api_ = spark_api(self.spark)
        else:
            from splink import DuckDBAPI
            self.db_api_ = DuckDBAPI(connection=con)
        return self.db_api_

    def _register(self, con, table: str):
        """One Splink input per source (link_and_dedupe); a single source is dedupe_only."""
        db = self._db_api(con)
        sources = [r[0] for r in con.execute(
            f"SELECT DISTINCT source FROM {table} ORDER BY source").fetchall()]
        sdfs = []
        for i, src in enumerate(sources):
            sel = f"SELECT * EXCLUDE (name_tokens) FROM {table} WHERE source = ? ORDER BY rid"
            if self.backend == "spark":
                df = con.execute(sel, [src]).df()
                sdfs.append(db.register(_to_spark(db, df), dataset_display_name=src,
                                        table_name=f"__ml_in_{i}"))
            else:
                con.execute(f"CREATE OR REPLACE TABLE __ml_in_{i} AS "
                            + sel.replace("?", "$1"), [src])
                sdfs.append(db.register(f"__ml_in_{i}", dataset_display_name=src,
                                        table_name=f"__ml_src_{i}"))
        self.n_inputs_ = len(sdfs)
        link_type = "link_and_dedupe" if len(sdfs) > 1 else "dedupe_only"
        return sdfs, link_type

    # -- training -------------------------------------------------------------------------
    def fit(self, con, table: str, labels: pd.DataFrame | None = None) -> "SplinkEngine":
        from splink import Linker

        sdfs, link_type = self._register(con, table)
        n = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        self.trained_ = n >= self.min_train_records
        settings = self.spec.settings(link_type)
        if self.backend == "spark":
            from .spark_backend import spark_settings
            settings = spark_settings(settings)
        if not self.trained_:
            # term frequencies of a handful of records are noise, not evidence
            settings = copy.deepcopy(settings)
            for comp in settings["comparisons"]:
                for lv in comp["comparison_levels"]:
                    lv.pop("tf_adjustment_column", None)
                    lv.pop("tf_adjustment_weight", None)
        self.linker_ = Linker(sdfs if len(sdfs) > 1 else sdfs[0], settings,
                              log_level=logging.ERROR)
        self.training_log_ = [] if self.trained_ else [
            f"untrained: {n} records < {self.min_train_records}; prior m, u and λ kept, "
            "no term-frequency adjustment"]
        tr = self.linker_.training
        if self.trained_:
            if self.spec.deterministic_rules:
                try:
                    tr.estimate_probability_two_random_records_match(
                        self.spec.deterministic_rules, recall=0.7)
                    self.training_log_.append("lambda: deterministic rules, recall 0.7")
                except Exception as exc:  # noqa: BLE001 - keep the prior, say so
                    warnings.warn(f"linkage: prior λ kept ({exc})", stacklevel=2)
            t0 = time.perf_counter()
            tr.estimate_u_using_random_sampling(max_pairs=self.max_pairs, seed=self.seed)
            self.training_log_.append(f"u: random sampling, max_pairs={self.max_pairs:g}, "
                                      f"seed={self.seed} ({time.perf_counter() - t0:.1f} s)")
            for rule in self.spec.em_blocking_rules:
                try:
                    t0 = time.perf_counter()
                    tr.estimate_parameters_using_expectation_maximisation(
                        rule, fix_u_probabilities=True)
                    self.training_log_.append(f"m: EM blocked on {rule} "
                                              f"({time.perf_counter() - t0:.1f} s)")
                except Exception as exc:  # noqa: BLE001 - a session may have no pairs
                    warnings.warn(f"linkage: EM session on {rule!r} skipped ({exc})",
                                  stacklevel=2)
        if labels is not None and len(labels):
            self._fit_labels(labels)
        return self

    def _fit_labels(self, labels: pd.DataFrame):
        """m from clerical pairs labelled as matches (Splink: m from pairwise labels)."""
        lab = labels.loc[labels["is_match"].astype(bool),
                         ["source_dataset_l", "unique_id_l", "source_dataset_r", "unique_id_r"]]
        if not len(lab):
            return
        lab = lab.rename(columns={"unique_id_l": "rid_l", "unique_id_r": "rid_r"})
        if self.n_inputs_ == 1:
            lab = lab[["rid_l", "rid_r"]]
        sdf = self.db_api_.register(lab.reset_index(drop=True), table_name="__ml_labels")
        self.linker_.training.estimate_m_from_pairwise_labels(sdf)
        self.training_log_.append(f"m: from {len(lab)} labelled matching pairs")

    # -- scoring --------------------------------------------------------------------------
    def predict(self, con, out: str, threshold: float = 0.0) -> int:
        """Score blocked pairs with match_probability ≥ ``threshold`` into table ``out``
        (rid_l, rid_r, match_weight, match_probability, gamma_* and the compared values)."""
        pred = self.linker_.inference.predict(threshold_match_probability=threshold or None,
                                              warning_mode="never")
        self.predictions_ = pred
        if self.backend == "spark":
            df = pred.as_pandas_dataframe()
            con.register("__ml_pred_df", df)
            src = "__ml_pred_df"
        else:
            src = pred.physical_name
        con.execute(f"""CREATE OR REPLACE TABLE {out} AS
            SELECT least(rid_l, rid_r) AS a, greatest(rid_l, rid_r) AS b, *
            FROM {src}""")
        con.execute(f"""CREATE OR REPLACE TABLE {out} AS
            SELECT * EXCLUDE (a, b, rid_l, rid_r) REPLACE (match_weight::DOUBLE AS match_weight,
                   match_probability::DOUBLE AS match_probability),
                   a AS rid_l, b AS rid_r FROM {out} ORDER BY rid_l, rid_r""")
        if self.backend == "spark":
            con.unregister("__ml_pred_df")
        return con.execute(f"SELECT count(*) FROM {out}").fetchall()[0][0]

    def parameters(self) -> dict:
        """m, u and match weight per comparison level, and λ (for model inspection)."""
        s = self.linker_._settings_obj
        out = {"probability_two_random_records_match":
               s._probability_two_random_records_match, "trained": self.trained_,
               "training": self.training_log_, "comparisons": []}
        for comp in s.comparisons:
            levels = []
            for lv in comp.comparison_levels:
                if lv.is_null_level:
                    continue
                levels.append({"label": lv.label_for_charts,
                               "m_probability": _num(lv.m_probability),
                               "u_probability": _num(lv.u_probability),
                               "match_weight": _num(getattr(lv, "_log2_bayes_factor", None))
                               if _num(lv.m_probability) and _num(lv.u_probability) else None,
                               "tf_adjustment_column": lv._tf_adjustment_column})
            out["comparisons"].append({"name": comp.output_column_name, "levels": levels})
        return out


    def artifacts(self) -> dict:
        """name -> callable returning the text of Splink's model JSON and charts (HTML)."""
        import json

        vis = self.linker_.visualisations

        def html(chart):
            try:
                return chart.to_html(inline=True)
            except Exception:  # noqa: BLE001 - bundled libraries missing: CDN version
                return chart.to_html(inline=False)

        out = {
            "splink_model.json": lambda: json.dumps(
                self.linker_.misc.save_model_to_json(), indent=2, default=str),
            "match_weights_chart.html": lambda: html(vis.match_weights_chart()),
            "m_u_parameters_chart.html": lambda: html(vis.m_u_parameters_chart()),
        }
        if self.backend != "spark":  # on Spark this re-reads all predictions: CSV suffices
            out["match_weights_histogram.html"] = lambda: html(
                vis.match_weights_histogram(self.predictions_))
        return out

    def comparison_levels(self) -> dict[str, dict[int, str]]:
        """Comparison name -> {gamma value: level label} (for clerical review)."""
        out = {}
        for comp in self.linker_._settings_obj.comparisons:
            out[comp.output_column_name] = {
                int(lv.comparison_vector_value): lv.label_for_charts
                for lv in comp.comparison_levels}
        return out


def _num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _to_spark(db, df: pd.DataFrame):
    return db.spark.createDataFrame(df)
