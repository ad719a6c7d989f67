"""Micro-integration and mobility at scale: synthetic ``records``/``clusters``/``events``
for PERSONS persons (default 1M) with about 5 crossings each (5M), plus visa, census and
register records, then ``integrate`` and ``classify_mobility``; prints seconds, rows/s and
peak memory (RSS, includes DuckDB).

Run: /work/venv/bin/python tests/benchmarks/bench_micro.py [PERSONS] [--threads N]

Baseline in the same process: one window pass over the crossings (lag per person ordered by
date), the floor any crossing-level work must pay; the ratio says what the whole
micro-integration costs on top of it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import time
from types import SimpleNamespace as NS

import duckdb

from integrators.micro import integrate
from integrators.mobility import classify_mobility


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process, all threads (the machine may be shared: wall time
    then overstates the cost)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_tables(con, persons: int, per_person: int = 5) -> None:
    n = persons * per_person
    # crossings: alternate in/out around 60-day spacing; ~1% of rows have the direction
    # flipped (a missed crossing to impute) and ~0.5% are duplicated source rows
    con.execute(f"""
        CREATE TABLE _b AS
        SELECT i, i // {per_person} + 1 AS person_id,
               DATE '2019-01-01' + ((i % {per_person}) * 90 + hash(i, 1) % 60)::INTEGER
                   AS crossing_date,
               CASE WHEN ((i % {per_person}) % 2 = (CASE WHEN hash(i // {per_person}, 9) % 3 = 0
                                                         THEN 1 ELSE 0 END))
                         <> (hash(i, 2) % 100 = 0) THEN 'in' ELSE 'out' END AS direction,
               ['work', 'tourism', 'business', 'study', 'health', 'seasonal_work']
                   [(1 + hash(i // {per_person}, 3) % 6)::BIGINT] AS purpose
        FROM range({n}) t(i)
        UNION ALL
        SELECT i + {n}, i // {per_person} + 1,
               DATE '2019-01-01' + ((i % {per_person}) * 90 + hash(i, 1) % 60)::INTEGER,
               CASE WHEN ((i % {per_person}) % 2 = (CASE WHEN hash(i // {per_person}, 9) % 3 = 0
                                                         THEN 1 ELSE 0 END))
                         <> (hash(i, 2) % 100 = 0) THEN 'in' ELSE 'out' END, NULL
        FROM range({n}) t(i) WHERE hash(i, 4) % 200 = 0""")
    con.execute(f"""
        CREATE TABLE records AS
        SELECT 'border' AS source, i::VARCHAR AS record_id, 'border' AS kind,
               i AS row_number, CASE WHEN hash(person_id, 5) % 50 = 0 THEN 'X'
                                     WHEN hash(person_id, 6) % 2 = 0 THEN 'F' ELSE 'M' END
                   AS sex,
               DATE '1950-01-01' + (hash(person_id, 7) % 20000)::INTEGER AS birth_date,
               NULL::INTEGER AS birth_year,
               ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(person_id, 8) % 5)::BIGINT]
                   AS citizenship,
               ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(person_id, 8) % 5)::BIGINT]
                   AS birth_country,
               crossing_date, direction, purpose, NULL::DATE AS valid_from,
               NULL::DATE AS valid_to, NULL AS visa_category, NULL::DATE AS census_date,
               NULL::DATE AS registration_date, NULL::DATE AS deregistration_date,
               person_id
        FROM _b
        UNION ALL  -- a visa for 30% of persons
        SELECT 'visa', p::VARCHAR, 'visa', p, NULL, NULL, NULL,
               ['AUS', 'FJI', 'IND', 'CHN'][(1 + hash(p, 8) % 4)::BIGINT], NULL, NULL, NULL,
               ['work', 'tourism', 'seasonal_work', 'study'][(1 + hash(p, 3) % 4)::BIGINT],
               DATE '2019-01-01' + (hash(p, 10) % 100)::INTEGER,
               DATE '2020-01-01' + (hash(p, 11) % 400)::INTEGER,
               ['work', 'visitor', 'RSE', 'student'][(1 + hash(p, 3) % 4)::BIGINT],
               NULL, NULL, NULL, p
        FROM range(1, {persons} + 1) t(p) WHERE p % 10 < 3
        UNION ALL  -- a census record for 50%
        SELECT 'census', p::VARCHAR, 'census', p,
               CASE WHEN hash(p, 6) % 2 = 0 THEN 'F' ELSE 'M' END,
               DATE '1950-01-01' + (hash(p, 7) % 20000)::INTEGER, NULL,
               CASE WHEN hash(p, 12) % 4 = 0 THEN 'NZL'
                    ELSE ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(p, 8) % 5)::BIGINT] END,
               ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(p, 8) % 5)::BIGINT],
               NULL, NULL, NULL, NULL, NULL, NULL, DATE '2023-03-07', NULL, NULL, p
        FROM range(1, {persons} + 1) t(p) WHERE p % 2 = 0
        UNION ALL  -- a register record for 40%
        SELECT 'register', p::VARCHAR, 'register', p,
               CASE WHEN hash(p, 6) % 2 = 0 THEN 'F' ELSE 'M' END,
               DATE '1950-01-01' + (hash(p, 7) % 20000)::INTEGER, NULL,
               ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(p, 8) % 5)::BIGINT],
               ['NZL', 'AUS', 'FJI', 'IND', 'CHN'][(1 + hash(p, 8) % 5)::BIGINT],
               NULL, NULL, NULL, NULL, NULL, NULL, NULL,
               DATE '2010-01-01' + (hash(p, 13) % 4000)::INTEGER,
               CASE WHEN p % 7 = 0 THEN DATE '2021-01-01' + (hash(p, 14) % 900)::INTEGER END,
               p
        FROM range(1, {persons} + 1) t(p) WHERE p % 5 < 2""")
    con.execute("CREATE TABLE clusters AS SELECT source, record_id, person_id FROM records")
    con.execute("ALTER TABLE records DROP COLUMN person_id")
    con.execute("""
        CREATE TABLE events AS
        SELECT 'border' AS source, i::VARCHAR AS record_id, crossing_date AS event_date,
               'crossing_' || direction AS event_type, i AS event_seq, direction, NULL AS port,
               purpose, NULL AS visa_category, NULL::DATE AS valid_from,
               NULL::DATE AS valid_to, NULL::INTEGER AS year_of_arrival, person_id
        FROM _b ORDER BY person_id, event_date, event_seq""")
    con.execute("DROP TABLE _b")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("persons", nargs="?", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit (6GB)")
    args = ap.parse_args()
    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    t0 = time.perf_counter()
    make_tables(con, args.persons)
    n_cx = con.execute("SELECT count(*) FROM events").fetchone()[0]
    n_rec = con.execute("SELECT count(*) FROM records").fetchone()[0]
    print(f"generated {args.persons:,} persons, {n_rec:,} records, {n_cx:,} crossings in "
          f"{time.perf_counter() - t0:.1f} s; peak {peak_mb():,.0f} MB")

    t0, c0 = time.perf_counter(), cpu_s()
    con.execute("""CREATE TEMP TABLE _baseline AS
                   SELECT person_id, event_date, lag(direction) OVER (
                       PARTITION BY person_id ORDER BY event_date, event_seq) AS prev
                   FROM events""")
    base = time.perf_counter() - t0
    con.execute("DROP TABLE _baseline")
    print(f"baseline window pass: {base:.2f} s wall, {cpu_s() - c0:.2f} s CPU "
          f"({n_cx / base:,.0f} crossings/s)")

    cfg = NS(country="NZL",
             sources=[NS(name=k, kind=k) for k in ("border", "visa", "census", "register")],
             residence=NS(rules=["12/16"], reference_dates=[dt.date(2019, 12, 31),
                                                            dt.date(2020, 12, 31)],
                          observed_until=dt.date(2020, 12, 31)))
    t0, c0 = time.perf_counter(), cpu_s()
    counts = integrate(con, cfg)
    micro = time.perf_counter() - t0
    print(f"integrate: {micro:.2f} s wall, {cpu_s() - c0:.2f} s CPU "
          f"({n_cx / micro:,.0f} crossings/s, "
          f"{args.persons / micro:,.0f} persons/s), {micro / base:.1f}x baseline; "
          f"peak {peak_mb():,.0f} MB")
    print("  ", {k: v for k, v in counts.items() if not isinstance(v, dt.date)})

    # a stand-in residence table (the classifier is another module): resident when present
    # on the reference date for the whole year before it
    con.execute("""
        CREATE TABLE residence AS
        SELECT p.person_id, r.d AS reference_date, '12/16' AS rule,
               EXISTS (SELECT 1 FROM stays s WHERE s.person_id = p.person_id
                       AND s.start_date <= r.d - 365 AND s.end_date > r.d) AS resident,
               NULL AS status, NULL::INTEGER AS days_present, false AS provisional
        FROM persons p, (VALUES (DATE '2019-12-31'), (DATE '2020-12-31')) r(d)""")
    t0, c0 = time.perf_counter(), cpu_s()
    mc = classify_mobility(con, cfg)
    mob = time.perf_counter() - t0
    print(f"classify_mobility: {mob:.2f} s wall, {cpu_s() - c0:.2f} s CPU "
          f"({counts['stays'] / mob:,.0f} stays/s), "
          f"{mob / base:.1f}x baseline; peak {peak_mb():,.0f} MB")
    print("  ", mc)


if __name__ == "__main__":
    main()
