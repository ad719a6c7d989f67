"""``link()``: records → linkage keys → scored pairs → persons → person histories.

The steps (DESIGN.md, "Engines"; docs/internals.md):

1. :mod:`linkage.standardise` writes ``linkage_keys`` from ``records``.
2. Safe deterministic pre-grouping: records that share document number, document country,
   folded given and family names and full birth date are one traveller (a border file
   holds dozens of rows per person); only one representative per group is compared.
   Sources listed in ``linkage.one_per_person`` are never pre-grouped.
3. The Fellegi-Sunter model of :mod:`linkage.model`, trained and scored by Splink
   (``linkage.engine: splink``, DuckDB or Spark backend) or by recordlinkage
   (``linkage.engine: recordlinkage``), over all sources at once (link and dedupe).
4. Clustering at ``linkage.threshold`` (:mod:`linkage.cluster`), mapped back to every
   record; ``person_id`` numbered by each person's smallest ``(source, record_id)``.
5. Tables ``links``, ``clusters``, ``events`` (+ ``person_id``, :mod:`linkage.histories`),
   exported to ``out_dir``; model inspection in ``out_dir/linkage/``; clerical review pairs
   near the threshold in ``out_dir/linkage/clerical_review.csv``.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

from . import io
from .cluster import Clusterer, number_persons
from .errors import MiglinkError
from .histories import _exists as _table_exists
from .histories import attach_person_ids
from .model import build_spec
from .standardise import build_linkage_keys

#: Defaults of the ``linkage`` config section (docs/internals.md lists the keys).
DEFAULTS = {
    "engine": "splink", "backend": "duckdb", "threshold": 0.9, "blocking_rules": None,
    "comparisons": None, "pre_group": True, "one_per_person": [], "labels": None,
    "max_pairs": 1e6, "em_blocking_rules": None, "clerical_band": None, "spark": None,
}

#: Candidate pairs below this probability are not kept in ``links``.
LINKS_FLOOR = 0.01


def linkage_settings(config) -> tuple[dict, int | None, Path | None]:
    """(linkage section with defaults, config seed, config folder) of a Config or dict."""
    if config is None:
        lk, seed, base = {}, None, None
    elif isinstance(config, dict):
        lk = config.get("linkage", config) or {}
        seed, base = config.get("seed"), config.get("base_dir")
    else:
        lk = dict(getattr(config, "linkage", None) or {})
        seed, base = getattr(config, "seed", None), getattr(config, "base_dir", None)
    unknown = set(lk) - set(DEFAULTS)
    if unknown:
        raise MiglinkError(f"linkage: unknown key {sorted(unknown)[0]!r}")
    out = {**DEFAULTS, **{k: v for k, v in lk.items() if v is not None}}
    if out["engine"] not in ("splink", "recordlinkage"):
        raise MiglinkError(f"linkage.engine: {out['engine']!r} is not splink or recordlinkage")
    if out["backend"] not in ("duckdb", "spark"):
        raise MiglinkError(f"linkage.backend: {out['backend']!r} is not duckdb or spark")
    if out["engine"] == "recordlinkage" and out["backend"] == "spark":
        raise MiglinkError("linkage: engine recordlinkage runs in memory; backend spark needs "
                           "engine splink")
    t = out["threshold"]
    if not isinstance(t, (int, float)) or not 0 < float(t) < 1:
        raise MiglinkError(f"linkage.threshold: {t!r} is not a probability in (0, 1)")
    if isinstance(out["one_per_person"], str):
        out["one_per_person"] = [out["one_per_person"]]
    return out, seed, Path(base) if base else None


def clerical_band(lk: dict) -> tuple[float, float]:
    """Probability band for clerical review: given, or the threshold's match weight ± 2."""
    if lk.get("clerical_band"):
        lo, hi = lk["clerical_band"]
        if not 0 <= float(lo) <= float(hi) <= 1:
            raise MiglinkError(f"linkage.clerical_band: {lk['clerical_band']!r} is not two "
                               "probabilities lo <= hi")
        return float(lo), float(hi)
    t = float(lk["threshold"])
    w = math.log2(t / (1 - t))
    return 1 / (1 + 2 ** -(w - 2)), 1 / (1 + 2 ** -(w + 2))


def pre_group(con, enabled: bool = True, exclude_sources=(), keys: str = "linkage_keys"):
    """Write ``__ml_rep_map`` (rid, rep_rid) and ``__ml_reps`` (the representatives' keys).

    Records agreeing on document number, document country (both NULL counts as agreeing),
    folded given and family names and the full birth date are one person; the group's
    smallest rid represents it. Records missing any of these keys stand for themselves.
    """
    excl = ", ".join("'" + s.replace("'", "''") + "'" for s in exclude_sources)
    cond = ("doc IS NOT NULL AND given_std IS NOT NULL AND family_std IS NOT NULL AND "
            "birth_date IS NOT NULL" + (f" AND source NOT IN ({excl})" if excl else "")
            ) if enabled else "FALSE"
    con.execute(f"""CREATE OR REPLACE TABLE __ml_rep_map AS
        SELECT rid, CASE WHEN {cond} THEN min(rid) OVER (
                   PARTITION BY {cond}, doc, doc_country, given_std, family_std, birth_date)
               ELSE rid END AS rep_rid
        FROM {keys} ORDER BY rid""")
    con.execute(f"""CREATE OR REPLACE TABLE __ml_reps AS
        SELECT k.* FROM {keys} k JOIN __ml_rep_map m ON m.rid = k.rid AND m.rep_rid = m.rid
        ORDER BY k.rid""")
    return con.execute("SELECT count(*) FROM __ml_reps").fetchall()[0][0]


def read_labels(con, path, base: Path | None = None):
    """Clerical labels (source_l, record_id_l, source_r, record_id_r, is_match) mapped to the
    representatives' rids: columns source_dataset_l, unique_id_l, ..., is_match."""
    import pandas as pd

    p = Path(path)
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.exists():
        raise MiglinkError("labels file not found", file=str(p))
    df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p, dtype=str)
    need = ["source_l", "record_id_l", "source_r", "record_id_r", "is_match"]
    for c in need:
        if c not in df.columns:
            raise MiglinkError("labels file lacks a required column", file=str(p), column=c)
    df = df[need].astype(str)
    m = df["is_match"].str.strip().str.lower()
    ok = m.isin(["1", "0", "true", "false", "yes", "no", "1.0", "0.0"])
    if not ok.all():
        row = int((~ok).to_numpy().nonzero()[0][0]) + 1
        raise MiglinkError("is_match must be 1/0 or true/false", file=str(p), row=row,
                           column="is_match")
    df["is_match"] = m.isin(["1", "true", "yes", "1.0"])
    con.register("__ml_lab_df", df)
    out = con.execute("""
        SELECT rl.source AS source_dataset_l, ml.rep_rid AS unique_id_l,
               rr.source AS source_dataset_r, mr.rep_rid AS unique_id_r, d.is_match
        FROM __ml_lab_df d
        JOIN linkage_keys kl ON kl.source = d.source_l AND kl.record_id = d.record_id_l
        JOIN __ml_rep_map ml ON ml.rid = kl.rid
        JOIN __ml_reps rl ON rl.rid = ml.rep_rid
        JOIN linkage_keys kr ON kr.source = d.source_r AND kr.record_id = d.record_id_r
        JOIN __ml_rep_map mr ON mr.rid = kr.rid
        JOIN __ml_reps rr ON rr.rid = mr.rep_rid
        WHERE ml.rep_rid <> mr.rep_rid""").df()
    con.unregister("__ml_lab_df")
    return out


def make_engine(lk: dict, spec, seed: int):
    if lk["engine"] == "recordlinkage":
        from .engines.recordlinkage_engine import RecordLinkageEngine
        return RecordLinkageEngine(spec, seed=seed)
    from .engines.splink_engine import SplinkEngine
    return SplinkEngine(spec, seed=seed, max_pairs=float(lk["max_pairs"]),
                        backend=lk["backend"], spark=lk.get("spark"))


def write_links(con, pairs: str = "__ml_pairs", out: str = "links"):
    """``links``: scored pairs of representatives (match_key 'model') and each pre-grouped
    record tied to its representative (match_key 'pre_group', probability 1)."""
    con.execute(f"""CREATE OR REPLACE TABLE {out} AS
        SELECT l.source AS source_l, l.record_id AS record_id_l,
               r.source AS source_r, r.record_id AS record_id_r,
               p.match_weight::DOUBLE AS match_weight,
               p.match_probability::DOUBLE AS match_probability, 'model' AS match_key
        FROM {pairs} p JOIN linkage_keys l ON l.rid = p.rid_l
        JOIN linkage_keys r ON r.rid = p.rid_r
        UNION ALL
        SELECT l.source, l.record_id, r.source, r.record_id, NULL, 1.0, 'pre_group'
        FROM __ml_rep_map m JOIN linkage_keys l ON l.rid = m.rep_rid
        JOIN linkage_keys r ON r.rid = m.rid
        WHERE m.rid <> m.rep_rid
        ORDER BY source_l, record_id_l, source_r, record_id_r""")


def write_inspection(con, engine, ldir: Path, lk: dict, pairs: str = "__ml_pairs") -> list[str]:
    """Model inspection in ``ldir``: parameters.json (m/u/weight per level, λ),
    match_weight_histogram.csv (pairs per unit of match weight), the engine's model file
    and charts (HTML). A chart that fails is skipped with a warning, never fails the run."""
    written = []
    ldir.mkdir(parents=True, exist_ok=True)
    io.write_json(ldir / "parameters.json", engine.parameters(), default=str)
    written.append("parameters.json")
    io.export_table(con, f"""(SELECT floor(match_weight)::INTEGER AS weight_from,
                                  floor(match_weight)::INTEGER + 1 AS weight_to,
                                  count(*) AS pairs
                           FROM {pairs} GROUP BY 1, 2 ORDER BY 1)""",
                    ldir / "match_weight_histogram.csv", fmt="csv")
    written.append("match_weight_histogram.csv")
    for name, make in engine.artifacts().items():
        try:
            text = make()
        except Exception as exc:  # noqa: BLE001 - inspection never fails the run
            warnings.warn(f"linkage: {name} skipped ({type(exc).__name__}: {exc})",
                          stacklevel=2)
            continue
        io.write_text(ldir / name, text)
        written.append(name)
    return written


def _drop_work_tables(con, engine):
    """Drop the intermediate tables (ours and Splink's) so the run's database keeps only
    its documented tables (``linkage_keys`` stays: it explains the links)."""
    linker = getattr(engine, "linker_", None)
    if linker is not None and getattr(engine, "backend", "duckdb") == "duckdb":
        try:
            linker.table_management.delete_tables_created_by_splink_from_db()
        except Exception:  # noqa: BLE001 - cleanup is best effort
            pass
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE '\\_\\_ml\\_%' "
        "ESCAPE '\\' OR table_name LIKE '\\_\\_splink\\_\\_%' ESCAPE '\\'"
    ).fetchall()]
    for n in names:
        con.execute(f'DROP TABLE IF EXISTS "{n}"')


def link(con, config, out_dir, seed: int = 1, progress=None) -> dict:
    """Link ``records`` into persons; write ``links``, ``clusters``, ``events`` (+person_id).

    ``config``: a :class:`linkage.config.Config` (or a dict with a ``linkage`` section).
    ``progress``: optional callable taking a one-line message. Returns a summary dict.
    """
    lk, cfg_seed, base = linkage_settings(config)
    seed = int(seed if seed is not None else (cfg_seed or 1))
    say = progress or (lambda msg: None)
    out_dir = Path(out_dir)
    times, t = {}, time.perf_counter()

    def tick(name):
        nonlocal t
        now = time.perf_counter()
        times[name] = round(now - t, 3)
        t = now

    say("linkage: standardising names, dates and documents")
    std = build_linkage_keys(con)
    if std.n_records_ == 0:
        raise MiglinkError("linkage: the records table is empty; nothing to link")
    tick("standardise")
    spec = build_spec(std.fields_, lk)
    n_reps = pre_group(con, bool(lk["pre_group"]), lk["one_per_person"])
    tick("pre_group")
    labels = read_labels(con, lk["labels"], base) if lk["labels"] else None
    say(f"linkage: training the model on {n_reps:,} representative records "
        f"({lk['engine']}, {lk['backend']})")
    engine = make_engine(lk, spec, seed).fit(con, "__ml_reps", labels)
    tick("train")
    lo, hi = clerical_band(lk)
    floor = min(LINKS_FLOOR, float(lk["threshold"]), lo)
    say("linkage: scoring candidate pairs")
    n_pairs = engine.predict(con, "__ml_pairs", threshold=floor)
    tick("predict")
    say("linkage: clustering into persons")
    cl = Clusterer(lk["threshold"], lk["one_per_person"]).fit(
        con, "__ml_reps", "__ml_pairs", "__ml_rep_clusters")
    number_persons(con, "linkage_keys", "__ml_rep_map", "__ml_rep_clusters", "clusters")
    write_links(con)
    n_events = attach_person_ids(con)
    tick("cluster")

    out_dir.mkdir(parents=True, exist_ok=True)
    has_events = _table_exists(con, "events")
    for table in ("links", "clusters") + (("events",) if has_events else ()):
        io.export_table(con, table, out_dir / f"{table}.parquet")
    from .clerical import export_clerical
    ldir = out_dir / "linkage"
    inspection = write_inspection(con, engine, ldir, lk, "__ml_pairs")
    n_clerical = export_clerical(con, engine, ldir / "clerical_review.csv", lo, hi)
    tick("outputs")
    n_persons = con.execute("SELECT count(DISTINCT person_id) FROM clusters").fetchall()[0][0]
    n_links = con.execute("SELECT count(*) FROM __ml_pairs WHERE match_probability >= ?",
                          [float(lk["threshold"])]).fetchall()[0][0]
    summary = {
        "engine": lk["engine"], "backend": lk["backend"], "threshold": float(lk["threshold"]),
        "seed": seed, "n_records": int(std.n_records_), "n_representatives": int(n_reps),
        "fields": sorted(std.fields_), "n_candidate_pairs": int(n_pairs),
        "n_links_at_threshold": int(n_links), "n_persons": int(n_persons),
        "n_events": int(n_events), "clustering": cl.method_,
        "clerical_band": [lo, hi], "n_clerical_pairs": int(n_clerical),
        "blocking_rules": spec.blocking_rules, "trained": bool(getattr(engine, "trained_", 0)),
        "outputs": inspection, "seconds": times,
    }
    io.write_json(ldir / "summary.json", summary)
    _drop_work_tables(con, engine)
    say(f"linkage: {std.n_records_:,} records -> {n_persons:,} persons")
    return summary


__all__ = ["DEFAULTS", "clerical_band", "link", "linkage_settings", "pre_group", "read_labels",
           "write_inspection", "write_links"]
