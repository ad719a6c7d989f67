"""A straightforward per-person, day-by-day Python reading of RESIDENCE.md, and property tests
that compare it with the set-based classifier (integrators.residence) on random histories.

The reference implementation lives here only (tests and benchmarks); production code never
loops per person or per day.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from integrators.residence import classify, person_flows

D = dt.date
ONE = dt.timedelta(days=1)


def _ws(d: dt.date) -> dt.date:
    """Exclusive start of the 12 calendar months ending on d (29 Feb -> 28 Feb)."""
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return d.replace(year=d.year - 1, day=28)


def impute(cr):
    """[(date, dir[, permit])] in order -> [(date, dir, imputed, permit)] with missed
    crossings imputed (an imputed crossing carries no permit)."""
    out = []
    for i, c in enumerate(cr):
        d, r = c[0], c[1]
        if i and cr[i - 1][1] == r:
            x1 = cr[i - 1][0]
            out.append((x1 + dt.timedelta(days=(d - x1).days // 2),
                        "out" if r == "in" else "in", True, None))
        out.append((d, r, False, c[2] if len(c) > 2 and r == "in" else None))
    return out


def reference_person(cr, person, rules, refs, ou, start):
    """Residence rows and events of one person, day by day.

    cr: [(date, dir[, permit])] in recorded order (permit: the arrival's own
    permit_valid_until or None); person: dict with citizen, initial_status,
    permit_valid_until, native_born, birth_date, death_date (any missing). The permit of a
    stay is its arrival's own when the crossings carry permits (3-tuples do not; an imputed
    arrival has none), else the person's (RESIDENCE.md "6/12", per arrival).
    Returns (rows, events, vital): rows {(ref, rule): (resident, status, days, provisional)},
    events [(rule, event, event_date, decided_on)], vital {rule: (birth_counts, death_counts)}.
    """
    per_arrival = any(len(c) > 2 for c in cr)
    cr = [c for c in cr if c[0] <= ou]
    x = impute(cr)
    permit = person.get("permit_valid_until")
    init = person.get("initial_status")
    unknown = not x and init not in ("resident", "non_resident")
    # presence by day for days start .. ou, with the state before the first crossing
    n = (ou - start).days + 1
    if x:
        state0 = x[0][1] == "out"
    else:
        state0 = init == "resident"
    pres = [state0] * n
    last_arr = [None] * n
    last_permit = [None] * n
    k = 0
    cur, arr, arr_permit = state0, None, None
    for i in range(n):
        day = start + dt.timedelta(days=i)
        while k < len(x) and x[k][0] == day:
            cur = x[k][1] == "in"
            if cur:
                arr = day
                arr_permit = x[k][3] if per_arrival else permit
            k += 1
        pres[i], last_arr[i], last_permit[i] = cur, arr, arr_permit
    cum = [0] * (n + 1)
    for i in range(n):
        cum[i + 1] = cum[i] + pres[i]

    def idx(day):
        return (day - start).days

    def days_in_window(day):
        return cum[idx(day) + 1] - cum[idx(_ws(day)) + 1]

    def present(day):
        return pres[idx(day)]

    lo = start + dt.timedelta(days=400)      # first day with a complete window in the arrays

    def daily(rule, day):
        c = days_in_window(day)
        if rule == "12/12":
            return c == (day - _ws(day)).days
        ok = c >= 183
        a, pa = last_arr[idx(day)], last_permit[idx(day)]
        if present(day) and pa is not None and a is not None and (pa - a).days + 1 >= 183:
            ok = True
        return ok

    # 12/16: crossings in order
    before_pending = [None]      # 12/16: the status before the first pending crossing

    def run_1216():
        status = (init == "resident") if init in ("resident", "non_resident") else \
            (x[0][1] == "out" if x else None)
        after = []        # status after each crossing (None = provisional)
        evs = []
        prov = False
        for d, r, _imp, _pv in x:
            if prov:
                after.append(None)
                continue
            migrating = (r == "in" and not status) or (r == "out" and status)
            if migrating:
                new = r == "in"
                n_new = n_old = 0
                decided = None
                day = d
                for j in range(487):
                    day = d + dt.timedelta(days=j)
                    if day > ou:
                        break
                    if present(day) == new:
                        n_new += 1
                        if n_new == 365:
                            decided = ("mig", day)
                            break
                    else:
                        n_old += 1
                        if n_old == 123:
                            decided = ("not", day)
                            break
                if decided is None:
                    prov = True
                    before_pending[0] = status
                    after.append(None)
                    continue
                if decided[0] == "mig":
                    status = new
                    evs.append(("immigration" if new else "emigration", d, decided[1]))
            after.append(status)
        init_status = (init == "resident") if init in ("resident", "non_resident") else \
            (x[0][1] == "out" if x else None)

        def at(day):
            j = None
            for i, (d, _r, _imp, _pv) in enumerate(x):
                if d <= day:
                    j = i
            return init_status if j is None else after[j]
        return at, evs

    def spells_events(rule):
        evs = []
        prev = daily(rule, lo)
        spell_start = None
        for i in range(idx(lo) + 1, n):
            day = start + dt.timedelta(days=i)
            s = daily(rule, day)
            if s != prev:
                if s:
                    j = i
                    while j > 0 and pres[j - 1]:
                        j -= 1
                    if j > idx(lo):       # a stay begun in the unobserved past is no event
                        evs.append(("immigration", start + dt.timedelta(days=j), day))
                    spell_start = i
                else:
                    ev = day
                    for j in range(i, (spell_start if spell_start is not None else 0), -1):
                        if not pres[j] and pres[j - 1]:
                            ev = start + dt.timedelta(days=j)
                            break
                    evs.append(("emigration", ev, day))
                prev = s
        return evs

    b, dth = person.get("birth_date"), person.get("death_date")

    def alive(day):
        return (b is None or day >= b) and (dth is None or day < dth)

    rows, events, vital = {}, [], {}
    for rule in rules:
        if rule == "12/16":
            at, evs = run_1216() if not unknown else ((lambda day: None), [])
        else:
            at = (lambda day, rule=rule: None if unknown else daily(rule, day))
            evs = [] if unknown else spells_events(rule)
        at = (lambda day, f=at: None if day > ou else f(day))
        for ref in refs:
            days = None if unknown or ref > ou else days_in_window(ref)
            if ref > ou:
                rows[(ref, rule)] = (None, "provisional", days, True)
                continue
            if not alive(ref):
                rows[(ref, rule)] = (False, "not_present", days, False)
                continue
            res = at(ref)
            if res is None:
                st_ = "provisional"
            elif res:
                st_ = "resident_present" if present(ref) else "resident_abroad"
            else:
                st_ = "temporary_present" if present(ref) else "not_present"
            rows[(ref, rule)] = (res, st_, days, res is None)
        for ev, ed, dec in evs:
            c = ed if rule == "12/16" else dec
            if (b is None or c > b) and (dth is None or c < dth):
                events.append((rule, ev, ed, dec))
        if b is not None or dth is not None:
            dead = at(dth - ONE) if dth is not None else None
            if dth is not None and dead is None and rule == "12/16" and dth - ONE <= ou:
                dead = before_pending[0]     # death ends a pending window: not a migration
            vital[rule] = (bool(b is not None and at(b)), bool(dead))
    return rows, events, vital


def reference(crossings, persons, rules, refs, ou):
    """All persons: crossings [(pid, date, dir[, permit])] in recorded order; persons
    {pid: dict}."""
    by = {}
    width = max((len(c) for c in crossings), default=3)   # 4: the table carries permits
    for c in crossings:
        by.setdefault(c[0], []).append(tuple(c[1:]) + (None,) * (width - len(c)))
    for pid in by:
        by[pid].sort(key=lambda t: t[0])      # stable: same-day order kept
    dates = [c[1] for c in crossings] + list(refs) + [ou]
    for p in persons.values():
        dates += [p[k] for k in ("birth_date", "death_date") if p.get(k)]
    start = min(dates) - dt.timedelta(days=800)
    out_rows, out_ev, out_vital = {}, [], {}
    for pid in sorted(set(by) | set(persons)):
        rows, evs, vital = reference_person(by.get(pid, []), persons.get(pid, {}), rules, refs,
                                            ou, start)
        for key, v in rows.items():
            out_rows[(pid,) + key] = v
        out_ev += [(pid,) + e for e in evs]
        for rule, v in vital.items():
            out_vital[(pid, rule)] = v
    return out_rows, out_ev, out_vital


# --------------------------------------------------------------------------------------------
def run_sql(crossings, persons, rules, refs, ou):
    """The classifier on the same input; crossings with a 4th element (permit or None) give
    the crossings table a ``permit_valid_until`` column (values on departures are ignored)."""
    con = duckdb.connect()
    per_arrival = any(len(c) > 3 for c in crossings)
    cdf = pd.DataFrame([tuple(c[:3]) + ((c[3] if len(c) > 3 else None),) for c in crossings],
                       columns=["person_id", "crossing_date", "direction",
                                "permit_valid_until"])
    cdf["seq"] = range(len(cdf))
    pv = ", permit_valid_until DATE" if per_arrival else ""
    con.execute("CREATE TABLE crossings (person_id BIGINT, crossing_date DATE, "
                f"direction VARCHAR, seq BIGINT{pv})")
    if len(cdf):
        con.execute("INSERT INTO crossings SELECT person_id, crossing_date, direction, seq"
                    + (", permit_valid_until::DATE" if per_arrival else "") + " FROM cdf")
    ptab = None
    if persons:
        pdf = pd.DataFrame([dict(person_id=k, **v) for k, v in persons.items()])
        for c in ("citizen", "initial_status", "permit_valid_until", "native_born",
                  "birth_date", "death_date"):
            if c not in pdf:
                pdf[c] = None
        con.execute("""CREATE TABLE residence_persons AS SELECT person_id::BIGINT AS person_id,
                       citizen::BOOLEAN AS citizen, initial_status::VARCHAR AS initial_status,
                       permit_valid_until::DATE AS permit_valid_until,
                       native_born::BOOLEAN AS native_born, birth_date::DATE AS birth_date,
                       death_date::DATE AS death_date FROM pdf""")
        ptab = "residence_persons"
    classify(con, rules, refs, observed_until=ou, persons=ptab)
    return con


def sql_results(con):
    rows = {}
    for r in con.execute("SELECT person_id, reference_date, rule, resident, status, "
                         "days_present, provisional FROM residence").fetchall():
        rows[(r[0], r[1], r[2])] = (r[3], r[4], r[5], r[6])
    evs = [tuple(r) for r in con.execute(
        "SELECT person_id, rule, event, event_date, decided_on FROM migration_events").fetchall()]
    vital = {(r[0], r[1]): (r[2], r[3]) for r in con.execute(
        "SELECT person_id, rule, birth_counts, death_counts FROM residence_vital").fetchall()}
    return rows, evs, vital


# --------------------------------------------------------------------------------------------
# random histories: dense around leap days, same-day crossings, repeated directions
BASE = D(2019, 6, 1)

day_st = st.integers(min_value=0, max_value=1500)


@st.composite
def histories(draw, max_persons=6):
    n = draw(st.integers(1, max_persons))
    per_arrival = draw(st.booleans())      # crossings with a permit_valid_until column
    crossings, persons = [], {}
    for pid in range(1, n + 1):
        k = draw(st.integers(0, 8))
        days = sorted(draw(st.lists(day_st, min_size=k, max_size=k)))
        # some same-day pairs
        if days and draw(st.booleans()):
            days.insert(draw(st.integers(0, len(days) - 1)), days[0])
            days.sort()
        for d in days:
            c = (pid, BASE + dt.timedelta(days=d), draw(st.sampled_from(["in", "out"])))
            if per_arrival:       # a permit near the crossing, so 182/183 are exercised
                c += (draw(st.one_of(st.none(), st.integers(-30, 400).map(
                    lambda j, d=d: BASE + dt.timedelta(days=d + j)))),)
            crossings.append(c)
        p = {}
        if draw(st.booleans()):
            p["initial_status"] = draw(st.sampled_from(["resident", "non_resident", None]))
        if draw(st.integers(0, 3)) == 0:
            p["permit_valid_until"] = BASE + dt.timedelta(days=draw(st.integers(0, 1700)))
        p["citizen"] = draw(st.sampled_from([True, False, None]))
        if draw(st.integers(0, 3)) == 0:
            p["birth_date"] = BASE + dt.timedelta(days=draw(st.integers(-300, 1400)))
        if draw(st.integers(0, 3)) == 0:
            p["death_date"] = BASE + dt.timedelta(days=draw(st.integers(100, 1700)))
        if p.get("birth_date") and p.get("death_date") and p["death_date"] <= p["birth_date"]:
            del p["death_date"]
        if p or draw(st.booleans()):
            persons[pid] = p
    return crossings, persons


REFS = [BASE + dt.timedelta(days=d) for d in (100, 270, 365 + 273, 800, 1100, 1460, 1700)]
OU = BASE + dt.timedelta(days=1550)
RULES = ["12/16", "6/12", "12/12"]


def check_stock_identity(con, refs, rules):
    """stock(t1) - stock(t0) = immigration - emigration + births - deaths, per person, for
    consecutive reference dates and the first/last pair (provisional statuses skipped)."""
    res = con.execute("SELECT person_id, reference_date, rule, resident, provisional "
                      "FROM residence").df()
    pairs = list(zip(refs, refs[1:])) + [(refs[0], refs[-1])]
    checked = 0
    for rule in rules:
        sub = res[res.rule == rule]
        for t0, t1 in pairs:
            a = sub[sub.reference_date == pd.Timestamp(t0)].set_index("person_id")
            b = sub[sub.reference_date == pd.Timestamp(t1)].set_index("person_id")
            fl = person_flows(con, rule, t0, t1).set_index("person_id")
            for pid in a.index:
                if a.loc[pid, "provisional"] or b.loc[pid, "provisional"]:
                    continue
                f = fl.loc[pid] if pid in fl.index else dict(
                    immigration=0, emigration=0, births=0, deaths=0)
                lhs = int(b.loc[pid, "resident"]) - int(a.loc[pid, "resident"])
                rhs = f["immigration"] - f["emigration"] + f["births"] - f["deaths"]
                assert lhs == rhs, (rule, pid, t0, t1)
                checked += 1
    return checked


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_matches_reference_and_stock_identity(h):
    """The set-based classifier equals the day-by-day reading of RESIDENCE.md, and its stocks
    change by exactly its flows."""
    crossings, persons = h
    ref_rows, ref_ev, ref_vital = reference(crossings, persons, RULES, REFS, OU)
    con = run_sql(crossings, persons, RULES, REFS, OU)
    rows, evs, vital = sql_results(con)
    assert rows == ref_rows
    assert sorted(evs) == sorted(ref_ev)
    assert vital == ref_vital
    check_stock_identity(con, [r for r in REFS if r <= OU], RULES)


def test_identity_is_exercised():
    """The identity check really compares non-trivial stocks (guards against a vacuous test)."""
    cr = [(1, D(2019, 7, 1), "in"), (1, D(2021, 9, 1), "out"), (2, D(2019, 8, 1), "out"),
          (2, D(2021, 1, 1), "in")]
    persons = {1: {"birth_date": D(2019, 6, 20)}, 3: {"initial_status": "resident",
                                                       "death_date": D(2021, 5, 5)}}
    con = run_sql(cr, persons, RULES, REFS, OU)
    assert check_stock_identity(con, [r for r in REFS if r <= OU], RULES) > 30
    fl = person_flows(con, "6/12", REFS[0], REFS[-2])
    assert set(fl.itertuples(index=False, name=None)) >= {(1, 1, 1, 0, 0), (3, 0, 0, 0, 1)}


def test_reference_impute_rule():
    # in on 1 Jan, in on 11 Jan: gap 10 days -> out imputed on 1 Jan + 5 = 6 Jan
    assert impute([(D(2020, 1, 1), "in"), (D(2020, 1, 11), "in")])[1] == \
        (D(2020, 1, 6), "out", True, None)
    # gap 11 days -> floor(11/2) = 5 -> 6 Jan; an imputed arrival carries no permit of its own
    assert impute([(D(2020, 1, 1), "out"), (D(2020, 1, 12), "out", D(2021, 1, 1))])[1] == \
        (D(2020, 1, 6), "in", True, None)
    # a recorded arrival keeps its permit, a departure drops one
    assert impute([(D(2020, 1, 1), "in", D(2021, 1, 1)), (D(2020, 2, 1), "out", D(2021, 1, 1))]) \
        == [(D(2020, 1, 1), "in", False, D(2021, 1, 1)), (D(2020, 2, 1), "out", False, None)]


@pytest.mark.parametrize("d, ws", [(D(2024, 2, 29), D(2023, 2, 28)), (D(2025, 2, 28), D(2024, 2, 28)),
                                    (D(2025, 3, 1), D(2024, 3, 1))])
def test_reference_window(d, ws):
    assert _ws(d) == ws
