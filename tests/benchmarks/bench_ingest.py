"""Ingestion throughput: generates a large border CSV, ingests it, prints rows/s and peak
memory. Run: /work/venv/bin/python tests/benchmarks/bench_ingest.py [ROWS] [--threads N]

The baseline in the same process is DuckDB's bare ``read_csv`` of the file into a table (the
floor any ingestion must pay); the ratio says what validation, typing, code maps, country
joins, rejection and events cost on top.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from linkage.config import load_config
from linkage.ingest import ingest


def make_border_csv(path: Path, rows: int, seed: int = 1) -> None:
    """A border file with ~0.1% bad rows of every kind, written by DuckDB (fast)."""
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT CASE WHEN i % 1000 = 7 THEN NULL WHEN i % 1000 = 8 THEN (i - 2)::VARCHAR
                      ELSE i::VARCHAR END AS crossing_id,
                 ['Anna','Ben','Chloé','Dmitri','Eve','Femi','Guo','Hana'][(1 + hash(i, {seed}) % 8)::BIGINT] AS first_name,
                 ['Smith','Ngata','Müller','Ivanov','Li','Okafor','Tanaka','Singh'][(1 + hash(i + 1, {seed}) % 8)::BIGINT] AS last_name,
                 strftime(DATE '1940-01-01' + (hash(i, 2) % 25000)::INT, '%d/%m/%Y') AS dob,
                 CASE WHEN i % 1000 = 9 THEN '31/02/2020'
                      ELSE strftime(DATE '2015-01-01' + (hash(i, 3) % 3000)::INT, '%d/%m/%Y') END AS crossing_date,
                 CASE WHEN i % 1000 = 10 THEN '?' WHEN hash(i, 4) % 2 = 0 THEN 'A' ELSE 'D' END AS direction,
                 ['NZ','New Zealand','AUS','Australia','GBR','UK','China','IND','Fiji','Samoa','Atlantis'][(1 + hash(i, 5) % 11)::BIGINT] AS nationality,
                 ['AKL','WLG','CHC','ZQN'][(1 + hash(i, 6) % 4)::BIGINT] AS port,
                 ['1','2','3'][(1 + hash(i, 7) % 3)::BIGINT] AS sex
          FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT csv, HEADER true)""")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("rows", type=int, nargs="?", default=5_000_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        make_border_csv(tmp / "border.csv", args.rows)
        size = (tmp / "border.csv").stat().st_size
        print(f"generated {args.rows:,} rows ({size / 1e6:.0f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        (tmp / "config.yaml").write_text("""country: NZL
sources:
  - name: border
    kind: border
    path: border.csv
    id: crossing_id
    date_format: "%d/%m/%Y"
    columns: {given_name: first_name, family_name: last_name, birth_date: dob,
              crossing_date: crossing_date, direction: direction, citizenship: nationality,
              port: port, sex: sex}
    codes: {direction: {A: in, D: out}, sex: {"1": M, "2": F}}
""")
        cfg = load_config(tmp / "config.yaml")
        con = duckdb.connect(str(tmp / "bench.duckdb"))
        con.execute(f"SET threads = {args.threads}")
        t0 = time.perf_counter()
        con.execute(f"CREATE TABLE baseline AS SELECT * FROM read_csv('{tmp / 'border.csv'}', "
                    "all_varchar=true, header=true)")
        base = time.perf_counter() - t0
        con.execute("DROP TABLE baseline")
        t0 = time.perf_counter()
        counts = ingest(con, cfg, progress=lambda m: print("  " + m))
        secs = time.perf_counter() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        c = counts["border"]
        print(f"counts: {c}")
        print(f"baseline read_csv: {base:.1f} s; ingest: {secs:.1f} s "
              f"({args.rows / secs:,.0f} rows/s, {secs / base:.1f}x baseline), "
              f"threads={args.threads}, peak RSS {peak:.0f} MB")
        assert c["input_rows"] == args.rows == c["accepted"] + c["rejected"]
    return 0


if __name__ == "__main__":
    sys.exit(main())
