"""Temporary mobility and service population (integrators/mobility.py), on hand-built stays
and a hand-built ``residence`` table (RESIDENCE.md "Temporary mobility")."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace as NS

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrators.mobility import classify_mobility
from linkage.errors import MiglinkError

D = dt.date.fromisoformat
REF = [D("2022-12-31"), D("2023-12-31"), D("2024-12-31")]


def cfg(rule="12/16"):
    return NS(country="NZL", sources=[],
              residence=NS(rules=[rule], reference_dates=REF, observed_until=D("2024-12-31")))


def stay(pid, start, end, purpose=None, visa_category=None, visa_purpose=None,
         start_repair=None, end_repair=None):
    return dict(person_id=pid, start_date=D(start), end_date=D(end), purpose=purpose,
                visa_category=visa_category, visa_purpose=visa_purpose,
                start_repair=start_repair, end_repair=end_repair)


def make_db(stays, residents=(), provisional=(), rule="12/16", no_crossing_residents=()):
    """Stays as given; residence rows for every person and reference date: resident where
    (person, year) is in ``residents``, NULL where in ``provisional``, else false."""
    con = duckdb.connect()
    df = pd.DataFrame(stays)
    df["stay_seq"] = df.sort_values(["person_id", "start_date", "end_date"]) \
        .groupby("person_id").cumcount() + 1
    for c in ("start_date", "end_date"):
        df[c] = pd.to_datetime(df[c])
    con.register("s", df)
    con.execute("""CREATE TABLE stays AS SELECT person_id::BIGINT AS person_id, stay_seq,
                   start_date::DATE AS start_date, end_date::DATE AS end_date,
                   start_repair IS NULL AS start_observed, end_repair IS NULL AS end_observed,
                   start_repair::VARCHAR AS start_repair, end_repair::VARCHAR AS end_repair,
                   (end_date::DATE - start_date::DATE) AS days_present,
                   purpose::VARCHAR AS purpose, visa_category::VARCHAR AS visa_category,
                   visa_purpose::VARCHAR AS visa_purpose FROM s""")
    res = []
    for pid in sorted(set(df.person_id)):
        for r in REF:
            key = (pid, r.year)
            res.append(dict(person_id=pid, reference_date=r, rule=rule,
                            resident=None if key in provisional else key in residents))
    con.register("r", pd.DataFrame(res))
    con.execute("CREATE TABLE residence AS SELECT person_id::BIGINT AS person_id, "
                "reference_date::DATE AS reference_date, rule, resident::BOOLEAN AS resident "
                "FROM r")
    con.execute("CREATE TABLE residence_persons (person_id BIGINT, initial_status VARCHAR)")
    con.execute("CREATE TABLE crossings (person_id BIGINT)")
    con.execute("INSERT INTO crossings SELECT DISTINCT person_id FROM stays "
                "WHERE start_repair IS DISTINCT FROM 'register'")
    for pid in no_crossing_residents:
        con.execute("INSERT INTO residence_persons VALUES (?, 'resident')", [pid])
    return con


def mob(con, cols="person_id, year, mobility_type, trips, person_days, days_touched",
        where="true"):
    return [tuple(r) for r in con.execute(f"SELECT {cols} FROM mobility WHERE {where} "
                                          "ORDER BY ALL").fetchall()]


def test_person_days_and_days_touched_counting():
    con = make_db([
        stay(1, "2023-03-01", "2023-03-11", "tourism"),  # 10 person-days, touches Mar 1..11
        stay(1, "2023-03-11", "2023-03-11"),             # a same-day visit on the departure day:
        #                                                  0 person-days, day Mar 11 again
        stay(1, "2023-12-30", "2024-01-05", "tourism"),  # 2023: Dec 30, 31 -> 2 and 2
    ])                                                   # 2024: Jan 1..4 present (4),
    classify_mobility(con, cfg())                        #       Jan 1..5 touched (5)
    # 2023: person-days 10 + 0 + 2 = 12; touched 11 + 1 - 1 (shared Mar 11) + 2 = 13; 3 entries
    assert mob(con) == [(1, 2023, "circular", 3, 12, 13), (1, 2024, "other_temporary", 0, 4, 5)]


def test_same_day_visitor_touches_a_day_without_person_day():
    con = make_db([stay(1, "2023-05-05", "2023-05-05", "tourism")])
    classify_mobility(con, cfg())
    assert mob(con) == [(1, 2023, "other_temporary", 1, 0, 1)]


def test_open_stay_touches_up_to_observed_until_only():
    # open to 2024-12-31 -> end_date 2025-01-01: 2024 has 366 days present and touched
    con = make_db([stay(1, "2024-01-01", "2025-01-01", "tourism", end_repair="open")])
    classify_mobility(con, cfg())
    assert mob(con) == [(1, 2024, "other_temporary", 1, 366, 366)]


def test_each_mobility_type():
    week = [stay(2, f"2023-0{m}-0{d}", f"2023-0{m}-0{d + 4}", "work")
            for m in (2, 3) for d in (1, 5)]  # 4 stays of 4 nights, all work
    con = make_db([
        stay(1, "2023-02-01", "2023-02-15", "tourism"), stay(1, "2023-06-01", "2023-06-10",
                                                              "tourism"),
        *week,
        stay(3, "2023-01-10", "2023-04-10", "work", "RSE", "seasonal_work"),
        # recurring season of work, no seasonal visa: Nov 2022 and Nov 2023
        stay(4, "2022-11-01", "2023-03-01", "work"), stay(4, "2023-11-05", "2024-03-01", "work"),
        stay(5, "2023-02-01", "2023-08-01", "study", "student", "study"),
        stay(6, "2023-02-01", "2023-03-01", "health"),
        stay(7, "2023-02-01", "2023-02-03", "asylum"),
        stay(12, "2023-04-01", "2023-04-02", "transit", "transit", "transit"),
        # the same season every year but business travel, or unknown purpose: no season
        stay(11, "2022-11-01", "2022-12-01", "business"),
        stay(11, "2023-11-01", "2023-12-01", "business"),
        stay(13, "2022-11-01", "2022-12-01"), stay(13, "2023-11-01", "2023-12-01"),
        stay(8, "2023-02-01", "2023-02-20", "tourism"),
        # training purpose but a stay of >= 365 days: not training
        stay(9, "2022-06-01", "2023-07-01", "training"),
        # resident in 2023: no mobility row
        stay(10, "2023-02-01", "2023-02-20", "tourism"), stay(10, "2023-03-01", "2023-03-20"),
    ], residents={(10, 2023)})
    counts = classify_mobility(con, cfg())
    got = {(p, y): t for p, y, t in mob(con, "person_id, year, mobility_type")}
    assert got == {
        (1, 2023): "circular", (2, 2023): "cross_border_worker",
        (3, 2023): "seasonal_worker",
        (4, 2022): "seasonal_worker", (4, 2023): "seasonal_worker",
        (4, 2024): "other_temporary",  # no stay starts in 2024: no recurrence that year
        (5, 2023): "training", (6, 2023): "health", (7, 2023): "asylum_in_transit",
        (12, 2023): "asylum_in_transit",
        (11, 2022): "other_temporary", (11, 2023): "other_temporary",
        (13, 2022): "other_temporary", (13, 2023): "other_temporary",
        (8, 2023): "other_temporary", (9, 2022): "other_temporary",
        (9, 2023): "other_temporary"}
    assert counts["type seasonal_worker"] == 3
    # person 4 in 2023: present Jan 1 - Feb 28 (59) + Nov 5 - Dec 31 (57) = 116 person-days;
    # touched also Mar 1, the departure day: 60 + 57 = 117; one entry (Nov 5)
    assert mob(con, "trips, person_days, days_touched",
               "person_id = 4 AND year = 2023") == [(1, 116, 117)]
    # the cross-border worker also moves circularly: both listed, precedence picks the worker
    assert mob(con, "types", "person_id = 2") == [
        ("cross_border_worker,circular",)]


def test_cross_border_worker_needs_short_stays_and_work():
    # 4 work stays but one of 10 nights: not a cross-border worker, still circular
    con = make_db([stay(1, "2023-01-01", "2023-01-03", "work"),
                   stay(1, "2023-02-01", "2023-02-03", "work"),
                   stay(1, "2023-03-01", "2023-03-03", "work"),
                   stay(1, "2023-04-01", "2023-04-11", "work")])
    classify_mobility(con, cfg())
    assert mob(con, "person_id, mobility_type") == [(1, "circular")]


def test_rule_minimum_depends_on_first_rule():
    # a 200-day health stay: shorter than 365 (12/16) but not than 183 (6/12)
    stays = [stay(1, "2023-01-01", "2023-07-20", "health")]
    con = make_db(stays)
    classify_mobility(con, cfg("12/16"))
    assert mob(con, "mobility_type") == [("health",)]
    con = make_db(stays, rule="6/12")
    classify_mobility(con, cfg("6/12"))
    assert mob(con, "mobility_type") == [("other_temporary",)]


def test_provisional_status_is_flagged():
    con = make_db([stay(1, "2023-02-01", "2023-02-20", "tourism")], provisional={(1, 2023)})
    classify_mobility(con, cfg())
    assert mob(con, "person_id, year, provisional") == [(1, 2023, True)]


def test_service_population_average():
    con = make_db([
        # resident (by the residence table) present all of 2023: 365 person-days
        stay(1, "2022-06-01", "2024-06-01", "family"),
        # a register-only resident, no crossings: 2023-07-01 .. open -> 184 in 2023
        stay(2, "2023-07-01", "2025-01-01", start_repair="register", end_repair="open"),
        # work visa holders: 100 + 50 person-days
        stay(3, "2023-01-01", "2023-04-11", "work", "work", "work"),
        stay(4, "2023-05-01", "2023-06-20", "work", "work", "work"),
        # no visa: 10 days, and a same-day visit
        stay(5, "2023-08-01", "2023-08-11", "tourism"),
        stay(6, "2023-08-01", "2023-08-01", "tourism"),
    ], residents={(1, 2022), (1, 2023), (1, 2024)}, no_crossing_residents=[2])
    classify_mobility(con, cfg())
    sp = con.execute("SELECT visa_category, person_days, days_touched, persons, "
                     "days_in_year, round(average_daily, 6) FROM service_population "
                     "WHERE year = 2023 ORDER BY 1").fetchall()
    assert [tuple(r) for r in sp] == [
        ("none", 10, 12, 2, 365, round(10 / 365, 6)),
        ("resident", 365 + 184, 365 + 184, 2, 365, round(549 / 365, 6)),
        ("work", 150, 152, 2, 365, round(150 / 365, 6))]
    # residents are not temporary mobility
    assert mob(con, "DISTINCT person_id") == [(3,), (4,), (5,), (6,)]


def test_missing_tables_are_a_one_line_error():
    con = duckdb.connect()
    with pytest.raises(MiglinkError, match="stays"):
        classify_mobility(con, cfg())


def test_end_to_end_from_micro_integration():
    """Sources -> integrators.micro -> hand-made residence -> mobility."""
    from test_micro import cx, make_cfg, make_db as make_sources

    from integrators.micro import integrate

    # person 1 crosses weekly for work: 4 stays of 2 nights; the first exit of person 1
    # is duplicated in the source (removed); person 2 is in the register only
    rows = []
    for a, b in (("01-10", "01-12"), ("01-17", "01-19"), ("02-01", "02-03"),
                 ("02-10", "02-12")):
        rows += [cx(1, f"2023-{a}", "in", purpose="work"), cx(1, f"2023-{b}", "out")]
    rows.insert(2, cx(1, "2023-01-12", "out"))
    rows.append(dict(person_id=2, source="reg", registration_date=D("2023-01-01")))
    con = make_sources(rows)
    counts = integrate(con, make_cfg(observed_until=D("2023-12-31")))
    assert counts["duplicates_removed"] == 1
    con.execute("CREATE TABLE residence AS SELECT person_id, DATE '2023-12-31' AS "
                "reference_date, '12/16' AS rule, person_id = 2 AS resident, NULL AS status, "
                "NULL::INTEGER AS days_present, false AS provisional FROM persons")
    c = NS(country="NZL", sources=[], residence=NS(rules=["12/16"],
                                                   reference_dates=[D("2023-12-31")],
                                                   observed_until=D("2023-12-31")))
    classify_mobility(con, c)
    # 4 trips x 2 nights = 8 person-days; each stay touches 3 days = 12
    assert mob(con) == [(1, 2023, "cross_border_worker", 4, 8, 12)]
    sp = con.execute("SELECT visa_category, person_days, days_touched, persons "
                     "FROM service_population ORDER BY 1").fetchall()
    # person 2: registered Jan 1 (the data start is Jan 10) -> present Jan 10 .. Dec 31
    assert [tuple(r) for r in sp] == [("none", 8, 12, 1), ("resident", 356, 356, 1)]


def test_weekly_commuter_every_february_is_a_cross_border_worker_not_seasonal():
    # 2-night work stays each week of February, two years running: the stays recur in the
    # same season, but stays of <= 7 nights are commuting, not seasonal work
    stays = [stay(1, f"{y}-02-{d:02d}", f"{y}-02-{d + 2:02d}", "work")
             for y in (2022, 2023) for d in (1, 8, 15, 22)]
    con = make_db(stays)
    classify_mobility(con, cfg())
    assert mob(con, "year, mobility_type, trips, person_days, types") == [
        (2022, "cross_border_worker", 4, 8, "cross_border_worker,circular"),
        (2023, "cross_border_worker", 4, 8, "cross_border_worker,circular")]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.integers(0, 900), min_size=2, max_size=12), min_size=1,
                max_size=4))
def test_counts_match_a_day_by_day_oracle(people):
    """person_days / days_touched per person-year (mobility) and per year (service
    population) equal a day-by-day count: present = in [s, e), touched = in [s, e]."""
    base = D("2022-06-01")
    stays, present, touched = [], {}, {}
    for pid, offs in enumerate(people, start=1):
        offs = sorted(offs)[: len(offs) // 2 * 2]
        for a, b in zip(offs[::2], offs[1::2]):
            s, e = base + dt.timedelta(days=a), base + dt.timedelta(days=b)
            stays.append(stay(pid, s.isoformat(), e.isoformat(), "tourism"))
            for k in range(a, b + 1):
                d = base + dt.timedelta(days=k)
                touched.setdefault((pid, d.year), set()).add(d)
                if k < b:
                    present.setdefault((pid, d.year), set()).add(d)
    con = make_db(stays)
    classify_mobility(con, cfg())
    got = {(p, y): (pd_, dt_) for p, y, pd_, dt_ in
           mob(con, "person_id, year, person_days, days_touched")}
    want = {k: (len(present.get(k, ())), len(v)) for k, v in touched.items()
            if k[1] in (2022, 2023, 2024)}
    assert got == want
    sp = dict(((y, (pd_, t)) for y, pd_, t in con.execute(
        "SELECT year, sum(person_days), sum(days_touched) FROM service_population "
        "GROUP BY year").fetchall()))
    for y in {k[1] for k in want}:
        assert sp[y] == (sum(v[0] for k, v in want.items() if k[1] == y),
                         sum(v[1] for k, v in want.items() if k[1] == y))
