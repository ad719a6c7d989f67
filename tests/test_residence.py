"""Hand-worked cases for every convention of RESIDENCE.md (integrators.residence.classify).

Each test counts its days in the comments; dates are ISO, windows are (R - 12 months, R].
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest

from integrators.residence import classify, person_flows
from linkage.errors import MiglinkError

D = dt.date.fromisoformat


def run(crossings, persons=None, rules=("6/12", "12/12", "12/16"), refs=(), ou=None):
    """crossings: [(pid, 'YYYY-MM-DD', dir[, permit 'YYYY-MM-DD' | None])] in recorded order
    (a 4th element gives the table a permit_valid_until column); persons: {pid: {...}}."""
    con = duckdb.connect()
    per_arrival = any(len(c) > 3 for c in crossings)
    con.execute("CREATE TABLE crossings (person_id BIGINT, crossing_date DATE, "
                "direction VARCHAR, seq BIGINT"
                + (", permit_valid_until DATE)" if per_arrival else ")"))
    for i, c in enumerate(crossings):
        pv = [D(c[3]) if len(c) > 3 and c[3] else None] if per_arrival else []
        con.execute(f"INSERT INTO crossings VALUES (?, ?, ?, ?{', ?' if per_arrival else ''})",
                    [c[0], D(c[1]), c[2], i] + pv)
    ptab = None
    if persons is not None:
        con.execute("""CREATE TABLE residence_persons (person_id BIGINT, citizen BOOLEAN,
                       initial_status VARCHAR, permit_valid_until DATE, native_born BOOLEAN,
                       birth_date DATE, death_date DATE)""")
        for pid, p in persons.items():
            con.execute("INSERT INTO residence_persons VALUES (?, ?, ?, ?, ?, ?, ?)", [
                pid, p.get("citizen"), p.get("initial_status"),
                D(p["permit"]) if p.get("permit") else None, p.get("native_born"),
                D(p["birth"]) if p.get("birth") else None,
                D(p["death"]) if p.get("death") else None])
        ptab = "residence_persons"
    classify(con, list(rules), [D(r) for r in refs], observed_until=D(ou) if ou else None,
             persons=ptab)
    return con


def row(con, pid, ref, rule):
    r = con.execute("SELECT resident, status, days_present, provisional FROM residence "
                    "WHERE person_id = ? AND reference_date = ? AND rule = ?",
                    [pid, D(ref), rule]).fetchone()
    assert r is not None
    return r


def events(con, pid, rule):
    return [(e, str(a), str(b)) for e, a, b in con.execute(
        "SELECT event, event_date, decided_on FROM migration_events WHERE person_id = ? "
        "AND rule = ? ORDER BY decided_on, event", [pid, rule]).fetchall()]


# ---------------------------------------------------------------- days present
def test_transit_adds_no_day_and_stay_counts_b_minus_a():
    # p1: in and out on 10 Mar (transit) -> 0 days. p2: in 10 Mar, out 11 Mar -> 11 - 10 = 1
    # day (10 Mar). p3: in 1 Mar, out 11 Mar -> 10 days.
    con = run([(1, "2021-03-10", "in"), (1, "2021-03-10", "out"),
               (2, "2021-03-10", "in"), (2, "2021-03-11", "out"),
               (3, "2021-03-01", "in"), (3, "2021-03-11", "out")],
              refs=["2021-06-30"], ou="2021-12-31")
    assert row(con, 1, "2021-06-30", "6/12") == (False, "not_present", 0, False)
    assert row(con, 2, "2021-06-30", "6/12")[2] == 1
    assert row(con, 3, "2021-06-30", "6/12")[2] == 10


def test_arrival_day_present_departure_day_absent():
    # in 10 Mar: present at the end of 10 Mar; out 20 Mar: absent at the end of 20 Mar
    con = run([(1, "2021-03-10", "in"), (1, "2021-03-20", "out")],
              refs=["2021-03-09", "2021-03-10", "2021-03-19", "2021-03-20"], ou="2021-12-31")
    assert row(con, 1, "2021-03-09", "6/12")[1:3] == ("not_present", 0)
    assert row(con, 1, "2021-03-10", "6/12")[1:3] == ("temporary_present", 1)
    assert row(con, 1, "2021-03-19", "6/12")[1:3] == ("temporary_present", 10)
    assert row(con, 1, "2021-03-20", "6/12")[1:3] == ("not_present", 10)


def test_day_trip_removes_no_day():
    # first crossing out (present before it), back the same day: present every day of 2021
    # -> 365 days; 12/12 resident; no event under any rule (12/16: the departure gets its
    # 123rd present day on 1 May + 122 = 31 Aug -> not a migration).
    con = run([(1, "2021-05-01", "out"), (1, "2021-05-01", "in")],
              refs=["2021-05-01", "2021-12-31"], ou="2021-12-31")
    for rule in ("6/12", "12/12", "12/16"):
        assert row(con, 1, "2021-12-31", rule) == (True, "resident_present", 365, False)
        assert row(con, 1, "2021-05-01", rule)[:2] == (True, "resident_present")
        assert events(con, 1, rule) == []


def test_state_before_first_crossing_is_opposite():
    # p1: first crossing out on 1 Jul 2021 -> present before it. At 31 Dec 2021 the window
    # 1 Jan..31 Dec holds 1 Jan..30 Jun = 181 days present -> not resident under 6/12.
    # 6/12 emigration: the count first drops below 183 on 30 Dec 2021 (window 31 Dec 2020..
    # 30 Dec 2021: 1 + 181 = 182; on 29 Dec: 2 + 181 = 183).
    # 12/16: initial status inferred resident; 365th absent day 1 Jul 2021 + 364 = 30 Jun 2022.
    # p2: first crossing in on 1 Jul 2021 -> absent before it: 184 days at 31 Dec 2021.
    con = run([(1, "2021-07-01", "out"), (2, "2021-07-01", "in")],
              refs=["2021-06-30", "2021-12-31"], ou="2022-12-31")
    assert row(con, 1, "2021-06-30", "6/12") == (True, "resident_present", 365, False)
    assert row(con, 1, "2021-12-31", "6/12") == (False, "not_present", 181, False)
    assert events(con, 1, "6/12") == [("emigration", "2021-07-01", "2021-12-30")]
    assert events(con, 1, "12/12") == [("emigration", "2021-07-01", "2021-07-01")]
    assert events(con, 1, "12/16") == [("emigration", "2021-07-01", "2022-06-30")]
    assert row(con, 1, "2021-12-31", "12/16")[:2] == (False, "not_present")
    assert row(con, 2, "2021-06-30", "6/12")[:3] == (False, "not_present", 0)
    assert row(con, 2, "2021-12-31", "6/12") == (True, "resident_present", 184, False)


def test_state_persists_to_observed_until_and_later_crossings_ignored():
    # in 1 Jan 2021; a departure dated after observed_until (30 Jun) is ignored.
    con = run([(1, "2021-01-01", "in"), (1, "2021-08-01", "out")],
              refs=["2021-06-30"], ou="2021-06-30")
    # 1 Jan..30 Jun 2021 = 181 days
    assert row(con, 1, "2021-06-30", "6/12") == (False, "temporary_present", 181, False)


def test_observed_until_defaults_to_latest_crossing():
    # latest crossing 1 Mar 2021 -> observed_until; 2 Mar is after it -> provisional
    con = run([(1, "2021-01-01", "in"), (2, "2021-03-01", "in")],
              refs=["2021-03-01", "2021-03-02"])
    assert row(con, 1, "2021-03-01", "6/12")[3] is False
    assert row(con, 1, "2021-03-02", "6/12") == (None, "provisional", None, True)


# ---------------------------------------------------------------- imputation
def test_imputation_even_and_odd_gaps():
    # p1: in 1 Jan, in 11 Jan: gap 10 -> out imputed 1 Jan + 5 = 6 Jan:
    #     present 1..5 Jan (5) + 11..31 Jan (21) = 26 at 31 Jan.
    # p2: in 1 Jan, in 12 Jan: gap 11 -> floor(11/2) = 5 -> out on 6 Jan: 5 + 20 = 25.
    # p3: out 1 Mar, out 21 Mar: gap 20 -> in imputed 11 Mar. Present before 1 Mar (first
    #     crossing out), absent 1..10 Mar, present 11..20 Mar, absent from 21 Mar:
    #     window 1 Apr 2020..31 Mar 2021: 1 Apr 2020..28 Feb 2021 = 334 + 10 = 344.
    # p4: in, in on the same day 5 Jan: out imputed on 5 Jan between them -> present from 5 Jan.
    con = run([(1, "2021-01-01", "in"), (1, "2021-01-11", "in"),
               (2, "2021-01-01", "in"), (2, "2021-01-12", "in"),
               (3, "2021-03-01", "out"), (3, "2021-03-21", "out"),
               (4, "2021-01-05", "in"), (4, "2021-01-05", "in")],
              refs=["2021-01-31", "2021-03-31"], ou="2021-12-31")
    assert row(con, 1, "2021-01-31", "6/12")[2] == 26
    assert row(con, 2, "2021-01-31", "6/12")[2] == 25
    assert row(con, 3, "2021-03-31", "6/12")[2] == 344
    assert row(con, 4, "2021-01-31", "6/12")[2] == 27


def test_imputed_crossing_is_a_migration_under_1216():
    # in 1 Jan 2020, in 31 Dec 2021: gap 730 -> out imputed on 1 Jan 2020 + 365 = 31 Dec 2020.
    # Present 1 Jan..30 Dec 2020 = 365 days -> immigration decided on the 365th, 30 Dec 2020.
    # Imputed departure 31 Dec 2020: absent 31 Dec 2020..30 Dec 2021 = 365 days -> emigration
    # decided 30 Dec 2021. Arrival 31 Dec 2021: by observed_until 30 Jun 2022 only 182 days
    # present, 0 absent -> pending -> provisional from 31 Dec 2021 on.
    con = run([(1, "2020-01-01", "in"), (1, "2021-12-31", "in")],
              refs=["2021-06-30", "2021-12-30", "2021-12-31", "2022-03-31"], ou="2022-06-30",
              rules=["12/16"])
    assert events(con, 1, "12/16") == [("immigration", "2020-01-01", "2020-12-30"),
                                       ("emigration", "2020-12-31", "2021-12-30")]
    imp = con.execute("SELECT event, imputed FROM migration_events ORDER BY decided_on").fetchall()
    assert imp == [("immigration", False), ("emigration", True)]
    assert row(con, 1, "2021-06-30", "12/16")[:2] == (False, "not_present")
    assert row(con, 1, "2021-12-30", "12/16")[:2] == (False, "not_present")
    assert row(con, 1, "2021-12-31", "12/16") == (None, "provisional", 1, True)
    assert row(con, 1, "2022-03-31", "12/16")[0] is None


# ---------------------------------------------------------------- windows, 6/12, 12/12
def test_6_12_exactly_183_vs_182():
    # p1: in 1 Jan 2021, out 3 Jul: 31+28+31+30+31+30+2 = 183 days -> resident (abroad) at
    #     31 Dec 2021; immigration decided on the 183rd day, 1 Jan + 182 = 2 Jul; emigration
    #     when 1 Jan 2021 leaves the window: 1 Jan 2022 (182 days), event_date 3 Jul.
    # p2: out 2 Jul: 182 days -> not resident, no event.
    con = run([(1, "2021-01-01", "in"), (1, "2021-07-03", "out"),
               (2, "2021-01-01", "in"), (2, "2021-07-02", "out")],
              refs=["2021-12-31"], ou="2022-12-31", rules=["6/12"])
    assert row(con, 1, "2021-12-31", "6/12") == (True, "resident_abroad", 183, False)
    assert row(con, 2, "2021-12-31", "6/12") == (False, "not_present", 182, False)
    assert events(con, 1, "6/12") == [("immigration", "2021-01-01", "2021-07-02"),
                                      ("emigration", "2021-07-03", "2022-01-01")]
    assert events(con, 2, "6/12") == []


def test_window_of_366_days_and_29_february():
    # R = 29 Feb 2024: window (28 Feb 2023, 29 Feb 2024] = 1 Mar 2023..29 Feb 2024, 366 days.
    # p1: in 1 Mar 2023 -> 366 days present, 12/12 resident on 29 Feb 2024; its 12/12
    #     immigration is decided on 28 Feb 2024 (window 1 Mar 2023..28 Feb 2024, all present).
    # p2: in 2 Mar 2023 -> 365 of 366 (1 Mar missing) -> not 12/12 resident on 29 Feb 2024;
    #     on 1 Mar 2024 (window 2 Mar 2023..1 Mar 2024, 366 days) it is.
    # p3: present 1 Mar..30 Aug 2023 (31+30+31+30+31+30 = 183): 6/12 resident on 29 Feb 2024
    #     (1 Mar 2023 in the window), not on 1 Mar 2024 (182).
    # R = 28 Feb 2025: window 29 Feb 2024..28 Feb 2025 (366 days); 1 Mar 2025: 365 days.
    con = run([(1, "2023-03-01", "in"), (2, "2023-03-02", "in"),
               (3, "2023-03-01", "in"), (3, "2023-08-31", "out")],
              refs=["2024-02-29", "2024-03-01", "2025-02-28", "2025-03-01"], ou="2025-06-30")
    assert row(con, 1, "2024-02-29", "12/12") == (True, "resident_present", 366, False)
    assert events(con, 1, "12/12") == [("immigration", "2023-03-01", "2024-02-28")]
    assert row(con, 2, "2024-02-29", "12/12") == (False, "temporary_present", 365, False)
    assert row(con, 2, "2024-03-01", "12/12") == (True, "resident_present", 366, False)
    assert row(con, 3, "2024-02-29", "6/12")[:3] == (True, "resident_abroad", 183)
    assert row(con, 3, "2024-03-01", "6/12")[:3] == (False, "not_present", 182)
    assert row(con, 1, "2025-02-28", "6/12")[2] == 366
    assert row(con, 1, "2025-03-01", "6/12")[2] == 365


def test_12_12_one_day_missing():
    # present all of 2021 except a departure 10 Jun and return 11 Jun: 364 of 365 days ->
    # not 12/12 resident on 31 Dec 2021 (still 6/12 resident).
    con = run([(1, "2020-01-01", "in"), (1, "2021-06-10", "out"), (1, "2021-06-11", "in")],
              refs=["2021-06-09", "2021-12-31", "2022-06-10"], ou="2022-12-31")
    assert row(con, 1, "2021-06-09", "12/12")[0] is True
    assert row(con, 1, "2021-12-31", "12/12") == (False, "temporary_present", 364, False)
    assert row(con, 1, "2021-12-31", "6/12")[0] is True
    # 10 Jun 2022: window 11 Jun 2021..10 Jun 2022, all present again
    assert row(con, 1, "2022-06-10", "12/12")[0] is True
    assert events(con, 1, "12/12") == [("immigration", "2020-01-01", "2020-12-31"),
                                       ("emigration", "2021-06-10", "2021-06-10"),
                                       ("immigration", "2021-06-11", "2022-06-10")]


def test_permission_criterion_boundary():
    # arrival a = 1 Mar 2021, present on R = 10 Mar (10 days only).
    # p1: permit 30 Aug 2021: 30 Aug - 1 Mar + 1 = 183 -> resident under 6/12 (not 12/12);
    #     immigration decided on the arrival day.
    # p2: permit 29 Aug 2021: 182 -> not resident.
    # p3: permit far ahead but departed 5 Mar: absent on R -> criterion does not apply.
    con = run([(1, "2021-03-01", "in"), (2, "2021-03-01", "in"),
               (3, "2021-03-01", "in"), (3, "2021-03-05", "out")],
              persons={1: {"permit": "2021-08-30"}, 2: {"permit": "2021-08-29"},
                       3: {"permit": "2023-01-01"}},
              refs=["2021-03-10"], ou="2021-06-30")
    assert row(con, 1, "2021-03-10", "6/12") == (True, "resident_present", 10, False)
    assert row(con, 1, "2021-03-10", "12/12")[0] is False
    assert events(con, 1, "6/12") == [("immigration", "2021-03-01", "2021-03-01")]
    assert row(con, 2, "2021-03-10", "6/12") == (False, "temporary_present", 10, False)
    assert row(con, 3, "2021-03-10", "6/12") == (False, "not_present", 4, False)


def test_permission_criterion_uses_the_permit_in_force_at_each_arrival():
    # A repeat visitor whose latest visa (the person's permit_valid_until) ends 31 Jan 2025.
    # The crossings carry the permit in force for each stay:
    #   trip 1, 1-15 Mar 2019 on a 90-day visitor visa (permit 30 May 2019: 91 days);
    #   trip 2, 1-20 Jun 2020 visa-free (no permit for that stay);
    #   trip 3, 1 Feb - 1 May 2022 on a visa to 2 Aug 2022: 2 Aug - 1 Feb + 1 = 183 -> resident
    #           by permission from the arrival day (89 days present only);
    #   trip 4, 1-20 Sep 2022 on a visa to 1 Oct 2022 (31 days): not resident again, although
    #           trip 3 qualified (the qualifying arrivals need not be a prefix).
    # With one permit per person (person 2: same trips, no column) every trip qualified.
    trips = [("2019-03-01", "2019-03-15", "2019-05-30"), ("2020-06-01", "2020-06-20", None),
             ("2022-02-01", "2022-05-01", "2022-08-02"), ("2022-09-01", "2022-09-20",
                                                          "2022-10-01")]
    cr = [c for a, b, p in trips for c in ((1, a, "in", p), (1, b, "out", "2030-01-01"))]
    refs = ["2019-03-10", "2020-06-10", "2022-02-10", "2022-06-10", "2022-09-10"]
    con = run(cr, persons={1: {"permit": "2025-01-31"}}, refs=refs, ou="2022-12-31",
              rules=["6/12"])
    assert row(con, 1, "2019-03-10", "6/12") == (False, "temporary_present", 10, False)
    assert row(con, 1, "2020-06-10", "6/12") == (False, "temporary_present", 10, False)
    assert row(con, 1, "2022-02-10", "6/12") == (True, "resident_present", 10, False)
    assert row(con, 1, "2022-06-10", "6/12") == (False, "not_present", 89, False)
    assert row(con, 1, "2022-09-10", "6/12") == (False, "temporary_present", 99, False)
    # one spell, the stay of trip 3: decided on its arrival, ended on its departure
    assert events(con, 1, "6/12") == [("immigration", "2022-02-01", "2022-02-01"),
                                      ("emigration", "2022-05-01", "2022-05-01")]
    # without the column the person's (latest) permit decides every stay: 4 spells
    con = run([(2, c[1], c[2]) for c in cr], persons={2: {"permit": "2025-01-31"}},
              refs=refs, ou="2022-12-31", rules=["6/12"])
    assert row(con, 2, "2019-03-10", "6/12")[0] is True
    assert [e for e, _, _ in events(con, 2, "6/12")] == ["immigration", "emigration"] * 4


def test_permission_criterion_per_arrival_boundary_and_precedence():
    # arrival a = 1 Mar 2021, present on R = 10 Mar; the arrival's own permit:
    # p1: 30 Aug 2021 -> 183 -> resident; p2: 29 Aug 2021 -> 182 -> not resident;
    # p3: none, although the person's permit is far ahead -> not resident (the column decides);
    # p4: 30 Aug 2021 although the person's permit is 2 Mar 2021 -> resident;
    # p5: permits written on departures are ignored: in 1 Mar (none), out 5 Mar (2030), in
    #     6 Mar (none) -> not resident; p6: the later arrival of one day decides: in 1 Mar
    #     (2030), out 3 Mar, in 3 Mar (none) -> not resident, while p7 (same, reversed
    #     permits) is resident.
    con = run([(1, "2021-03-01", "in", "2021-08-30"), (2, "2021-03-01", "in", "2021-08-29"),
               (3, "2021-03-01", "in", None), (4, "2021-03-01", "in", "2021-08-30"),
               (5, "2021-03-01", "in", None), (5, "2021-03-05", "out", "2030-01-01"),
               (5, "2021-03-06", "in", None),
               (6, "2021-03-01", "in", "2030-01-01"), (6, "2021-03-03", "out", None),
               (6, "2021-03-03", "in", None),
               (7, "2021-03-01", "in", None), (7, "2021-03-03", "out", None),
               (7, "2021-03-03", "in", "2030-01-01")],
              persons={3: {"permit": "2030-01-01"}, 4: {"permit": "2021-03-02"}},
              refs=["2021-03-10"], ou="2021-06-30", rules=["6/12"])
    assert row(con, 1, "2021-03-10", "6/12") == (True, "resident_present", 10, False)
    assert events(con, 1, "6/12") == [("immigration", "2021-03-01", "2021-03-01")]
    assert row(con, 2, "2021-03-10", "6/12") == (False, "temporary_present", 10, False)
    assert events(con, 2, "6/12") == []
    assert row(con, 3, "2021-03-10", "6/12")[0] is False
    assert row(con, 4, "2021-03-10", "6/12")[0] is True
    assert row(con, 5, "2021-03-10", "6/12") == (False, "temporary_present", 9, False)
    assert row(con, 6, "2021-03-10", "6/12")[0] is False
    assert events(con, 6, "6/12") == [("immigration", "2021-03-01", "2021-03-01"),
                                      ("emigration", "2021-03-03", "2021-03-03")]
    assert row(con, 7, "2021-03-10", "6/12")[0] is True
    # decided on 3 Mar; the day trip removed no day, so the stay in progress began 1 Mar
    assert events(con, 7, "6/12") == [("immigration", "2021-03-01", "2021-03-03")]


# ---------------------------------------------------------------- 12/16
def test_12_16_decided_on_day_365_or_pending():
    # in 1 Jan 2021, present: the 365th present day is 1 Jan + 364 = 31 Dec 2021.
    con = run([(1, "2021-01-01", "in")], refs=["2021-06-30"], ou="2021-12-31", rules=["12/16"])
    assert events(con, 1, "12/16") == [("immigration", "2021-01-01", "2021-12-31")]
    assert row(con, 1, "2021-06-30", "12/16") == (True, "resident_present", 181, False)
    # one day less of data: 364 present days, 0 absent -> pending -> provisional, no event
    con = run([(1, "2021-01-01", "in")], refs=["2020-12-31", "2021-06-30"], ou="2021-12-30",
              rules=["12/16"])
    assert events(con, 1, "12/16") == []
    assert row(con, 1, "2020-12-31", "12/16") == (False, "not_present", 0, False)
    assert row(con, 1, "2021-06-30", "12/16") == (None, "provisional", 181, True)


def test_12_16_not_a_migration_on_day_123():
    # in 1 Jan 2021, out 1 Feb (31 days present), then absent: the 123rd absent day is
    # 1 Feb + 122 = 3 Jun 2021 -> not a migration, decided 3 Jun.
    con = run([(1, "2021-01-01", "in"), (1, "2021-02-01", "out")],
              refs=["2021-01-15"], ou="2021-06-03", rules=["12/16"])
    assert row(con, 1, "2021-01-15", "12/16") == (False, "temporary_present", 15, False)
    assert events(con, 1, "12/16") == []
    # with data to 2 Jun only 122 absent days: pending -> provisional
    con = run([(1, "2021-01-01", "in"), (1, "2021-02-01", "out")],
              refs=["2021-01-15"], ou="2021-06-02", rules=["12/16"])
    assert row(con, 1, "2021-01-15", "12/16")[:2] == (None, "provisional")


def test_12_16_window_counts_days_in_both_states():
    # in 1 Jan 2021, out 1 Jul 2021 (181 present), in 1 Sep 2021 (62 absent), stays:
    # 365 present days are reached before 123 absent ones: 181 + (365 - 181 = 184th day from
    # 1 Sep) -> 1 Sep + 183 = 3 Mar 2022 (day 427 of the window) -> immigration on 1 Jan 2021.
    # The departure 1 Jul 2021 is by a resident: 123rd present day counted from 1 Jul is
    # 1 Sep + 122 = 1 Jan 2022 (before 365 absent ones) -> not an emigration.
    con = run([(1, "2021-01-01", "in"), (1, "2021-07-01", "out"), (1, "2021-09-01", "in")],
              refs=["2021-08-01"], ou="2022-12-31", rules=["12/16"])
    assert events(con, 1, "12/16") == [("immigration", "2021-01-01", "2022-03-03")]
    assert row(con, 1, "2021-08-01", "12/16")[:2] == (True, "resident_abroad")


# ---------------------------------------------------------------- statuses and persons
def test_reference_date_after_observed_until_is_provisional():
    con = run([(1, "2020-01-01", "in")], refs=["2021-12-31", "2022-01-01"], ou="2021-12-31")
    for rule in ("6/12", "12/12", "12/16"):
        assert row(con, 1, "2021-12-31", rule) == (True, "resident_present", 365, False)
        assert row(con, 1, "2022-01-01", rule) == (None, "provisional", None, True)


def test_initial_status_given_vs_inferred():
    # p1 (initial_status resident): in 1 Jan 2021 (a resident returning: no window), out
    #    31 Jan 2021 and never back -> emigration, 365th absent day 31 Jan 2021 + 364 =
    #    30 Jan 2022. Resident abroad on 31 Dec 2020.
    # p2 (inferred from the first crossing `in`: non-resident): the arrival gets 30 present
    #    days, then its 123rd absent day 31 Jan + 122 = 2 Jun 2021 -> not a migration.
    con = run([(1, "2021-01-01", "in"), (1, "2021-01-31", "out"),
               (2, "2021-01-01", "in"), (2, "2021-01-31", "out")],
              persons={1: {"initial_status": "resident"}, 2: {}},
              refs=["2020-12-31", "2021-01-15"], ou="2022-12-31", rules=["12/16"])
    assert row(con, 1, "2020-12-31", "12/16")[:2] == (True, "resident_abroad")
    assert row(con, 1, "2021-01-15", "12/16")[:2] == (True, "resident_present")
    assert events(con, 1, "12/16") == [("emigration", "2021-01-31", "2022-01-30")]
    assert row(con, 2, "2020-12-31", "12/16")[:2] == (False, "not_present")
    assert row(con, 2, "2021-01-15", "12/16")[:2] == (False, "temporary_present")
    assert events(con, 2, "12/16") == []


def test_initial_status_non_resident_first_crossing_out():
    # initial_status non_resident overrides the inference (first crossing out -> resident):
    # present before 1 Mar 2021 as a non-resident; the departure is not migrating, no event.
    con = run([(1, "2021-03-01", "out")], persons={1: {"initial_status": "non_resident"}},
              refs=["2021-01-31"], ou="2022-12-31", rules=["12/16"])
    assert row(con, 1, "2021-01-31", "12/16")[:2] == (False, "temporary_present")
    assert events(con, 1, "12/16") == []


def test_returning_citizen_and_native_born():
    # three arrivals on 1 Jan 2021 who stay: immigration under 12/16 decided 31 Dec 2021.
    con = run([(1, "2021-01-01", "in"), (2, "2021-01-01", "in"), (3, "2021-01-01", "in"),
               (1, "2022-02-01", "out")],
              persons={1: {"citizen": True, "native_born": True}, 2: {"citizen": False}},
              refs=["2021-12-31"], ou="2023-12-31", rules=["12/16"])
    got = con.execute("SELECT person_id, event, returning_citizen, native_born "
                      "FROM migration_events ORDER BY person_id, decided_on").fetchall()
    assert got == [(1, "immigration", True, True), (1, "emigration", False, True),
                   (2, "immigration", False, None), (3, "immigration", None, None)]


def test_persons_without_crossings():
    # no crossings: resident -> present throughout; non_resident -> absent; unknown -> provisional
    con = run([(9, "2021-01-01", "in")],
              persons={1: {"initial_status": "resident"}, 2: {"initial_status": "non_resident"},
                       3: {}}, refs=["2021-06-30"], ou="2021-12-31")
    for rule in ("6/12", "12/12", "12/16"):
        assert row(con, 1, "2021-06-30", rule) == (True, "resident_present", 365, False)
        assert row(con, 2, "2021-06-30", rule) == (False, "not_present", 0, False)
        assert row(con, 3, "2021-06-30", rule) == (None, "provisional", None, True)
    assert con.execute("SELECT count(*) FROM migration_events WHERE person_id < 9").fetchone()[0] == 0


def test_births_and_deaths_balance_the_stock():
    # p1 born 1 Mar 2021 in the country (resident, no crossings): not in the population on
    #    31 Dec 2020, resident on 31 Dec 2021 -> one birth, no immigration.
    # p2 resident, dies 1 Jun 2021: resident on 31 May, not in the population on 1 Jun.
    con = run([], persons={1: {"initial_status": "resident", "birth": "2021-03-01"},
                           2: {"initial_status": "resident", "death": "2021-06-01"}},
              refs=["2020-12-31", "2021-05-31", "2021-06-01", "2021-12-31"], ou="2021-12-31")
    for rule in ("6/12", "12/12", "12/16"):
        # (2020 is a leap year: the window 1 Jan..31 Dec 2020 holds 366 days)
        assert row(con, 1, "2020-12-31", rule) == (False, "not_present", 366, False)
        assert row(con, 1, "2021-12-31", rule)[0] is True
        assert row(con, 2, "2021-05-31", rule)[0] is True
        assert row(con, 2, "2021-06-01", rule)[:2] == (False, "not_present")
        fl = person_flows(con, rule, D("2020-12-31"), D("2021-12-31")).set_index("person_id")
        assert fl.loc[1, "births"] == 1 and fl.loc[1, "immigration"] == 0
        assert fl.loc[2, "deaths"] == 1
        fl = person_flows(con, rule, D("2021-05-31"), D("2021-06-01")).set_index("person_id")
        assert fl.loc[2, "deaths"] == 1


def test_event_dates_6_12_after_return():
    # in 1 Jan 2021, out 1 Aug 2021 (212 days), in 1 Oct 2021 and stays.
    # 6/12: resident from 2 Jul 2021 (183rd day); after 1 Aug the count decreases only from
    # 1 Jan 2022 on while she is present again -> never below 183: no emigration.
    con = run([(1, "2021-01-01", "in"), (1, "2021-08-01", "out"), (1, "2021-10-01", "in")],
              refs=["2022-06-30"], ou="2022-12-31", rules=["6/12"])
    assert events(con, 1, "6/12") == [("immigration", "2021-01-01", "2021-07-02")]
    # window 1 Jul 2021..30 Jun 2022: 31 (Jul) + 273 (1 Oct..30 Jun) = 304
    assert row(con, 1, "2022-06-30", "6/12") == (True, "resident_present", 304, False)


# ---------------------------------------------------------------- errors
def test_errors_are_one_line():
    con = duckdb.connect()
    con.execute("CREATE TABLE crossings (person_id BIGINT, crossing_date DATE, direction VARCHAR)")
    with pytest.raises(MiglinkError, match="unknown residence rule"):
        classify(con, ["6/13"], [D("2021-01-01")])
    con.execute("INSERT INTO crossings VALUES (1, DATE '2021-01-01', 'sideways')")
    with pytest.raises(MiglinkError, match="direction other than in/out"):
        classify(con, ["6/12"], [D("2021-01-01")])
    con.execute("CREATE TABLE c2 (person_id BIGINT, direction VARCHAR)")
    with pytest.raises(MiglinkError, match="no column 'crossing_date'"):
        classify(con, ["6/12"], [D("2021-01-01")], crossings="c2")


def test_outputs_have_contract_columns():
    con = run([(1, "2021-01-01", "in")], refs=["2021-06-30"], ou="2022-12-31")
    cols = [r[0] for r in con.execute("DESCRIBE residence").fetchall()]
    assert cols == ["person_id", "reference_date", "rule", "resident", "status", "days_present",
                    "provisional"]
    cols = [r[0] for r in con.execute("DESCRIBE migration_events").fetchall()]
    assert cols[:7] == ["person_id", "rule", "event", "event_date", "decided_on",
                        "returning_citizen", "native_born"]
    assert isinstance(con.execute("SELECT * FROM residence").df(), pd.DataFrame)


def test_6_12_resident_for_one_day_on_29_february():
    # in 1 Mar 2023, out 1 Jun 2023 (31 + 30 + 31 = 92 days), in 1 Dec 2023, out 1 Mar 2024.
    # 28 Feb 2024: window 1 Mar 2023..28 Feb 2024 (365 days): 92 + 31 + 31 + 28 = 182.
    # 29 Feb 2024: window 1 Mar 2023..29 Feb 2024 (366 days): nothing leaves, +1 -> 183.
    # 1 Mar 2024: 1 Mar 2023 leaves and she is absent (departure day) -> 182.
    # So 6/12 resident on 29 Feb only: immigration decided 29 Feb (stay begun 1 Dec 2023),
    # emigration decided 1 Mar 2024 (absence begun 1 Mar 2024).
    con = run([(1, "2023-03-01", "in"), (1, "2023-06-01", "out"), (1, "2023-12-01", "in"),
               (1, "2024-03-01", "out")],
              refs=["2024-02-28", "2024-02-29", "2024-03-01"], ou="2024-12-31", rules=["6/12"])
    assert row(con, 1, "2024-02-28", "6/12") == (False, "temporary_present", 182, False)
    assert row(con, 1, "2024-02-29", "6/12") == (True, "resident_present", 183, False)
    assert row(con, 1, "2024-03-01", "6/12") == (False, "not_present", 182, False)
    assert events(con, 1, "6/12") == [("immigration", "2023-12-01", "2024-02-29"),
                                      ("emigration", "2024-03-01", "2024-03-01")]
