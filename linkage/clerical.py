"""Clerical review: pairs near the threshold out, labelled pairs back in.

:func:`export_clerical` writes the candidate pairs whose match probability lies in the
clerical band (Fellegi & Sunter 1969: the "possible links" between the two thresholds) with
the comparison level of each field and both records' values, plus an empty ``is_match``
column. A reviewer fills ``is_match`` (1/0) and points ``linkage.labels`` at the file;
:func:`linkage.link.read_labels` reads it back and the engine trains on it (Splink: m from
pairwise labels; recordlinkage: a logistic-regression classifier).
"""

from __future__ import annotations

from pathlib import Path

from . import io

#: Record fields shown beside each pair (when the records table has them).
SHOWN = ("given_name", "family_name", "full_name", "birth_date", "birth_year", "sex",
         "citizenship", "birth_country", "document_number", "document_country", "address",
         "locality", "postcode", "region")


def export_clerical(con, engine, path: Path, lo: float, hi: float,
                    pairs: str = "__ml_pairs", records: str = "records") -> int:
    """Write pairs with ``lo ≤ match_probability ≤ hi`` to ``path`` (CSV); returns count."""
    cols = {r[0] for r in con.execute(f"DESCRIBE {pairs}").fetchall()}
    rcols = {r[0] for r in con.execute(f"DESCRIBE {records}").fetchall()}
    levels = []
    for name, labels in engine.comparison_levels().items():
        g = f"gamma_{name}"
        if g not in cols:
            continue
        cases = " ".join(f"WHEN {v} THEN '{lab.replace(chr(39), chr(39) * 2)}'"
                         for v, lab in sorted(labels.items()))
        levels.append(f'CASE p."{g}" {cases} END AS "{name}_level"')
    shown = []
    for f in SHOWN:
        if f in rcols:
            shown += [f'rl."{f}" AS "{f}_l"', f'rr."{f}" AS "{f}_r"']
    sel = ", ".join(["kl.source AS source_l", "kl.record_id AS record_id_l",
                     "kr.source AS source_r", "kr.record_id AS record_id_r",
                     "p.match_probability", "p.match_weight", *levels, *shown,
                     "CAST(NULL AS INTEGER) AS is_match"])
    query = f"""(SELECT {sel} FROM {pairs} p
        JOIN linkage_keys kl ON kl.rid = p.rid_l JOIN linkage_keys kr ON kr.rid = p.rid_r
        JOIN {records} rl ON rl.source = kl.source AND rl.record_id = kl.record_id
        JOIN {records} rr ON rr.source = kr.source AND rr.record_id = kr.record_id
        WHERE p.match_probability BETWEEN {float(lo)!r} AND {float(hi)!r}
        ORDER BY abs(p.match_probability - {(lo + hi) / 2!r}), source_l, record_id_l,
                 source_r, record_id_r)"""
    io.export_table(con, query, path, fmt="csv")
    return con.execute(f"SELECT count(*) FROM {pairs} WHERE match_probability BETWEEN ? AND ?",
                       [float(lo), float(hi)]).fetchall()[0][0]
