"""Benchmark (issue 2): a synthetic world generated AND ingested, end to end.

Target: 1M persons generated and ingested in under 10 minutes within 8 GiB on 2 cores.
Prints seconds per phase, source rows, rows/s of ingestion and the peak RSS of the process;
the baseline in the same process is a bare DuckDB ``read_csv`` of every source file (the
floor any ingestion has to pay), given as a ratio.

Run: /work/venv/bin/python tests/benchmarks/bench_world.py [PERSONS] [--keep DIR]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from linkage.config import load_config  # noqa: E402
from linkage.ingest import ingest  # noqa: E402
from linkage.synth import generate_world  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("persons", nargs="?", type=int, default=100_000)
    ap.add_argument("--keep", default=None, help="keep the world in this folder")
    args = ap.parse_args()
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_world_"))
    world = root / "world"
    try:
        t0 = time.perf_counter()
        generate_world(world, persons=args.persons, seed=1)
        t_gen = time.perf_counter() - t0
        cfg = load_config(world / "config.yaml")
        con = duckdb.connect(str(root / "bench.duckdb"))
        t1 = time.perf_counter()
        counts = ingest(con, cfg)
        t_ing = time.perf_counter() - t1
        rows = sum(int(c["input_rows"]) for c in counts.values())
        t2 = time.perf_counter()
        for s in cfg.sources:
            con.execute(f"SELECT count(*) FROM read_csv('{s.path}', all_varchar=true)").fetchone()
        t_base = time.perf_counter() - t2
        con.close()
        print(f"persons {args.persons:,}: source rows {rows:,}")
        print(f"  generate {t_gen:7.1f} s")
        print(f"  ingest   {t_ing:7.1f} s  ({rows / t_ing:,.0f} rows/s; "
              f"{t_ing / t_base:.1f}x a bare read_csv of the same files, {t_base:.1f} s)")
        print(f"  total    {t_gen + t_ing:7.1f} s   peak RSS {peak_gib():.2f} GiB")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
