"""The whole pipeline: ``miglink run``, ``miglink link`` and ``miglink demo``.

Steps, in order (DESIGN.md, the path of the data)::

    ingest -> link -> micro -> residence -> mobility -> tables -> mse -> report

Every step reads and writes tables in one DuckDB database per run (``OUT/miglink.duckdb``)
and exports the tables it made to ``OUT/*.parquet`` (atomically). ``--steps`` re-runs a part
from what an earlier run left in OUT. The database is worked on under a temporary name and
renamed into place only when the run succeeds, so a failed run leaves the previous outputs
untouched.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from linkage.db import has_table
from linkage.errors import MiglinkError
from linkage.io import export_table, write_json

STEPS: tuple[str, ...] = ("ingest", "link", "micro", "residence", "mobility", "tables", "mse",
                          "report")
LINK_STEPS: tuple[str, ...] = ("ingest", "link")

#: step -> tables it exports to OUT/<table>.parquet
EXPORTS: dict[str, tuple[str, ...]] = {
    "ingest": ("records", "rejected", "field_issues", "events"),
    "link": ("links", "clusters", "events"),
    "micro": ("persons", "stays"),
    "residence": ("residence", "migration_events"),
    "mobility": ("mobility",),
}

#: the tables each step needs from earlier steps (checked when --steps skips them)
NEEDS: dict[str, tuple[str, ...]] = {
    "link": ("records", "events"),
    "micro": ("records", "clusters", "events"),
    "residence": ("crossings", "residence_persons"),
    "mobility": ("residence", "crossings"),
    "tables": ("persons", "residence", "migration_events"),
    "mse": ("clusters",),
    "report": (),
}

DEMO_PERSONS = 2000


def _say(msg: str) -> None:
    print(f"miglink: {msg}", file=sys.stderr, flush=True)


def parse_steps(spec: str | None, allowed: tuple[str, ...] = STEPS) -> list[str]:
    """Parse ``--steps`` ("link,micro" or "micro-" for micro onwards) in pipeline order."""
    if not spec:
        return list(allowed)
    chosen: set[str] = set()
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.endswith("-"):
            start = part[:-1]
            if start not in allowed:
                raise MiglinkError(f"--steps: unknown step {start!r}; steps are "
                                   f"{', '.join(allowed)}")
            chosen.update(allowed[allowed.index(start):])
        elif part in allowed:
            chosen.add(part)
        else:
            raise MiglinkError(f"--steps: unknown step {part!r}; steps are {', '.join(allowed)}")
    return [s for s in allowed if s in chosen]


@dataclass
class Run:
    """One run of the pipeline on a config, writing into ``out_dir``."""

    cfg: object
    out_dir: Path
    seed: int = 1
    truth_dir: Path | None = None
    summary: dict = field(default_factory=dict)
    con: duckdb.DuckDBPyConnection | None = None

    @property
    def db_path(self) -> Path:
        return self.out_dir / "miglink.duckdb"

    # -- database lifecycle -------------------------------------------------------------
    @contextlib.contextmanager
    def database(self):
        """Open a working copy of OUT/miglink.duckdb; rename it into place on success."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        work = self.out_dir / ".miglink.duckdb.partial"
        for stale in (work, Path(str(work) + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        if self.db_path.exists():
            shutil.copyfile(self.db_path, work)
        self.con = duckdb.connect(str(work))
        if sys.stderr.isatty():  # DuckDB's own progress bar for every long query
            self.con.execute("SET enable_progress_bar = true")
        threads = os.environ.get("MIGLINK_THREADS")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        ok = False
        try:
            yield self.con
            self.con.execute("CHECKPOINT")
            ok = True
        finally:
            self.con.close()
            self.con = None
            if ok:
                os.replace(work, self.db_path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    work.unlink()
                with contextlib.suppress(FileNotFoundError):
                    Path(str(work) + ".wal").unlink()

    def has_table(self, name: str) -> bool:
        return has_table(self.con, name)

    def export(self, step: str) -> None:
        for table in EXPORTS.get(step, ()):
            if self.has_table(table):
                export_table(self.con, table, self.out_dir / f"{table}.parquet")

    # -- steps ----------------------------------------------------------------------------
    def step_ingest(self) -> None:
        from linkage.ingest import ingest

        counts = ingest(self.con, self.cfg)
        self.summary["sources"] = counts

    def step_link(self) -> None:
        from linkage.link import link

        result = link(self.con, self.cfg, self.out_dir, seed=self.seed)
        self.summary["linkage"] = {k: v for k, v in (result or {}).items()
                                   if isinstance(v, (int, float, str))}

    def step_micro(self) -> None:
        from integrators.micro import integrate

        integrate(self.con, self.cfg)

    def step_residence(self) -> None:
        from integrators.residence import classify

        res = self.cfg.residence
        if not res.reference_dates:
            res.reference_dates = default_reference_dates(self.con, res.observed_until)
            _say("residence: no reference_dates configured; using 31 December of each year: "
                 + ", ".join(str(d) for d in res.reference_dates))
        classify(self.con, res.rules, res.reference_dates, res.observed_until)

    def step_mobility(self) -> None:
        from integrators.mobility import classify_mobility
        from integrators.mobility_tables import build_mobility_tables

        classify_mobility(self.con, self.cfg)
        build_mobility_tables(self.con, self.cfg, self.out_dir)

    def step_tables(self) -> None:
        from integrators.stocks import build_tables

        build_tables(self.con, self.cfg, self.out_dir)

    def step_mse(self) -> None:
        mse_cfg = getattr(self.cfg, "mse", None)
        if not mse_cfg or not mse_cfg.get("lists"):
            _say("mse: no lists configured, step skipped")
            return
        result = mse_from_linked(self.con, mse_cfg, seed=self.seed,
                                 threshold=float(self.cfg.linkage.get("threshold", 0.9)))
        write_json(self.out_dir / "mse.json", result)
        self.summary["mse"] = {k: result.get(k) for k in ("estimate", "ci_low", "ci_high",
                                                          "observed", "model")}

    def step_report(self) -> None:
        from integrators.report import write_report

        write_report(self.con, self.out_dir, self.cfg, self.truth_dir)

    # -- driver ---------------------------------------------------------------------------
    def run(self, steps: list[str]) -> dict:
        from tqdm import tqdm

        with self.database():
            bar = tqdm(steps, desc="miglink", unit="step", disable=not sys.stderr.isatty(),
                       leave=False)
            for step in bar:
                bar.set_postfix_str(step)
                missing = [t for t in NEEDS.get(step, ()) if not self.has_table(t)]
                if missing:
                    raise MiglinkError(
                        f"step {step!r} needs table(s) {', '.join(missing)} from an earlier "
                        f"step; run the steps before it first", file=str(self.db_path))
                t0 = time.perf_counter()
                _say(f"{step} ...")
                getattr(self, f"step_{step}")()
                self.export(step)
                secs = time.perf_counter() - t0
                self.summary.setdefault("seconds", {})[step] = round(secs, 2)
                _say(f"{step} done in {secs:.1f} s")
            self.summary.update(self.counts())
        return self.summary

    def counts(self) -> dict:
        out: dict = {}
        q = self.con.execute
        if self.has_table("records"):
            out["records"] = q("SELECT count(*) FROM records").fetchone()[0]
        if self.has_table("rejected"):
            out["rejected"] = q("SELECT count(*) FROM rejected").fetchone()[0]
        if self.has_table("clusters"):
            out["persons"] = q("SELECT count(DISTINCT person_id) FROM clusters").fetchone()[0]
        if self.has_table("residence"):
            rows = q("""SELECT rule, reference_date, count(*) FILTER (WHERE resident)
                        FROM residence GROUP BY ALL ORDER BY ALL""").fetchall()
            out["residents"] = [{"rule": r, "reference_date": str(d), "residents": n}
                                for r, d, n in rows]
        if self.has_table("migration_events"):
            rows = q("""SELECT rule, event, count(*) FROM migration_events
                        GROUP BY ALL ORDER BY ALL""").fetchall()
            out["flows"] = [{"rule": r, "event": e, "count": n} for r, e, n in rows]
        return out


def default_reference_dates(con, observed_until=None) -> list[dt.date]:
    """31 December of every year whose whole window the crossings cover.

    The first year with a full 12-month window after the first crossing, up to the last
    31 December on or before ``observed_until`` (default: the last crossing).
    """
    first, last = con.execute("SELECT min(crossing_date), max(crossing_date) "
                              "FROM crossings").fetchone()
    if first is None:
        raise MiglinkError("no crossings to classify: give residence.reference_dates in the "
                           "config")
    end = observed_until or last
    years = range(first.year + 1, end.year + (1 if (end.month, end.day) == (12, 31) else 0))
    dates = [dt.date(y, 12, 31) for y in years]
    return dates or [dt.date(end.year, end.month, end.day)]


def capture_histories(con, lists: list[str], strata: list[str] | None = None):
    """One row per linked person seen on any of ``lists``: a 0/1 column per list (and strata).

    A person is on a list when any record of that list's source is in the person's cluster.
    Strata come from the resolved ``persons`` attributes (NULL -> 'unknown').
    """
    strata = list(strata or [])
    flags = ", ".join(f"max(CASE WHEN c.source = '{s}' THEN 1 ELSE 0 END)::INTEGER AS \"{s}\""
                      for s in lists)
    in_list = ", ".join(f"'{s}'" for s in lists)
    df = con.execute(f"""
        SELECT c.person_id, {flags} FROM clusters c
        WHERE c.person_id IN (SELECT person_id FROM clusters WHERE source IN ({in_list}))
        GROUP BY c.person_id ORDER BY c.person_id""").df()
    if strata:
        cols = ", ".join(f"coalesce(CAST(\"{c}\" AS VARCHAR), 'unknown') AS \"{c}\""
                         for c in strata)
        st = con.execute(f"SELECT person_id, {cols} FROM persons").df()
        df = df.merge(st, on="person_id", how="left").fillna({c: "unknown" for c in strata})
    return df


def mse_from_linked(con, mse_cfg: dict, seed: int = 1, threshold: float = 0.9) -> dict:
    """The MSE step: capture histories of the linked persons, then the configured estimator."""
    from integrators.mse import estimate_from_histories

    lists = list(mse_cfg["lists"])
    strata = mse_cfg.get("strata") or None
    if strata and not has_table(con, "persons"):
        strata = None
    hist = capture_histories(con, lists, strata)
    kwargs = {k: mse_cfg[k] for k in ("method", "terms", "pthresh", "max_order", "ci",
                                      "ci_level", "bootstrap") if mse_cfg.get(k) is not None}
    kwargs["seed"] = mse_cfg.get("seed", seed)
    data = hist.drop(columns=["person_id"])
    try:
        result = estimate_from_histories(data, lists, strata=strata, **kwargs)
    except MiglinkError as exc:
        if not strata:
            return _no_estimate(lists, data, str(exc))
        # a stratum too sparse for an estimate: say so, and estimate the whole group instead
        _say(f"mse: no estimate by {', '.join(strata)} ({exc}); estimating without strata")
        try:
            result = estimate_from_histories(data, lists, strata=None, **kwargs)
        except MiglinkError as exc2:
            return _no_estimate(lists, data, str(exc2))
        result["warning"] = f"strata {strata} dropped: {exc}"
    draws = int(mse_cfg.get("linkage_draws") or 0)
    if draws:
        result["linkage_aware"] = linkage_aware_from_links(con, lists, draws, threshold,
                                                           kwargs)
    return result


def linkage_aware_from_links(con, lists: list[str], draws: int, threshold: float,
                             options: dict) -> dict:
    """Linkage-aware MSE (whole group) from the run's scored links.

    The records of every person seen on a list, with the candidate pairs among them and
    their match probabilities, are re-linked ``draws`` times (each pair accepted with its
    probability); records of other sources bridge list records as in the linkage itself.
    """
    from integrators.mse.linkage_aware import linkage_aware_estimate

    in_list = ", ".join(f"'{s}'" for s in lists)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _la_rec AS
        SELECT source, record_id FROM clusters WHERE person_id IN
            (SELECT person_id FROM clusters WHERE source IN ({in_list}))""")
    records = con.execute('SELECT source AS "list", record_id FROM _la_rec').df()
    pairs = con.execute("""
        SELECT l.source_l AS list_l, l.record_id_l, l.source_r AS list_r, l.record_id_r,
               l.match_probability
        FROM links l
        JOIN _la_rec a ON a.source = l.source_l AND a.record_id = l.record_id_l
        JOIN _la_rec b ON b.source = l.source_r AND b.record_id = l.record_id_r""").df()
    opts = {k: v for k, v in options.items() if k != "seed"}
    try:
        return linkage_aware_estimate(records, pairs, lists, draws=draws, threshold=threshold,
                                      seed=options.get("seed", 1), **opts)
    except MiglinkError as exc:
        return {"estimate": None, "error": str(exc)}


def _no_estimate(lists: list[str], data, reason: str) -> dict:
    """An mse.json saying why there is no estimate (never a number that does not exist)."""
    _say(f"mse: no estimate: {reason}")
    return {"lists": list(lists), "observed": int(len(data)), "estimate": None,
            "ci_low": None, "ci_high": None, "error": reason}


def print_summary(summary: dict, out_dir: Path) -> None:
    lines = [f"miglink: outputs in {out_dir}"]
    src = summary.get("sources") or {}
    if src:
        total_in = sum(int(v.get("input_rows", 0)) for v in src.values())
        total_rej = sum(int(v.get("rejected", 0)) for v in src.values())
        lines.append(f"  rows in: {total_in:,}  rejected: {total_rej:,}  sources: {len(src)}")
    if "persons" in summary:
        lines.append(f"  records: {summary.get('records', 0):,}  persons: "
                     f"{summary['persons']:,}")
    latest: dict[str, dict] = {}
    for r in summary.get("residents", []):  # sorted by rule, then date: keep each rule's last
        latest[r["rule"]] = r
    for rule, r in latest.items():
        lines.append(f"  residents ({rule}) at {r['reference_date']}: {r['residents']:,}")
    by_rule: dict[str, list[str]] = {}
    for f in summary.get("flows", []):
        by_rule.setdefault(f["rule"], []).append(f"{f['event']} {f['count']:,}")
    for rule, parts in by_rule.items():
        lines.append(f"  migration events ({rule}), whole period: " + ", ".join(parts))
    mse = summary.get("mse")
    if isinstance(mse, dict) and mse.get("estimate") is not None:
        lo, hi = mse.get("ci_low"), mse.get("ci_high")
        ci = f" [{lo:,.0f}, {hi:,.0f}]" if lo is not None and hi is not None else ""
        lines.append(f"  hidden population (MSE): {mse['estimate']:,.0f}{ci}")
    secs = summary.get("seconds", {})
    if secs:
        lines.append(f"  time: {sum(secs.values()):.1f} s")
    print("\n".join(lines))


def _load(config_path: str):
    from linkage.config import load_config

    return load_config(config_path)


def run_command(args) -> int:
    cfg = _load(args.config)
    seed = args.seed if args.seed is not None else getattr(cfg, "seed", 1)
    out = Path(args.out)
    steps = parse_steps(args.steps)
    summary = Run(cfg, out, seed=seed).run(steps)
    write_json(out / "summary.json", summary, default=str)
    print_summary(summary, out)
    return 0


def link_command(args) -> int:
    cfg = _load(args.config)
    seed = args.seed if args.seed is not None else getattr(cfg, "seed", 1)
    out = Path(args.out)
    summary = Run(cfg, out, seed=seed).run(list(LINK_STEPS))
    write_json(out / "summary.json", summary, default=str)
    print_summary(summary, out)
    return 0


def demo_command(args) -> int:
    from linkage.synth import generate_world

    out = Path(args.out)
    world = out / "world"
    persons = args.persons or DEMO_PERSONS
    if persons < 50:
        raise MiglinkError("--persons must be at least 50")
    t0 = time.perf_counter()
    _say(f"demo: generating a synthetic world of {persons:,} persons (seed {args.seed}) ...")
    generate_world(world, persons=persons, seed=args.seed)
    _say(f"demo: world written to {world} in {time.perf_counter() - t0:.1f} s")
    cfg = _load(str(world / "config.yaml"))
    truth_dir = world / "truth"
    _say("demo: computing the true residence status from the true lives ...")
    make_residence_truth(cfg, truth_dir)
    steps = parse_steps(getattr(args, "steps", None))
    summary = Run(cfg, out, seed=args.seed, truth_dir=truth_dir).run(steps)
    from integrators.evaluation import evaluate_run

    evaluation = evaluate_run(out, truth_dir, cfg)
    if evaluation:
        summary["evaluation"] = evaluation
        write_json(out / "evaluation.json", evaluation, default=str)
    write_json(out / "summary.json", summary, default=str)
    print_summary(summary, out)
    for line in _evaluation_lines(evaluation):
        print(line)
    return 0


def _evaluation_lines(ev: dict | None) -> list[str]:
    if not ev:
        return []
    lines = ["  against the truth:"]
    lk = ev.get("linkage") or {}
    if "pairwise_f1" in lk:
        lines.append(f"    linkage pairwise precision {lk['pairwise_precision']:.4f} "
                     f"recall {lk['pairwise_recall']:.4f} F1 {lk['pairwise_f1']:.4f}")
    for rule, acc in (ev.get("residence_accuracy") or {}).items():
        lines.append(f"    residence status accuracy {rule}: {acc:.4f} after linkage")
    for rule, acc in (ev.get("residence_accuracy_true_ids") or {}).items():
        lines.append(f"    residence status accuracy {rule}: {acc:.4f} with the true ids")
    mse = ev.get("mse")
    if mse and mse.get("estimate") is None:
        lines.append(f"    hidden population: true {mse['true']:,}, no estimate")
    elif mse:
        lines.append(f"    hidden population: true {mse['true']:,}, estimate "
                     f"{mse['estimate']:,.0f}, interval covers truth: {mse['covered']}")
    return lines


def make_residence_truth(cfg, truth_dir: Path) -> None:
    """truth/residence.parquet and truth/migration_events.parquet from the true lives.

    The true, complete crossings of every person (``truth/crossings.parquet``) go through the
    same classifier (RESIDENCE.md), keyed by ``true_id``; their per-arrival
    ``permit_valid_until`` (the true visa in force for each stay), when the file has it,
    decides the 6/12 permission criterion.
    """
    from integrators.residence import classify

    con = duckdb.connect()
    try:
        cpath = truth_dir / "crossings.parquet"
        ccols = [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{cpath}')").fetchall()]
        pv = ", permit_valid_until" if "permit_valid_until" in ccols else ""
        con.execute(f"""CREATE TABLE crossings AS
            SELECT true_id AS person_id, crossing_date, direction, seq{pv}
            FROM read_parquet('{cpath}')""")
        pcols = [r[0] for r in con.execute(
            f"DESCRIBE SELECT * FROM read_parquet('{truth_dir / 'persons.parquet'}')").fetchall()]
        keep = [c for c in ("citizen", "initial_status", "permit_valid_until", "native_born",
                            "birth_date", "death_date") if c in pcols]
        con.execute(f"""CREATE TABLE residence_persons AS
            SELECT true_id AS person_id, {', '.join(keep)}
            FROM read_parquet('{truth_dir / "persons.parquet"}')""")
        res = cfg.residence
        classify(con, res.rules, res.reference_dates, res.observed_until)
        export_table(con, "(SELECT person_id AS true_id, reference_date, rule, resident, status "
                          "FROM residence ORDER BY ALL)", truth_dir / "residence.parquet")
        export_table(con, "(SELECT person_id AS true_id, rule, event, event_date "
                          "FROM migration_events ORDER BY ALL)",
                     truth_dir / "migration_events.parquet")
    finally:
        con.close()


def _today() -> dt.date:  # pragma: no cover - kept for report stamps
    return dt.date.today()
