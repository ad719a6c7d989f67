"""Residence classifier at scale: CROSSINGS synthetic crossings (default 10M; ~10 per person,
gaps of 1 day to ~2 years, ~2% same-direction repeats to impute, some same-day pairs) classified
under each rule at four reference dates; prints seconds, crossings/s, CPU seconds and peak
memory (RSS, includes DuckDB).

Baseline in the same process: the per-person, day-by-day Python reference implementation
(tests/test_residence_reference.py) on a subsample of persons, its crossings/s and the speed
ratio; the subsample's results are also compared with the classifier's (they must agree).

Run: /work/venv/bin/python tests/benchmarks/bench_residence.py [--crossings N] [--sample P]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from integrators.residence import classify  # noqa: E402
from test_residence_reference import reference  # noqa: E402

RULES = ["12/16", "6/12", "12/12"]
REFS = [dt.date(y, 12, 31) for y in (2018, 2019, 2020, 2021)]
OU = dt.date(2022, 12, 31)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_crossings(con, n: int, per_person: int) -> None:
    """person i has per_person crossings; gaps mix short trips and long stays."""
    con.execute(f"""
        CREATE OR REPLACE TABLE crossings AS
        WITH g AS (
            SELECT i, i // {per_person} + 1 AS person_id, i % {per_person} AS j,
                   CASE WHEN hash(i, 1) % 10 < 6 THEN hash(i, 2) % 40      -- short trips
                        WHEN hash(i, 1) % 10 < 9 THEN 100 + hash(i, 2) % 400
                        ELSE 400 + hash(i, 2) % 400 END AS gap
            FROM range({n}) t(i)),
        c AS (SELECT *, sum(gap) OVER (PARTITION BY person_id ORDER BY j) AS off FROM g)
        SELECT person_id,
               DATE '2013-01-01' + CAST(hash(person_id, 3) % 1500 + off AS INTEGER)
                   AS crossing_date,
               CASE WHEN ((j + hash(person_id, 4) % 2) % 2 = 0) <> (hash(i, 5) % 50 = 0)
                    THEN 'in' ELSE 'out' END AS direction,
               j AS seq
        FROM c""")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--crossings", type=int, default=10_000_000)
    ap.add_argument("--per-person", type=int, default=10)
    ap.add_argument("--sample", type=int, default=200, help="persons for the Python baseline")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {a.threads}")
    t = time.time()
    make_crossings(con, a.crossings, a.per_person)
    n = con.execute("SELECT count(*) FROM crossings").fetchone()[0]
    n_in_range = con.execute(f"SELECT count(*) FROM crossings WHERE crossing_date <= "
                             f"DATE '{OU}'").fetchone()[0]
    print(f"generated {n:,} crossings ({n_in_range:,} up to observed_until {OU}) "
          f"in {time.time() - t:.1f} s")
    rates = {}
    for rule in RULES:
        t, c = time.time(), cpu_s()
        classify(con, [rule], REFS, observed_until=OU, persons=None)
        wall, cpu = time.time() - t, cpu_s() - c
        ne = con.execute("SELECT count(*) FROM migration_events").fetchone()[0]
        rates[rule] = n / wall
        print(f"rule {rule:>5}: {wall:6.1f} s wall, {cpu:6.1f} s CPU, {n / wall:12,.0f} "
              f"crossings/s, {ne:,} events, peak RSS {peak_mb():,.0f} MB")

    # baseline: the per-person Python reference on a subsample, in this process
    ids = [r[0] for r in con.execute(
        f"SELECT DISTINCT person_id FROM crossings ORDER BY person_id LIMIT {a.sample}").fetchall()]
    rows = con.execute(f"SELECT person_id, crossing_date, direction FROM crossings "
                       f"WHERE person_id <= {max(ids)} ORDER BY person_id, crossing_date, seq"
                       ).fetchall()
    for rule in RULES:
        t = time.time()
        reference(rows, {}, [rule], REFS, OU)
        py_rate = len(rows) / (time.time() - t)
        print(f"python reference, rule {rule:>5}: {len(rows):,} crossings of {len(ids)} "
              f"persons, {py_rate:,.0f} crossings/s; classifier/python speed ratio "
              f"{rates[rule] / py_rate:,.0f}x")
    ref_rows, ref_ev, _ = reference(rows, {}, RULES, REFS, OU)
    # the classifier on the same subsample must agree with the reference
    sub = duckdb.connect()
    sub.execute("CREATE TABLE crossings (person_id BIGINT, crossing_date DATE, direction "
                "VARCHAR, seq BIGINT)")
    sub.executemany("INSERT INTO crossings VALUES (?, ?, ?, ?)",
                    [(p, d, r, i) for i, (p, d, r) in enumerate(rows)])
    classify(sub, RULES, REFS, observed_until=OU, persons=None)
    got = {(r[0], r[1], r[2]): (r[3], r[4], r[5], r[6]) for r in sub.execute(
        "SELECT person_id, reference_date, rule, resident, status, days_present, provisional "
        "FROM residence").fetchall()}
    ev = sorted(tuple(r) for r in sub.execute(
        "SELECT person_id, rule, event, event_date, decided_on FROM migration_events").fetchall())
    agree = got == ref_rows and ev == sorted(ref_ev)
    print(f"subsample agrees with the reference: {agree} ({len(got)} rows, {len(ev)} events)")


if __name__ == "__main__":
    main()
