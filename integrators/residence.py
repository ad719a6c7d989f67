"""Residence status and migration events from border crossings (RESIDENCE.md, UN Annex I).

Implements the three rules of ``shared/RESIDENCE.md`` exactly, set-based in DuckDB SQL:

* days present: end-of-day presence after every crossing of the day in recorded order (arrival
  day present, departure day absent; transit and day trips follow); before the first crossing
  the person is in the state opposite to it; after the last one the state persists to
  ``observed_until``. Two consecutive crossings in one direction on x1 <= x2 get the opposite
  crossing imputed on ``x1 + floor((x2 - x1) / 2)`` (flagged ``imputed``), which counts as a
  crossing everywhere.
* ``6/12`` (UN option (a)): resident at R when present >= 183 days in the 12 calendar months
  ending on R (``R - 12 months < d <= R``), or by the permission criterion (present on R, last
  arrival a <= R, ``permit_valid_until - a + 1 >= 183``). The permit is the one in force for
  the stay that arrival a began: the crossings table's optional ``permit_valid_until`` on
  that arrival (the end of the visa/permit valid on day a; NULL = no permit for that stay, as
  for an imputed arrival); only when the crossings table has no such column is the person's
  single ``permit_valid_until`` used for every arrival. A permit granted later never makes an
  earlier stay resident.
* ``12/12`` (UN option (b)): present every day of that window.
* ``12/16`` (Stats NZ / ABS outcomes-based rule): W = 487, V = 365, decided on the 365th
  new-state day or as not a migration on the 123rd old-state day; pending crossings in the
  migrating direction make the status provisional (NULL) from them on.

How it is computed (no per-person or per-day loops):

* Presence is a set of merged intervals ``[s, e)`` per person (``_res_pres``) with cumulative
  lengths, so the number of days present up to day y, P(y), is one ASOF join; days present in
  a window is ``P(R) - P(R - 12 months)``.
* 12/16: whether crossing c *would* be a migration depends only on presence after it: the day
  of the 365th (123rd) present/absent day counted from c is found by an ASOF join on
  cumulative presence/absence. Because an arrival can only make a person resident and a
  departure non-resident, the status after c is the direction of the last crossing <= c that
  qualifies (in -> resident, out -> non-resident), else the initial status; the first pending
  crossing in the migrating direction starts the provisional period.
* 6/12 and 12/12 events: the daily status changes only where the rolling window count crosses
  a threshold. The count is linear between breakpoints (interval starts/ends, the same + 12
  months, and the leap-day irregularities of the calendar window), so each segment yields at
  most one threshold day; the permission criterion adds the stay ``[a, next departure)`` of
  every qualifying arrival a (any subset of the arrivals when permits vary per arrival); their
  union gives the resident spells, whose starts/ends are the ``decided_on`` days.

Conventions this module fixes where RESIDENCE.md is silent (documented in docs/internals.md):

* Crossings dated after ``observed_until`` are ignored (the data ends there).
* A person with no crossings (listed only in the persons table) keeps the initial status:
  ``resident`` -> present throughout (resident_present), ``non_resident`` -> absent throughout
  (not_present); an unknown initial status cannot be inferred (no crossing to infer it from),
  so every status is ``provisional`` with ``resident`` and ``days_present`` NULL. This follows
  RESIDENCE.md's "never guessed".
* Events under 6/12 and 12/12: immigration's ``event_date`` is the first day of the stay in
  progress on ``decided_on``; emigration's is the first day of the latest absence that began
  during the resident spell (on or before ``decided_on``), else ``decided_on`` itself.
  No event is decided after ``observed_until``; changes caused only by the unobserved past
  (a stay that began before the data) are not events.
* Life events (optional ``birth_date``/``death_date`` in the persons table): a person is in the
  population at the end of day d when ``birth_date <= d < death_date``. Outside it the residence
  row says ``resident = false, status = not_present``; migration events are kept only when their
  counting date c (event_date under 12/16, decided_on otherwise) has ``birth_date < c <
  death_date``. A birth counts when the person is resident on the birth date, a death when the
  person is resident the day before it (table ``residence_vital``), so that for every person
  and t0 < t1: stock(t1) - stock(t0) = immigration - emigration + births - deaths
  (:func:`person_flows`). Under 12/16, when the status the day before a death is provisional
  (a crossing's window still pending), death ends the window: that crossing was not a
  migration, and the status before it decides whether the death counts.
* ``returning_citizen`` = immigration of a citizen (NULL when citizenship is unknown, false for
  emigration); ``native_born`` is the person's native_born attribute when known, else NULL;
  ``imputed`` (an extra column) is true when the crossing that caused the event (12/16), or
  that began the stay/absence on ``event_date`` (6/12, 12/12), was imputed.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

import duckdb

from linkage.db import has_table as _exists, table_columns as _columns
from linkage.errors import MiglinkError
from linkage.schema import RESIDENCE_RULES

W_DAYS = 487          # 12/16 window
V_DAYS = 365          # 12/16 days in the new state
OLD_DAYS = W_DAYS - V_DAYS + 1   # 123: old-state days that settle "not a migration"
MOST_DAYS = 183       # 6/12: "six months and a day"

__all__ = ["classify", "residence_command", "person_flows", "flows_sql", "W_DAYS", "V_DAYS"]


# --------------------------------------------------------------------------------------------
# small helpers
def _date(value, what: str = "date") -> _dt.date:
    if isinstance(value, _dt.datetime):
        return value.date()
    if isinstance(value, _dt.date):
        return value
    try:
        return _dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise MiglinkError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def _lit(d: _dt.date) -> str:
    return f"DATE '{d.isoformat()}'"




def _x_of(y: str) -> str:
    """SQL for X(y): the first day whose 12-month window no longer contains day y."""
    return (f"(CAST({y} + INTERVAL 12 MONTH AS DATE) + "
            f"CASE WHEN month({y}) = 2 AND day({y}) = 29 THEN 1 ELSE 0 END)")


def _ws(d: str) -> str:
    """SQL for the exclusive start of the 12 calendar months ending on d (29 Feb -> 28 Feb)."""
    return f"CAST({d} - INTERVAL 12 MONTH AS DATE)"


def _cum(alias: str, y: str) -> str:
    """Cumulative days of interval table ``alias`` up to and including day y (ASOF-matched)."""
    return (f"coalesce({alias}.cb + least(greatest({y} - {alias}.s + 1, 0), "
            f"{alias}.e - {alias}.s), 0)")


# --------------------------------------------------------------------------------------------
# preparation: people, crossings with imputation, presence and absence intervals
def _prepare(con, crossings: str, persons: str | None, observed_until, reference_dates):
    if not _exists(con, crossings):
        raise MiglinkError(f"table {crossings!r} does not exist")
    ccols = _columns(con, crossings)
    for c in ("person_id", "crossing_date", "direction"):
        if c not in ccols:
            raise MiglinkError(f"crossings table {crossings!r} has no column {c!r}")
    seq = "seq" if "seq" in ccols else "rowid"
    # optional per-arrival permit (the end of the permit in force for the stay it begins);
    # when the crossings carry it, it alone decides (NULL: no permit for that stay)
    per_arrival = "permit_valid_until" in ccols
    pv = "CAST(permit_valid_until AS DATE)" if per_arrival else "CAST(NULL AS DATE)"
    pcols: list[str] = []
    if persons is not None and _exists(con, persons):
        pcols = _columns(con, persons)
        if "person_id" not in pcols:
            raise MiglinkError(f"persons table {persons!r} has no column 'person_id'")
    else:
        persons = None

    if observed_until is None:
        ou = con.execute(f"SELECT max(CAST(crossing_date AS DATE)) FROM {crossings}").fetchone()[0]
        if ou is None:
            ou = max(reference_dates)
    else:
        ou = _date(observed_until, "observed_until")

    def pcol(name, default="NULL"):
        return f"p.{name}" if name in pcols else default

    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_raw AS
        SELECT person_id, CAST(crossing_date AS DATE) AS d, direction AS dir,
               CASE WHEN direction = 'in' THEN {pv} END AS pv,
               row_number() OVER (PARTITION BY person_id ORDER BY crossing_date, {seq}) AS k
        FROM {crossings}
        WHERE CAST(crossing_date AS DATE) <= {_lit(ou)}""")
    bad = con.execute("SELECT count(*) FROM _res_raw WHERE dir NOT IN ('in', 'out') "
                      "OR dir IS NULL OR d IS NULL OR person_id IS NULL").fetchone()[0]
    if bad:
        raise MiglinkError(f"crossings table {crossings!r}: {bad} rows with a missing person_id, "
                           "date or a direction other than in/out")

    # global sentinel S standing for "the unobserved past": far enough before every date used
    extra = []
    if "birth_date" in pcols:
        extra.append(f"(SELECT min(CAST(birth_date AS DATE)) FROM {persons})")
    if "death_date" in pcols:
        extra.append(f"(SELECT min(CAST(death_date AS DATE)) FROM {persons})")
    lo = con.execute(
        "SELECT least((SELECT min(d) FROM _res_raw), ?, ?" + "".join(f", {e}" for e in extra)
        + ")", [min(reference_dates), ou]).fetchone()[0]
    S = lo - _dt.timedelta(days=1200)

    persons_sql = (f"SELECT person_id FROM {persons}" if persons else
                   "SELECT NULL AS person_id WHERE false")
    join_p = f"LEFT JOIN {persons} p ON p.person_id = ids.person_id" if persons else ""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_people AS
        WITH ids AS (SELECT DISTINCT person_id FROM _res_raw
                     UNION SELECT person_id FROM ({persons_sql}) WHERE person_id IS NOT NULL),
             f AS (SELECT person_id, dir AS first_dir FROM _res_raw WHERE k = 1)
        SELECT ids.person_id,
               CAST({pcol('citizen')} AS BOOLEAN) AS citizen,
               CAST({pcol('native_born')} AS BOOLEAN) AS native_born,
               CAST({pcol('permit_valid_until')} AS DATE) AS permit,
               CAST({pcol('birth_date')} AS DATE) AS birth_date,
               CAST({pcol('death_date')} AS DATE) AS death_date,
               f.first_dir,
               CASE WHEN lower({pcol('initial_status')}) = 'resident' THEN true
                    WHEN lower({pcol('initial_status')}) = 'non_resident' THEN false
                    WHEN f.first_dir IS NOT NULL THEN f.first_dir = 'out' END AS init_res
        FROM ids LEFT JOIN f ON f.person_id = ids.person_id {join_p}
        """)

    # crossings with the missed crossing imputed between two in the same direction
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_x AS
        WITH l AS (SELECT *, lag(dir) OVER w AS pdir, lag(d) OVER w AS pd FROM _res_raw
                   WINDOW w AS (PARTITION BY person_id ORDER BY k)),
             u AS (SELECT person_id, d, dir, pv, 2 * k AS o, false AS imputed FROM l
                   UNION ALL
                   SELECT person_id, pd + CAST((d - pd) // 2 AS INTEGER),
                          CASE WHEN dir = 'in' THEN 'out' ELSE 'in' END, NULL, 2 * k - 1, true
                   FROM l WHERE pdir = dir)
        SELECT person_id, d, dir, imputed, pv,
               row_number() OVER w AS k, lead(d) OVER w AS nd,
               -- p0: days present before day d. Directions alternate, so this is the sum of
               -- (departure - arrival) over earlier stays (+ d1 - S when the first is `out`)
               sum(CASE WHEN dir = 'out' THEN d - {_lit(S)} ELSE 0 END) OVER w
               - sum(CASE WHEN dir = 'in' THEN d - {_lit(S)} ELSE 0 END) OVER w
               + CASE WHEN dir = 'in' THEN d - {_lit(S)} ELSE 0 END AS p0
        FROM u WINDOW w AS (PARTITION BY person_id ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING
                                                               AND CURRENT ROW)""")

    ou1 = ou + _dt.timedelta(days=1)
    # arrivals: per (person, day) the last arrival of the day, the permit in force for the
    # stay it begins (its own permit_valid_until when the crossings carry the column, else
    # the person's) and the stay's end
    permit = "x.pv" if per_arrival else "pp.permit"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_arr AS
        SELECT x.person_id, x.d, arg_max_null({permit}, x.k) AS permit,
               arg_max_null(coalesce(x.nd, {_lit(ou1)}), x.k) AS e
        FROM _res_x x JOIN _res_people pp USING (person_id)
        WHERE x.dir = 'in'
        GROUP BY x.person_id, x.d""")
    # merged presence intervals [s, e) with cumulative length before (cb)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_pres AS
        WITH sub AS (
            SELECT person_id, d AS s, coalesce(nd, {_lit(ou1)}) AS e FROM _res_x WHERE dir = 'in'
            UNION ALL
            SELECT person_id, {_lit(S)}, d FROM _res_x WHERE k = 1 AND dir = 'out'
            UNION ALL
            SELECT person_id, {_lit(S)}, {_lit(ou1)} FROM _res_people
            WHERE first_dir IS NULL AND init_res),
        g AS (SELECT *, CASE WHEN s > lag(e) OVER (PARTITION BY person_id ORDER BY s)
                             THEN 1 ELSE 0 END AS brk
              FROM sub WHERE e > s),
        g2 AS (SELECT *, sum(brk) OVER (PARTITION BY person_id ORDER BY s
                                        ROWS UNBOUNDED PRECEDING) AS grp FROM g),
        m AS (SELECT person_id, min(s) AS s, max(e) AS e FROM g2 GROUP BY person_id, grp)
        SELECT person_id, s, e,
               coalesce(sum(e - s) OVER (PARTITION BY person_id ORDER BY s ROWS BETWEEN
                        UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cb
        FROM m""")
    # absence intervals: the complement within [S, observed_until + 1)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_abs AS
        WITH b AS (SELECT person_id, s, e FROM _res_pres
                   UNION ALL
                   SELECT person_id, {_lit(ou1)}, {_lit(ou1)} FROM _res_people
                   WHERE first_dir IS NOT NULL OR init_res IS NOT NULL),
             a AS (SELECT person_id,
                          coalesce(lag(e) OVER (PARTITION BY person_id ORDER BY s, e),
                                   {_lit(S)}) AS s,
                          s AS e FROM b)
        SELECT person_id, s, e,
               coalesce(sum(e - s) OVER (PARTITION BY person_id ORDER BY s ROWS BETWEEN
                        UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS cb
        FROM a WHERE e > s""")
    return ou, S


# --------------------------------------------------------------------------------------------
# status at arbitrary (person_id, t) points
def _status_points(con, rule: str, points: str, out: str, ou: _dt.date, S: _dt.date):
    """Create table ``out`` (person_id, t, resident, present, days, provisional) for ``points``.

    ``resident`` here ignores birth/death (the life mask is applied by the caller).
    """
    base = f"""
        WITH q AS (SELECT pt.person_id, pt.t, {_ws('pt.t')} AS w,
                          pp.init_res, pp.first_dir
                   FROM {points} pt JOIN _res_people pp USING (person_id)),
        a AS (SELECT q.*, {_cum('i', 'q.t')} AS pt_, (i.e IS NOT NULL AND q.t < i.e) AS present
              FROM q ASOF LEFT JOIN _res_pres i ON q.person_id = i.person_id AND q.t >= i.s),
        b AS (SELECT a.*, {_cum('i', 'a.w')} AS pw
              FROM a ASOF LEFT JOIN _res_pres i ON a.person_id = i.person_id AND a.w >= i.s),
        c AS (SELECT b.*, pt_ - pw AS days,
                     (b.first_dir IS NULL AND b.init_res IS NULL) AS unknown
              FROM b)"""
    if rule in ("6/12", "12/12"):
        if rule == "6/12":
            res = f"""(c.days >= {MOST_DAYS} OR (c.present AND x.permit IS NOT NULL
                       AND x.d IS NOT NULL AND x.permit - x.d + 1 >= {MOST_DAYS}))"""
        else:
            res = "(c.days = c.t - c.w)"
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out} AS
            {base}
            SELECT c.person_id, c.t,
                   CASE WHEN c.unknown OR c.t > {_lit(ou)} THEN NULL ELSE {res} END AS resident,
                   CASE WHEN c.unknown THEN NULL ELSE c.present END AS present,
                   CASE WHEN c.unknown THEN NULL ELSE c.days END AS days,
                   (c.unknown OR c.t > {_lit(ou)}) AS provisional
            FROM c ASOF LEFT JOIN _res_arr x ON c.person_id = x.person_id AND c.t >= x.d""")
    else:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE {out} AS
            {base}
            SELECT c.person_id, c.t,
                   CASE WHEN c.unknown OR c.t > {_lit(ou)} THEN NULL
                        WHEN x.d IS NULL THEN c.init_res
                        ELSE x.res_after END AS resident,
                   CASE WHEN c.unknown THEN NULL ELSE c.present END AS present,
                   CASE WHEN c.unknown THEN NULL ELSE c.days END AS days,
                   (c.unknown OR c.t > {_lit(ou)} OR (x.d IS NOT NULL AND x.res_after IS NULL))
                       AS provisional
            FROM c ASOF LEFT JOIN _res_xd16 x ON c.person_id = x.person_id AND c.t >= x.d""")


# --------------------------------------------------------------------------------------------
# 12/16: per-crossing outcome, status chain, events
def _prepare_1216(con, ou, S):
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_x16 AS
        WITH t AS (SELECT *, p0 + CASE WHEN dir = 'in' THEN {V_DAYS} ELSE {OLD_DAYS} END AS tp,
                          (d - {_lit(S)}) - p0
                            + CASE WHEN dir = 'in' THEN {OLD_DAYS} ELSE {V_DAYS} END AS ta
                   FROM _res_x),
        dp AS (SELECT t.*, CASE WHEN t.tp <= i.cb + (i.e - i.s)
                                THEN i.s + CAST(t.tp - i.cb - 1 AS INTEGER) END AS dp
               FROM t ASOF LEFT JOIN _res_pres i ON t.person_id = i.person_id AND t.tp > i.cb),
        da AS (SELECT dp.*, CASE WHEN dp.ta <= i.cb + (i.e - i.s)
                                 THEN i.s + CAST(dp.ta - i.cb - 1 AS INTEGER) END AS da
               FROM dp ASOF LEFT JOIN _res_abs i ON dp.person_id = i.person_id AND dp.ta > i.cb),
        o AS (SELECT person_id, d, dir, k, imputed,
                     CASE WHEN dir = 'in' THEN dp ELSE da END AS d_new,
                     CASE WHEN dir = 'in' THEN da ELSE dp END AS d_old
              FROM da),
        o2 AS (SELECT *, CASE WHEN d_new IS NULL AND d_old IS NULL THEN NULL
                              ELSE d_new IS NOT NULL AND (d_old IS NULL OR d_new < d_old) END AS q,
                      least(d_new, d_old) AS decided
               FROM o),
        -- the status after a crossing is the direction of the last qualifying crossing so far
        ch AS (SELECT o2.*, pp.init_res,
                      last_value(CASE WHEN q THEN dir END IGNORE NULLS) OVER (w ROWS BETWEEN
                          UNBOUNDED PRECEDING AND CURRENT ROW) AS lqd,
                      last_value(CASE WHEN q THEN dir END IGNORE NULLS) OVER (w ROWS BETWEEN
                          UNBOUNDED PRECEDING AND 1 PRECEDING) AS lqd_prev
               FROM o2 JOIN _res_people pp USING (person_id)
               WINDOW w AS (PARTITION BY o2.person_id ORDER BY k)),
        ch2 AS (SELECT *, coalesce(lqd = 'in', init_res) AS ra,
                          coalesce(lqd_prev = 'in', init_res) AS rb FROM ch)
        SELECT *, ((dir = 'in' AND NOT rb) OR (dir = 'out' AND rb)) AS migdir FROM ch2""")
    # the first pending crossing in the migrating direction: provisional from it on
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _res_prov16 AS
        SELECT person_id, min(k) AS prov_k FROM _res_x16 WHERE q IS NULL AND migdir
        GROUP BY person_id""")
    # status after the last crossing of each (person, date)
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _res_xd16 AS
        SELECT x.person_id, x.d,
               arg_max(CASE WHEN p.prov_k IS NOT NULL AND x.k >= p.prov_k THEN NULL
                            ELSE x.ra END, x.k) AS res_after
        FROM _res_x16 x LEFT JOIN _res_prov16 p USING (person_id) GROUP BY x.person_id, x.d""")


def _events_1216(con, out: str):
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT person_id, CASE WHEN dir = 'in' THEN 'immigration' ELSE 'emigration' END AS event,
               d AS event_date, decided AS decided_on, imputed
        FROM _res_x16 LEFT JOIN _res_prov16 USING (person_id)
        WHERE q AND migdir AND (prov_k IS NULL OR k < prov_k)""")


# --------------------------------------------------------------------------------------------
# 6/12 and 12/12: resident spells from the rolling window count
def _spells_1212(con, ou, S, out: str):
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        SELECT person_id, u, e AS v FROM (
            SELECT person_id, {_x_of('s - 1')} AS u, e FROM _res_pres)
        WHERE u < e AND u <= {_lit(ou)}""")


def _spells_612(con, ou, S, out: str):
    ou1 = ou + _dt.timedelta(days=1)
    y0, y1 = S.year - 1, ou1.year + 1
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_leap AS
        SELECT make_date(y, 2, 29) AS feb29, make_date(y - 1, 2, 28) AS pfeb28,
               make_date(y - 1, 3, 1) AS pmar1, make_date(y, 3, 1) AS mar1,
               make_date(y + 1, 3, 1) AS nmar1, make_date(y + 1, 3, 2) AS nmar2
        FROM range({y0}, {y1 + 1}) r(y)
        WHERE (y % 4 = 0 AND y % 100 <> 0) OR y % 400 = 0""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_bp AS
        WITH big AS (   -- fewer than 183 days present in all: never resident by the count
            SELECT person_id FROM _res_pres GROUP BY person_id
            HAVING sum(e - s) >= {MOST_DAYS}),
        pr AS (SELECT * FROM _res_pres SEMI JOIN big USING (person_id)),
        b AS (
            SELECT person_id, s AS b FROM pr
            UNION ALL SELECT person_id, e FROM pr
            UNION ALL SELECT person_id, {_x_of('s')} FROM pr
            UNION ALL SELECT person_id, {_x_of('e')} FROM pr
            UNION ALL SELECT person_id, {_lit(S)} FROM big
            UNION ALL SELECT person_id, {_lit(ou1)} FROM big
            UNION ALL SELECT p.person_id, unnest([l.feb29, l.mar1])
                FROM pr p JOIN _res_leap l ON p.s <= l.pmar1 AND p.e > l.pfeb28
            UNION ALL SELECT p.person_id, unnest([l.nmar1, l.nmar2])
                FROM pr p JOIN _res_leap l ON p.s <= l.mar1 AND p.e > l.feb29)
        SELECT DISTINCT person_id, b FROM b WHERE b >= {_lit(S)} AND b <= {_lit(ou1)}""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_seg AS
        WITH q AS (SELECT person_id, b, lead(b) OVER (PARTITION BY person_id ORDER BY b) AS b2,
                          {_ws('b')} AS w FROM _res_bp),
        a AS (SELECT q.*, {_cum('i', 'q.b')} AS pb,
                     CASE WHEN i.e IS NOT NULL AND q.b < i.e THEN 1 ELSE 0 END AS pin
              FROM q ASOF LEFT JOIN _res_pres i ON q.person_id = i.person_id AND q.b >= i.s),
        c AS (SELECT a.*, a.pb - {_cum('i', 'a.w')} AS c0,
                     a.pin - CASE WHEN i.e IS NOT NULL AND a.w + 1 < i.e THEN 1 ELSE 0 END AS sl
              FROM a ASOF LEFT JOIN _res_pres i ON a.person_id = i.person_id AND a.w >= i.s)
        SELECT person_id, b AS u,
               CASE WHEN c0 >= {MOST_DAYS} AND sl >= 0 THEN b2
                    WHEN c0 >= {MOST_DAYS} THEN least(b2, b + CAST(c0 - {MOST_DAYS - 1} AS INTEGER))
                    END AS v,
               c0, sl, b2
        FROM c WHERE b2 IS NOT NULL""")
    # segments: true on [b, v) when c0 >= 183; rising within the segment when slope +1
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _res_t AS
        SELECT person_id, u, v FROM _res_seg WHERE v IS NOT NULL
        UNION ALL
        SELECT person_id, b + CAST({MOST_DAYS} - c0 AS INTEGER), b2
        FROM (SELECT person_id, u AS b, b2, c0, sl FROM _res_seg)
        WHERE c0 < {MOST_DAYS} AND sl = 1 AND b + CAST({MOST_DAYS} - c0 AS INTEGER) < b2
        UNION ALL
        -- permission criterion: the stay [a, next departure) begun by each arrival a whose
        -- permit in force has permit - a + 1 >= 183 (with one permit per person these are a
        -- prefix of the arrivals; with per-arrival permits any subset)
        SELECT person_id, d, e FROM _res_arr
        WHERE permit IS NOT NULL AND permit - d + 1 >= {MOST_DAYS} AND d < e""")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH t AS (SELECT * FROM _res_t WHERE v > u),
        g AS (SELECT *, CASE WHEN u > max(v) OVER (PARTITION BY person_id ORDER BY u, v
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) THEN 1 ELSE 0 END AS brk
              FROM t),
        g2 AS (SELECT *, sum(brk) OVER (PARTITION BY person_id ORDER BY u, v
                                        ROWS UNBOUNDED PRECEDING) AS grp FROM g)
        SELECT person_id, min(u) AS u, max(v) AS v FROM g2 GROUP BY person_id, grp""")


def _events_from_spells(con, spells: str, out: str, ou, S):
    ou1 = ou + _dt.timedelta(days=1)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {out} AS
        WITH ev AS (WITH imm AS (
            SELECT sp.person_id, 'immigration' AS event, i.s AS event_date, sp.u AS decided_on
            FROM {spells} sp ASOF LEFT JOIN _res_pres i
                 ON sp.person_id = i.person_id AND sp.u >= i.s
            WHERE sp.u <= {_lit(ou)}),
        emi AS (
            SELECT sp.person_id, 'emigration' AS event,
                   CASE WHEN i.s IS NOT NULL AND i.s > sp.u THEN i.s ELSE sp.v END AS event_date,
                   sp.v AS decided_on
            FROM {spells} sp ASOF LEFT JOIN _res_abs i
                 ON sp.person_id = i.person_id AND sp.v >= i.s
            WHERE sp.v < {_lit(ou1)})
        SELECT * FROM imm WHERE event_date > {_lit(S)}
        UNION ALL SELECT * FROM emi)
        SELECT ev.*, (m.d IS NOT NULL) AS imputed
        FROM ev LEFT JOIN (SELECT DISTINCT person_id, d, dir FROM _res_x WHERE imputed) m
             ON m.person_id = ev.person_id AND m.d = ev.event_date
            AND m.dir = CASE WHEN ev.event = 'immigration' THEN 'in' ELSE 'out' END""")


# --------------------------------------------------------------------------------------------
def classify(con, rules, reference_dates, observed_until=None, crossings: str = "crossings",
             persons: str | None = "residence_persons") -> None:
    """Classify residence (RESIDENCE.md) and write tables ``residence`` and ``migration_events``.

    ``crossings``: person_id, crossing_date, direction ('in'|'out'), seq (order within a person
    and date; without it the table's row order), optionally permit_valid_until (on arrivals:
    the end of the permit in force for the stay; when present it replaces the person's
    permit for the 6/12 permission criterion). ``persons`` (optional table): person_id,
    citizen, initial_status, permit_valid_until [, native_born, birth_date, death_date].
    Also writes ``residence_vital`` (births/deaths counted per rule) when the persons table
    has birth_date or death_date.
    """
    if isinstance(rules, str):
        rules = [rules]
    rules = list(dict.fromkeys(rules))
    for r in rules:
        if r not in RESIDENCE_RULES:
            raise MiglinkError(f"unknown residence rule {r!r} (one of {', '.join(RESIDENCE_RULES)})")
    refs = sorted({_date(d, "reference date") for d in reference_dates})
    if not refs:
        raise MiglinkError("at least one reference date is needed")
    ou, S = _prepare(con, crossings, persons, observed_until, refs)
    has_life = con.execute("SELECT count(*) FROM _res_people WHERE birth_date IS NOT NULL "
                           "OR death_date IS NOT NULL").fetchone()[0] > 0
    vals = ", ".join(f"({_lit(r)})" for r in refs)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE _res_pts AS
                    SELECT person_id, t FROM _res_people, (VALUES {vals}) v(t)""")
    if has_life:
        con.execute("""CREATE OR REPLACE TEMP TABLE _res_vpts AS
                       SELECT person_id, birth_date AS t FROM _res_people
                       WHERE birth_date IS NOT NULL
                       UNION SELECT person_id, death_date - 1 FROM _res_people
                       WHERE death_date IS NOT NULL""")
    res_parts, ev_parts, vital_parts = [], [], []
    for i, rule in enumerate(rules):
        if rule == "12/16":
            _prepare_1216(con, ou, S)
            _events_1216(con, f"_res_ev{i}")
        elif rule == "6/12":
            _spells_612(con, ou, S, f"_res_sp{i}")
            _events_from_spells(con, f"_res_sp{i}", f"_res_ev{i}", ou, S)
        else:
            _spells_1212(con, ou, S, f"_res_sp{i}")
            _events_from_spells(con, f"_res_sp{i}", f"_res_ev{i}", ou, S)
        _status_points(con, rule, "_res_pts", f"_res_st{i}", ou, S)
        alive = ("(pp.birth_date IS NULL OR st.t >= pp.birth_date) AND "
                 "(pp.death_date IS NULL OR st.t < pp.death_date)")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _res_row{i} AS
            SELECT st.person_id, st.t AS reference_date, '{rule}' AS rule,
                   CASE WHEN st.t > {_lit(ou)} THEN NULL WHEN NOT ({alive}) THEN false
                        ELSE st.resident END AS resident,
                   CASE WHEN st.t > {_lit(ou)} THEN 'provisional'
                        WHEN NOT ({alive}) THEN 'not_present'
                        WHEN st.resident IS NULL THEN 'provisional'
                        WHEN st.resident AND st.present THEN 'resident_present'
                        WHEN st.resident THEN 'resident_abroad'
                        WHEN st.present THEN 'temporary_present'
                        ELSE 'not_present' END AS status,
                   CASE WHEN st.t <= {_lit(ou)} THEN CAST(st.days AS INTEGER) END
                       AS days_present,
                   CASE WHEN st.t > {_lit(ou)} THEN true WHEN NOT ({alive}) THEN false
                        ELSE st.resident IS NULL END AS provisional
            FROM _res_st{i} st JOIN _res_people pp USING (person_id)""")
        res_parts.append(f"SELECT * FROM _res_row{i}")
        cdate = "e.event_date" if rule == "12/16" else "e.decided_on"
        ev_parts.append(f"""
            SELECT e.person_id, '{rule}' AS rule, e.event, e.event_date, e.decided_on,
                   (e.event = 'immigration' AND pp.citizen) AS returning_citizen,
                   pp.native_born, e.imputed
            FROM _res_ev{i} e JOIN _res_people pp USING (person_id)
            WHERE (pp.birth_date IS NULL OR {cdate} > pp.birth_date)
              AND (pp.death_date IS NULL OR {cdate} < pp.death_date)""")
        if has_life:
            _status_points(con, rule, "_res_vpts", f"_res_vst{i}", ou, S)
            # 12/16: a death while a crossing's window is still pending ends the window (the
            # crossing was not a migration): the death counts by the status before it
            pend = (f"""LEFT JOIN (SELECT x.person_id, x.rb FROM _res_x16 x JOIN _res_prov16 q
                                   ON q.person_id = x.person_id AND x.k = q.prov_k) pd
                        ON pd.person_id = pp.person_id AND pp.death_date - 1 <= {_lit(ou)}"""
                    if rule == "12/16" else "")
            pend_rb = "pd.rb" if rule == "12/16" else "NULL"
            vital_parts.append(f"""
                SELECT pp.person_id, '{rule}' AS rule, pp.birth_date, pp.death_date,
                       coalesce(b.resident, false) AS birth_counts,
                       coalesce(d.resident, {pend_rb}, false) AS death_counts
                FROM _res_people pp
                LEFT JOIN _res_vst{i} b ON b.person_id = pp.person_id AND b.t = pp.birth_date
                LEFT JOIN _res_vst{i} d ON d.person_id = pp.person_id
                     AND d.t = pp.death_date - 1
                {pend}
                WHERE pp.birth_date IS NOT NULL OR pp.death_date IS NOT NULL""")
    con.execute("CREATE OR REPLACE TABLE residence AS " + " UNION ALL ".join(res_parts)
                + " ORDER BY person_id, reference_date, rule")
    con.execute("CREATE OR REPLACE TABLE migration_events AS " + " UNION ALL ".join(ev_parts)
                + " ORDER BY person_id, rule, decided_on, event_date, event")
    if has_life:
        con.execute("CREATE OR REPLACE TABLE residence_vital AS "
                    + " UNION ALL ".join(vital_parts) + " ORDER BY person_id, rule")
    else:
        con.execute("""CREATE OR REPLACE TABLE residence_vital (person_id BIGINT, rule VARCHAR,
                       birth_date DATE, death_date DATE, birth_counts BOOLEAN,
                       death_counts BOOLEAN)""")
    # free the working tables (temporary, but they hold memory until the connection closes)
    for (name,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary "
                               "AND table_name LIKE '\\_res\\_%' ESCAPE '\\'").fetchall():
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


# --------------------------------------------------------------------------------------------
def flows_sql(rule: str, t0, t1, events: str = "migration_events",
              vital: str = "residence_vital") -> str:
    """SQL: per person, the flows of ``rule`` in (t0, t1] (RESIDENCE.md "Migration events").

    Events count by event_date under 12/16 and by decided_on under 6/12 and 12/12; births by
    birth_date when resident on it, deaths by death_date when resident the day before.
    """
    t0, t1 = _date(t0), _date(t1)
    c = "event_date" if rule == "12/16" else "decided_on"
    win = lambda col: f"{col} > {_lit(t0)} AND {col} <= {_lit(t1)}"  # noqa: E731
    return f"""
        WITH e AS (SELECT person_id,
                          count(*) FILTER (WHERE event = 'immigration') AS immigration,
                          count(*) FILTER (WHERE event = 'emigration') AS emigration
                   FROM {events} WHERE rule = '{rule}' AND {win(c)} GROUP BY person_id),
             v AS (SELECT person_id,
                          count(*) FILTER (WHERE birth_counts AND {win('birth_date')}) AS births,
                          count(*) FILTER (WHERE death_counts AND {win('death_date')}) AS deaths
                   FROM {vital} WHERE rule = '{rule}' GROUP BY person_id)
        SELECT person_id, coalesce(e.immigration, 0) AS immigration,
               coalesce(e.emigration, 0) AS emigration,
               coalesce(v.births, 0) AS births, coalesce(v.deaths, 0) AS deaths
        FROM e FULL JOIN v USING (person_id)"""


def person_flows(con, rule: str, t0, t1, events: str = "migration_events",
                 vital: str = "residence_vital"):
    """Per-person flows in (t0, t1] as a pandas DataFrame: person_id, immigration, emigration,
    births, deaths; stock(t1) - stock(t0) = immigration - emigration + births - deaths."""
    return con.execute(flows_sql(rule, t0, t1, events, vital)).df()


# --------------------------------------------------------------------------------------------
# command line: miglink residence
def _reader(path: str) -> str:
    p = str(path).replace("'", "''")
    if str(path).lower().endswith((".parquet", ".pq")):
        return f"read_parquet('{p}')"
    return f"read_csv('{p}', all_varchar = true, header = true)"


def _load(con, path: str, table: str, required: list[str]):
    if not Path(path).exists():
        raise MiglinkError("file not found", file=path)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table}_in AS SELECT * FROM {_reader(path)}")
    except duckdb.Error as exc:
        raise MiglinkError(f"cannot read: {str(exc).splitlines()[0]}", file=path) from None
    cols = _columns(con, f"{table}_in")
    for c in required:
        if c not in cols:
            raise MiglinkError("missing column", file=path, column=c)
    return cols


def _first_bad(con, path, table, column, cond):
    row = con.execute(f"""SELECT rowid + 1, CAST({column} AS VARCHAR) FROM {table}_in
                          WHERE {cond} ORDER BY rowid LIMIT 1""").fetchone()
    if row:
        raise MiglinkError(f"bad value {row[1]!r}", file=path, row=row[0], column=column)


def _clean(col):
    return f"nullif(trim(CAST({col} AS VARCHAR)), '')"


def residence_command(args) -> int:
    """``miglink residence``: classify already-linked crossings (DESIGN.md, "Command line")."""
    from linkage.io import export_table

    refs = [_date(d, "--reference-date") for d in args.reference_dates]
    ou = _date(args.observed_until, "--observed-until") if args.observed_until else None
    con = duckdb.connect()
    cpath = args.crossings
    ccols = _load(con, cpath, "_cli_c", ["person_id", "crossing_date", "direction"])
    _first_bad(con, cpath, "_cli_c", "person_id", f"{_clean('person_id')} IS NULL")
    _first_bad(con, cpath, "_cli_c", "crossing_date",
               f"TRY_CAST({_clean('crossing_date')} AS DATE) IS NULL")
    _first_bad(con, cpath, "_cli_c", "direction",
               f"lower({_clean('direction')}) NOT IN ('in', 'out') OR {_clean('direction')} IS NULL")
    # optional: the permit in force for the stay each arrival begins (empty = none)
    cpv = "permit_valid_until" in ccols
    if cpv:
        _first_bad(con, cpath, "_cli_c", "permit_valid_until",
                   f"{_clean('permit_valid_until')} IS NOT NULL AND "
                   f"TRY_CAST({_clean('permit_valid_until')} AS DATE) IS NULL")
    pcols = []
    if args.persons:
        ppath = args.persons
        pcols = _load(con, ppath, "_cli_p", ["person_id"])
        _first_bad(con, ppath, "_cli_p", "person_id", f"{_clean('person_id')} IS NULL")
        dup = con.execute(f"""SELECT r FROM (
                SELECT rowid + 1 AS r, row_number() OVER (PARTITION BY {_clean('person_id')}
                                                          ORDER BY rowid) AS n FROM _cli_p_in)
                WHERE n = 2 ORDER BY r LIMIT 1""").fetchone()
        if dup:
            raise MiglinkError("duplicate person_id", file=ppath, row=dup[0],
                               column="person_id")
        if "citizen" in pcols:
            _first_bad(con, ppath, "_cli_p", "citizen",
                       f"{_clean('citizen')} IS NOT NULL AND "
                       f"lower({_clean('citizen')}) NOT IN ('true', 'false')")
        if "initial_status" in pcols:
            _first_bad(con, ppath, "_cli_p", "initial_status",
                       f"{_clean('initial_status')} IS NOT NULL AND "
                       f"lower({_clean('initial_status')}) NOT IN ('resident', 'non_resident')")
        for dc in ("permit_valid_until", "birth_date", "death_date"):
            if dc in pcols:
                _first_bad(con, ppath, "_cli_p", dc,
                           f"{_clean(dc)} IS NOT NULL AND TRY_CAST({_clean(dc)} AS DATE) IS NULL")
        if "native_born" in pcols:
            _first_bad(con, ppath, "_cli_p", "native_born",
                       f"{_clean('native_born')} IS NOT NULL AND "
                       f"lower({_clean('native_born')}) NOT IN ('true', 'false')")
    # person_id as BIGINT when every id in both files is a whole number, else text
    ids = ["SELECT " + _clean("person_id") + " AS v FROM _cli_c_in"]
    if args.persons:
        ids.append("SELECT " + _clean("person_id") + " FROM _cli_p_in")
    n_text = con.execute(f"SELECT count(*) FROM ({' UNION ALL '.join(ids)}) "
                         "WHERE TRY_CAST(v AS BIGINT) IS NULL").fetchone()[0]
    pid_t = "VARCHAR" if n_text else "BIGINT"
    con.execute(f"""
        CREATE TABLE crossings AS
        SELECT CAST({_clean('person_id')} AS {pid_t}) AS person_id,
               CAST({_clean('crossing_date')} AS DATE) AS crossing_date,
               lower({_clean('direction')}) AS direction, rowid AS seq
               {", CAST(" + _clean('permit_valid_until') + " AS DATE) AS permit_valid_until"
                if cpv else ""}
        FROM _cli_c_in""")
    persons = None
    if args.persons:
        def opt(c, expr):
            return expr if c in pcols else "NULL"
        con.execute(f"""
            CREATE TABLE residence_persons AS
            SELECT CAST({_clean('person_id')} AS {pid_t}) AS person_id,
                   {opt('citizen', "lower(" + _clean('citizen') + ") = 'true'")} AS citizen,
                   {opt('initial_status', "lower(" + _clean('initial_status') + ")")}
                       AS initial_status,
                   CAST({opt('permit_valid_until', _clean('permit_valid_until'))} AS DATE)
                       AS permit_valid_until,
                   {opt('native_born', "lower(" + _clean('native_born') + ") = 'true'")}
                       AS native_born,
                   CAST({opt('birth_date', _clean('birth_date'))} AS DATE) AS birth_date,
                   CAST({opt('death_date', _clean('death_date'))} AS DATE) AS death_date
            FROM _cli_p_in""")
        persons = "residence_persons"
    print(f"miglink residence: classifying under {', '.join(args.rule)} at "
          f"{len(refs)} reference date(s)", flush=True)
    classify(con, args.rule, refs, observed_until=ou, crossings="crossings", persons=persons)
    out = Path(args.out)
    export_table(con, "residence", out / "residence.parquet")
    export_table(con, "migration_events", out / "migration_events.parquet")
    n_r, n_e = (con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("residence", "migration_events"))
    print(f"miglink residence: wrote {n_r} residence rows and {n_e} migration events to {out}",
          flush=True)
    con.close()
    return 0
