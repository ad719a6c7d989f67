"""Scoring a run against a synthetic world's truth (``miglink demo``).

Three figures, each against ``world/truth/``:

* linkage: pairwise and cluster precision, recall and F1 of ``clusters`` against
  ``truth/records.parquet`` (:func:`linkage.evaluate.evaluate`);
* residence: the share of true person x reference date x rule whose status the run got
  right — once after the run's own linkage (each true person is matched to the linked person
  holding most of its records) and once with the true person ids (the classifier alone, on
  the observed, defective sources);
* MSE: whether the interval covers the true size of the hidden population.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd


def _read(path: Path) -> pd.DataFrame | None:
    return pd.read_parquet(path) if path.exists() else None


def linkage_scores(out_dir: Path, truth_dir: Path) -> dict | None:
    clusters = _read(out_dir / "clusters.parquet")
    truth = _read(truth_dir / "records.parquet")
    if clusters is None or truth is None:
        return None
    from linkage.evaluate import evaluate

    return evaluate(clusters, truth)


def _status_accuracy(con, predicted: str, truth: str, observed: str) -> dict[str, float]:
    """Share of truth rows (true_id, reference_date, rule) with the predicted status.

    Only persons that some source records (``observed``: true_id) are scored: a person no
    source has ever seen (e.g. a baby registered after the data ends) cannot be classified.
    """
    rows = con.execute(f"""
        SELECT t.rule, avg(CASE WHEN p.status IS NOT DISTINCT FROM t.status THEN 1 ELSE 0 END)
        FROM (SELECT * FROM {truth} WHERE true_id IN (SELECT true_id FROM {observed})) t
        LEFT JOIN {predicted} p
          ON p.true_id = t.true_id AND p.reference_date = t.reference_date AND p.rule = t.rule
        GROUP BY t.rule ORDER BY t.rule""").fetchall()
    return {rule: float(acc) for rule, acc in rows}


def residence_scores(out_dir: Path, truth_dir: Path) -> dict | None:
    """Status accuracy after the run's linkage: true person -> linked person with most records."""
    need = [out_dir / "residence.parquet", out_dir / "clusters.parquet",
            truth_dir / "residence.parquet", truth_dir / "records.parquet"]
    if not all(p.exists() for p in need):
        return None
    con = duckdb.connect()
    try:
        con.execute(f"""
            CREATE TABLE best AS
            SELECT true_id, arg_max(person_id, n) AS person_id FROM (
                SELECT t.true_id, c.person_id, count(*) AS n
                FROM read_parquet('{truth_dir / "records.parquet"}') t
                JOIN read_parquet('{out_dir / "clusters.parquet"}') c
                  ON c.source = t.source AND c.record_id = CAST(t.record_id AS VARCHAR)
                GROUP BY ALL) GROUP BY true_id;
            CREATE VIEW predicted AS
            SELECT b.true_id, r.reference_date, r.rule, r.status
            FROM read_parquet('{out_dir / "residence.parquet"}') r JOIN best b USING (person_id);
            CREATE VIEW truth AS SELECT * FROM read_parquet('{truth_dir / "residence.parquet"}');
        """)
        return _status_accuracy(con, "predicted", "truth",
                                f"read_parquet('{truth_dir / 'records.parquet'}')")
    finally:
        con.close()


def residence_scores_true_ids(db_path: Path, cfg, truth_dir: Path) -> dict | None:
    """Status accuracy of the classifier alone: the run's sources keyed by the true ids."""
    if not (db_path.exists() and (truth_dir / "residence.parquet").exists()
            and (db_path.parent / "residence.parquet").exists()):
        return None  # the run stopped before the residence step
    from integrators.micro import integrate
    from integrators.residence import classify

    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{db_path}' AS run (READ_ONLY)")
        con.execute(f"""
            CREATE TABLE ids AS SELECT source, CAST(record_id AS VARCHAR) AS record_id,
                   dense_rank() OVER (ORDER BY true_id) AS person_id, true_id
            FROM read_parquet('{truth_dir / "records.parquet"}');
            CREATE TABLE records AS SELECT * FROM run.records;
            CREATE TABLE clusters AS
                SELECT r.source, r.record_id, i.person_id FROM run.records r
                JOIN ids i USING (source, record_id);
            CREATE TABLE events AS
                SELECT e.*, i.person_id
                FROM (SELECT COLUMNS(lambda c: c <> 'person_id') FROM run.events) e
                JOIN ids i USING (source, record_id)
                ORDER BY i.person_id, e.event_date, e.event_seq;
        """)
        integrate(con, cfg)
        res = cfg.residence
        classify(con, res.rules, res.reference_dates, res.observed_until)
        con.execute(f"""
            CREATE VIEW predicted AS
            SELECT i.true_id, r.reference_date, r.rule, r.status
            FROM residence r JOIN (SELECT DISTINCT person_id, true_id FROM ids) i
              USING (person_id);
            CREATE VIEW truth AS SELECT * FROM read_parquet('{truth_dir / "residence.parquet"}');
        """)
        return _status_accuracy(con, "predicted", "truth",
                                f"read_parquet('{truth_dir / 'records.parquet'}')")
    finally:
        con.close()


def mse_scores(out_dir: Path, truth_dir: Path) -> dict | None:
    est_path, true_path = out_dir / "mse.json", truth_dir / "hidden_population.json"
    if not (est_path.exists() and true_path.exists()):
        return None
    est = json.loads(est_path.read_text())
    true = json.loads(true_path.read_text())
    total = int(true["total"])
    lo, hi = est.get("ci_low"), est.get("ci_high")
    covered = bool(lo is not None and hi is not None and lo <= total <= hi)
    return {"true": total, "estimate": est.get("estimate"), "ci_low": lo, "ci_high": hi,
            "covered": covered}


def evaluate_run(out_dir: Path, truth_dir: Path, cfg=None) -> dict:
    """All available scores of a run in ``out_dir`` against ``truth_dir``."""
    out_dir, truth_dir = Path(out_dir), Path(truth_dir)
    result: dict = {}
    lk = linkage_scores(out_dir, truth_dir)
    if lk:
        flat = {k: v for k, v in lk.items() if not isinstance(v, (dict, list))}
        for level in ("pairwise", "cluster"):
            for k, v in (lk.get(level) or {}).items():
                flat[f"{level}_{k}"] = v
        result["linkage"] = flat
    res = residence_scores(out_dir, truth_dir)
    if res:
        result["residence_accuracy"] = res
    if cfg is not None:
        res_true = residence_scores_true_ids(out_dir / "miglink.duckdb", cfg, truth_dir)
        if res_true:
            result["residence_accuracy_true_ids"] = res_true
    mse = mse_scores(out_dir, truth_dir)
    if mse:
        result["mse"] = mse
    return result
