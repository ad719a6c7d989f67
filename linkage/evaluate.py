"""Linkage quality against a truth table: pairwise and cluster precision, recall, F1.

Pairwise measures (Christen, *Data Matching*, 2012, §7.3; Menestrina et al. 2010): a pair of
records is *predicted* when both sit in one cluster and *true* when both share a
``true_id``. With n_ct records of cluster c and true entity t,
TP = Σ C(n_ct, 2), predicted = Σ_c C(n_c, 2), true = Σ_t C(n_t, 2) — computed from counts,
never by enumerating pairs, so it scales to millions of records. Precision (recall) is 1
when there are no predicted (true) pairs. Cluster measures count clusters that equal a
true entity exactly: precision = exact / clusters, recall = exact / entities.

With a ``links`` table, scored pairs are also split into false links (same cluster,
different true_id) and missed links (same true_id, different clusters), counted by kind of
disagreement (the canonical fields on which the two records differ) when ``records`` is
given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import io
from .errors import MiglinkError

KEY = ["source", "record_id"]
#: Fields compared to describe the kind of a linkage error.
ERROR_FIELDS = ("given_name", "family_name", "full_name", "birth_date", "birth_year", "sex",
                "citizenship", "birth_country", "document_number", "address", "postcode")


def _pairs(n) -> float:
    n = np.asarray(n, dtype=np.float64)
    return float((n * (n - 1) / 2).sum())


def _prf(tp: float, pred: float, true: float) -> tuple[float, float, float]:
    p = tp / pred if pred else 1.0
    r = tp / true if true else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _check(df: pd.DataFrame, cols: list[str], name: str):
    for c in cols:
        if c not in df.columns:
            raise MiglinkError("missing required column", file=name, column=c)


def evaluate(clusters_df: pd.DataFrame, truth_df: pd.DataFrame,
             links_df: pd.DataFrame | None = None,
             records_df: pd.DataFrame | None = None) -> dict:
    """Pairwise and cluster precision/recall/F1 of ``clusters_df`` (source, record_id,
    person_id) against ``truth_df`` (source, record_id, true_id); see the module docstring.

    Records present in only one of the two tables are left out and counted
    (``n_unmatched_clusters``, ``n_unmatched_truth``).
    """
    _check(clusters_df, KEY + ["person_id"], "clusters")
    _check(truth_df, KEY + ["true_id"], "truth")
    c = clusters_df[KEY + ["person_id"]].astype({"source": str, "record_id": str})
    t = truth_df[KEY + ["true_id"]].astype({"source": str, "record_id": str})
    m = c.merge(t, on=KEY, how="inner")
    n_ct = m.groupby(["person_id", "true_id"], sort=False).size()
    n_c = m.groupby("person_id", sort=False).size()
    n_t = m.groupby("true_id", sort=False).size()
    tp, pred, true = _pairs(n_ct), _pairs(n_c), _pairs(n_t)
    p, r, f = _prf(tp, pred, true)
    ct = n_ct.reset_index(name="n")
    ct["nc"] = ct["person_id"].map(n_c).to_numpy()
    ct["nt"] = ct["true_id"].map(n_t).to_numpy()
    exact = int(((ct["n"] == ct["nc"]) & (ct["n"] == ct["nt"])).sum())
    cp, cr, cf = _prf(exact, len(n_c), len(n_t))
    out = {
        "n_records": int(len(m)), "n_unmatched_clusters": int(len(c) - len(m)),
        "n_unmatched_truth": int(len(t) - len(m)),
        "n_clusters": int(len(n_c)), "n_true_entities": int(len(n_t)),
        "pairwise": {"precision": p, "recall": r, "f1": f, "true_positive_pairs": tp,
                     "predicted_pairs": pred, "true_pairs": true,
                     "false_positive_pairs": pred - tp, "false_negative_pairs": true - tp},
        "cluster": {"precision": cp, "recall": cr, "f1": cf, "exact_clusters": exact},
    }
    if links_df is not None:
        out["links"] = link_errors(m, links_df, records_df)
    return out


def link_errors(m: pd.DataFrame, links_df: pd.DataFrame,
                records_df: pd.DataFrame | None = None) -> dict:
    """False and missed links among the scored pairs, by kind of disagreement."""
    _check(links_df, ["source_l", "record_id_l", "source_r", "record_id_r"], "links")
    lk = links_df[["source_l", "record_id_l", "source_r", "record_id_r"]].astype(str)
    side = m.set_index(KEY)[["person_id", "true_id"]]
    for s in ("l", "r"):
        idx = pd.MultiIndex.from_arrays([lk[f"source_{s}"], lk[f"record_id_{s}"]])
        v = side.reindex(idx)
        lk[f"person_{s}"], lk[f"true_{s}"] = v["person_id"].to_numpy(), v["true_id"].to_numpy()
    lk = lk.dropna(subset=["person_l", "person_r", "true_l", "true_r"])
    same_p = lk["person_l"] == lk["person_r"]
    same_t = lk["true_l"] == lk["true_r"]
    false = lk[same_p & ~same_t]
    missed = lk[~same_p & same_t]
    res = {"scored_pairs": int(len(lk)), "false_links": int(len(false)),
           "missed_links": int(len(missed)),
           "true_pairs_scored": int(same_t.sum())}
    if records_df is not None:
        res["false_links_by_disagreement"] = _kinds(false, records_df)
        res["missed_links_by_disagreement"] = _kinds(missed, records_df)
    return res


def _kinds(pairs: pd.DataFrame, records_df: pd.DataFrame) -> dict:
    if not len(pairs):
        return {}
    rec = records_df.astype({"source": str, "record_id": str}).set_index(KEY)
    fields = [f for f in ERROR_FIELDS if f in rec.columns]
    lv = rec.reindex(pd.MultiIndex.from_arrays([pairs["source_l"], pairs["record_id_l"]]))
    rv = rec.reindex(pd.MultiIndex.from_arrays([pairs["source_r"], pairs["record_id_r"]]))
    kind = pd.Series("", index=range(len(pairs)))
    for f in fields:
        a = lv[f].astype("string").str.strip().str.lower().to_numpy()
        b = rv[f].astype("string").str.strip().str.lower().to_numpy()
        both = ~pd.isna(a) & ~pd.isna(b)
        diff = np.zeros(len(a), dtype=bool)
        diff[both] = a[both] != b[both]
        kind[diff] = kind[diff] + "+" + f
    kind = kind.str.lstrip("+").replace("", "none")
    return {k: int(v) for k, v in kind.value_counts().sort_index().items()}


def read_table(path: str | Path, name: str) -> pd.DataFrame:
    """Read a CSV or Parquet table; a missing or unreadable file is a MiglinkError."""
    p = Path(path)
    if not p.exists():
        raise MiglinkError(f"{name} file not found", file=str(p))
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        return pd.read_csv(p, dtype={"source": str, "record_id": str,
                                     "source_l": str, "record_id_l": str,
                                     "source_r": str, "record_id_r": str})
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise MiglinkError(f"cannot read {name} table ({type(exc).__name__})",
                           file=str(p)) from exc


def format_table(res: dict) -> str:
    lines = [f"{'':10}{'precision':>10}{'recall':>10}{'F1':>10}"]
    for k in ("pairwise", "cluster"):
        d = res[k]
        lines.append(f"{k:10}{d['precision']:>10.4f}{d['recall']:>10.4f}{d['f1']:>10.4f}")
    lines.append(f"records {res['n_records']}, clusters {res['n_clusters']}, "
                 f"true entities {res['n_true_entities']}")
    if "links" in res:
        lk = res["links"]
        lines.append(f"links: {lk['false_links']} false, {lk['missed_links']} missed "
                     f"of {lk['scored_pairs']} scored pairs")
    return "\n".join(lines)


def evaluate_command(args) -> int:
    """``miglink evaluate --clusters FILE --truth FILE [--links FILE] [--out FILE]``."""
    clusters = read_table(args.clusters, "clusters")
    truth = read_table(args.truth, "truth")
    _check(clusters, KEY + ["person_id"], str(args.clusters))
    _check(truth, KEY + ["true_id"], str(args.truth))
    links = read_table(args.links, "links") if getattr(args, "links", None) else None
    if links is not None:
        _check(links, ["source_l", "record_id_l", "source_r", "record_id_r"], str(args.links))
    res = evaluate(clusters, truth, links)
    print(format_table(res))
    if getattr(args, "out", None):
        io.write_json(args.out, res)
    return 0


def blocking_recall(con, truth_df: pd.DataFrame, rules: list[str],
                    keys: str = "linkage_keys") -> dict:
    """Share of true matching pairs that at least one blocking rule admits (and each
    rule alone). True pairs are enumerated within each true entity only (small groups).

    ``rules`` are SQL conditions on ``l.``/``r.`` columns of ``keys``.
    """
    t = truth_df[KEY + ["true_id"]].astype({"source": str, "record_id": str, "true_id": str})
    con.register("__ml_truth", t)
    cols = ", ".join(f"coalesce(({r}), FALSE) AS rule_{i}" for i, r in enumerate(rules))
    any_ = " OR ".join(f"rule_{i}" for i in range(len(rules))) or "FALSE"
    q = f"""WITH k AS (SELECT k.*, t.true_id FROM {keys} k
                       JOIN __ml_truth t USING (source, record_id)),
            p AS (SELECT {cols} FROM k l JOIN k r ON l.true_id = r.true_id AND l.rid < r.rid)
            SELECT count(*) AS n, {', '.join(f'sum(rule_{i}::INT)' for i in range(len(rules)))
                                   or '0'}, sum(({any_})::INT) FROM p"""
    row = con.execute(q).fetchall()[0]
    con.unregister("__ml_truth")
    n = row[0] or 0
    per = [float(x or 0) / n if n else 1.0 for x in row[1:-1]]
    return {"true_pairs": int(n), "recall": float(row[-1] or 0) / n if n else 1.0,
            "per_rule": dict(zip(rules, per))}
