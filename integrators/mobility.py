"""Temporary mobility of non-residents and the service population (RESIDENCE.md "Temporary
mobility"; UN E/CN.3/2021 Annex I: circular movement, cross-border workers, seasonal workers,
asylum seekers in transit; paragraph 39, the service population and person-days).

Reads ``stays`` (from :mod:`integrators.micro`), ``residence`` and, when present,
``residence_persons`` and ``crossings``; writes ``mobility`` and ``service_population``.
Set-based DuckDB SQL only.

Years
    The calendar years of the ``residence`` reference dates under the first configured rule
    (status is known only there); without any, every year a stay touches.
Residents
    A person is resident in year Y when ``resident`` is true at a reference date of Y under
    the first rule, or when they have no crossings and ``initial_status`` 'resident'
    (register/census presence). Everyone else present in Y is a non-resident in Y
    ("not resident at the year's reference date, or never resident in the year"); a null
    (provisional) status counts as non-resident and is flagged ``provisional``.
Counting (RESIDENCE.md "Days present")
    A stay ``[s, e)`` adds ``e - s`` person-days (end-of-day presence) and touches days s..e
    (the departure day is touched, not present; an open stay touches up to observed_until =
    e - 1). Days touched by consecutive stays that share a day (departure and re-entry, or
    two transits, on one day) count once. Both are clipped to the year.
Types, for one non-resident person-year (``types`` lists every one that applies;
``mobility_type`` is the first in :data:`TYPE_PRECEDENCE`):
    - ``cross_border_worker``: at least ``worker_min_trips`` (4) entries in Y, every stay
      touching Y closed and of at most ``worker_max_nights`` (7) nights, every known purpose
      work or business and at least one known (daily or weekly return, ILO 2018);
    - ``seasonal_worker``: a stay in Y with a seasonal-work visa (visa purpose or category
      ``seasonal_work``, or travel purpose ``seasonal_work``); or work stays (travel or visa
      purpose work / seasonal_work) of more than ``worker_max_nights`` and at most
      ``seasonal_max_days`` (274, nine months) nights starting in Y and in Y-1 or Y+1 within
      ``season_days`` (31) days of the same day of the year, with at most 274 person-days in
      Y (business travel and stays of unknown purpose do not make a season);
    - ``asylum_in_transit`` (purpose asylum or transit: the vocabulary has no separate code
      for asylum seekers in transit), ``health``, ``training`` (purpose training or study):
      by travel or visa purpose, every stay touching Y shorter than the first rule's minimum
      (365 days for 12/16 and 12/12, 183 for 6/12);
    - ``circular``: entering more than once in Y (trips >= 2);
    - ``other_temporary``: any other non-resident present in Y.
    ``trips`` = entries in Y (stays that start in Y with an observed or imputed arrival).
Service population
    Year x category (``resident`` for residents in Y, else the stay's visa category, 'none'
    without a visa) for everyone present: person_days, days_touched, persons, days_in_year and
    ``average_daily`` = person_days / days in the year. A person with stays in several
    categories in one year counts once in each (``persons``), their days split between them.
"""

from __future__ import annotations

from linkage.db import has_table as _has
from linkage.errors import MiglinkError

#: Order in which one type is chosen when several apply.
TYPE_PRECEDENCE: tuple[str, ...] = (
    "cross_border_worker", "seasonal_worker", "asylum_in_transit", "health", "training",
    "circular", "other_temporary",
)
#: Minimum stay (days) of each residence rule (RESIDENCE.md).
RULE_MINIMUM_DAYS: dict[str, int] = {"12/16": 365, "12/12": 365, "6/12": 183}


class MobilityClassifier:
    """Temporary-mobility types per non-resident person-year and the service population.

    Parameters are the thresholds of the module docstring. After :meth:`fit`: ``rule``,
    ``years`` and ``counts`` (rows written, person-years by type).
    """

    def __init__(self, worker_max_nights: int = 7, worker_min_trips: int = 4,
                 seasonal_max_days: int = 274, season_days: int = 31):
        self.worker_max_nights = worker_max_nights
        self.worker_min_trips = worker_min_trips
        self.seasonal_max_days = seasonal_max_days
        self.season_days = season_days
        self.rule: str | None = None
        self.years: list[int] = []
        self.counts: dict = {}

    def fit(self, con, cfg) -> "MobilityClassifier":
        for t in ("stays", "residence"):
            if not _has(con, t):
                raise MiglinkError(f"table {t!r} is missing: run the micro and residence "
                                   "steps first", file="miglink.duckdb")
        rules = list(getattr(cfg.residence, "rules", None) or ["12/16"])
        self.rule = rules[0]
        if self.rule not in RULE_MINIMUM_DAYS:
            raise MiglinkError(f"unknown residence rule {self.rule!r}", file=str(
                getattr(cfg, "path", "config")), column="residence: rules")
        min_days = RULE_MINIMUM_DAYS[self.rule]
        con.execute("""CREATE OR REPLACE TEMP TABLE _mo_res AS
                       SELECT person_id, year(reference_date) AS year,
                              bool_or(resident) AS resident,
                              bool_or(resident IS NULL) AS provisional
                       FROM residence WHERE rule = ? GROUP BY ALL""", [self.rule])
        self.years = [r[0] for r in con.execute(
            "SELECT DISTINCT year FROM _mo_res ORDER BY year").fetchall()]
        if not self.years:
            self.years = [r[0] for r in con.execute("""
                SELECT DISTINCT unnest(range(year(start_date),
                       year(CASE WHEN end_repair = 'open' THEN end_date - 1
                                 ELSE end_date END) + 1)) AS y
                FROM stays ORDER BY y""").fetchall()]
        con.execute("CREATE OR REPLACE TEMP TABLE _mo_years (year INTEGER)")
        if self.years:
            con.execute("INSERT INTO _mo_years VALUES " +
                        ", ".join(f"({int(y)})" for y in self.years))
        # persons resident without crossings (register / census presence)
        no_cx_res = "SELECT NULL::BIGINT AS person_id WHERE false"
        if _has(con, "residence_persons"):
            cx = ("AND person_id NOT IN (SELECT person_id FROM crossings)"
                  if _has(con, "crossings") else "")
            no_cx_res = (f"SELECT person_id FROM residence_persons "
                         f"WHERE initial_status = 'resident' {cx}")
        # persons with no crossings at all (register / census presence only)
        if _has(con, "crossings"):
            cx_join = ("LEFT JOIN (SELECT DISTINCT person_id FROM crossings) cx "
                       "ON cx.person_id = p.person_id")
            no_cx = "cx.person_id IS NULL"
        else:
            cx_join = ""
            no_cx = "coalesce(p.start_repair IN ('register', 'census'), false)"
        # stay pieces per year
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mo_piece AS
            WITH st AS (
                SELECT *, CASE WHEN end_repair = 'open' THEN end_date - 1 ELSE end_date END
                              AS last_touched,
                          end_date - start_date AS nights
                FROM stays),
            p AS (
                SELECT st.*, y.year, make_date(y.year, 1, 1) AS y0,
                       make_date(y.year + 1, 1, 1) AS y1
                FROM st JOIN _mo_years y
                  ON y.year BETWEEN year(st.start_date) AND year(st.last_touched))
            SELECT p.person_id, p.stay_seq, p.year, p.start_date, p.end_date, p.nights,
                   p.end_repair, p.start_repair, p.purpose, p.visa_purpose, p.visa_category,
                   greatest(0, least(p.end_date, p.y1) - greatest(p.start_date, p.y0))
                       AS person_days,
                   greatest(0, least(p.last_touched, p.y1 - 1)
                               - greatest(p.start_date, p.y0) + 1) AS touched,
                   year(p.start_date) = p.year
                       AND (p.start_repair IS NULL OR p.start_repair = 'imputed_crossing')
                       AS entry,
                   coalesce(r.resident, false) OR n.person_id IS NOT NULL AS resident,
                   coalesce(r.provisional, false) AS provisional,
                   {no_cx} AS no_crossings
            FROM p LEFT JOIN _mo_res r ON r.person_id = p.person_id AND r.year = p.year
            LEFT JOIN ({no_cx_res}) n ON n.person_id = p.person_id
            {cx_join}""")
        self._mobility(con, min_days)
        self._service_population(con)
        for t in ("_mo_res", "_mo_years", "_mo_piece"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        return self

    def _mobility(self, con, min_days: int) -> None:
        work = "('work', 'seasonal_work')"
        s_max, s_days = int(self.seasonal_max_days), int(self.season_days)
        cond = {
            "cross_border_worker": f"trips >= {int(self.worker_min_trips)} AND all_short "
                                   "AND work_travel",
            "seasonal_worker": f"seasonal_visa OR (rc.person_id IS NOT NULL "
                               f"AND py.person_days <= {s_max})",
            "asylum_in_transit": f"p_asylum AND max_nights < {min_days}",
            "health": f"p_health AND max_nights < {min_days}",
            "training": f"p_training AND max_nights < {min_days}",
            "circular": "trips >= 2",
            "other_temporary": "true",
        }
        type_list = ", ".join(f"CASE WHEN {cond[t]} THEN '{t}' END" for t in TYPE_PRECEDENCE)
        con.execute(f"""
            CREATE OR REPLACE TABLE mobility AS
            WITH nr AS (
                SELECT *, lag(end_date) OVER (PARTITION BY person_id, year
                                              ORDER BY start_date, stay_seq) AS prev_end
                FROM _mo_piece WHERE NOT resident AND NOT no_crossings),
            py AS (
                SELECT person_id, year,
                       count(*) FILTER (WHERE entry) AS trips,
                       sum(person_days)::BIGINT AS person_days,
                       (sum(touched) - count(*) FILTER (
                           WHERE prev_end = start_date AND year(start_date) = year))::BIGINT
                           AS days_touched,
                       bool_or(provisional) AS provisional,
                       max(nights) AS max_nights,
                       bool_and(nights <= {int(self.worker_max_nights)}
                                AND end_repair IS DISTINCT FROM 'open') AS all_short,
                       bool_and(purpose IS NULL OR purpose IN ('work', 'business'))
                           AND bool_or(purpose IN ('work', 'business')) AS work_travel,
                       bool_or(visa_purpose = 'seasonal_work' OR purpose = 'seasonal_work'
                               OR visa_category = 'seasonal_work') AS seasonal_visa,
                       bool_or(purpose IN ('training', 'study')
                               OR visa_purpose IN ('training', 'study')) AS p_training,
                       bool_or(purpose = 'health' OR visa_purpose = 'health') AS p_health,
                       bool_or(purpose IN ('asylum', 'transit')
                               OR visa_purpose IN ('asylum', 'transit')) AS p_asylum
                FROM nr GROUP BY ALL),
            short AS (   -- stays eligible for the recurring-season test
                SELECT person_id, start_date, year(start_date) AS y, dayofyear(start_date) AS doy
                FROM stays
                WHERE end_date - start_date <= {s_max}
                  AND end_date - start_date > {int(self.worker_max_nights)}
                  AND end_repair IS DISTINCT FROM 'open'
                  AND (start_repair IS NULL OR start_repair = 'imputed_crossing')
                  AND (purpose IN {work} OR visa_purpose IN {work})),
            recurring AS (
                SELECT DISTINCT a.person_id, a.y AS year FROM short a JOIN short b
                  ON a.person_id = b.person_id AND abs(a.y - b.y) = 1
                 AND least(abs(a.doy - b.doy), 365 - abs(a.doy - b.doy)) <= {s_days}),
            typed AS (
                SELECT py.*,
                       list_filter([{type_list}], lambda x: x IS NOT NULL) AS all_types
                FROM py LEFT JOIN recurring rc USING (person_id, year))
            SELECT person_id, year, all_types[1] AS mobility_type, trips, person_days,
                   days_touched,
                   CASE WHEN len(all_types) = 1 THEN 'other_temporary'
                        ELSE array_to_string(all_types[1:len(all_types) - 1], ',') END AS types,
                   provisional
            FROM typed ORDER BY person_id, year""")
        self.counts["mobility"] = con.execute("SELECT count(*) FROM mobility").fetchone()[0]
        for t, n in con.execute("SELECT mobility_type, count(*) FROM mobility "
                                "GROUP BY ALL ORDER BY 1").fetchall():
            self.counts[f"type {t}"] = n

    def _service_population(self, con) -> None:
        con.execute("""
            CREATE OR REPLACE TABLE service_population AS
            WITH c AS (
                SELECT *, CASE WHEN resident THEN 'resident'
                               ELSE coalesce(visa_category, 'none') END AS visa_category_sp
                FROM _mo_piece),
            l AS (
                SELECT *, lag(end_date) OVER (PARTITION BY person_id, year, visa_category_sp
                                              ORDER BY start_date, stay_seq) AS prev_end
                FROM c),
            pc AS (
                SELECT year, visa_category_sp AS visa_category, person_id,
                       sum(person_days) AS person_days,
                       sum(touched) - count(*) FILTER (
                           WHERE prev_end = start_date AND year(start_date) = year)
                           AS days_touched
                FROM l GROUP BY ALL)
            SELECT year, visa_category, sum(person_days)::BIGINT AS person_days,
                   sum(days_touched)::BIGINT AS days_touched,
                   count(DISTINCT person_id) FILTER (WHERE days_touched > 0) AS persons,
                   (make_date(year + 1, 1, 1) - make_date(year, 1, 1)) AS days_in_year,
                   sum(person_days) / (make_date(year + 1, 1, 1) - make_date(year, 1, 1))
                       AS average_daily
            FROM pc GROUP BY year, visa_category
            HAVING sum(days_touched) > 0
            ORDER BY year, visa_category""")
        self.counts["service_population"] = con.execute(
            "SELECT count(*) FROM service_population").fetchone()[0]


def classify_mobility(con, cfg) -> dict:
    """Write ``mobility`` and ``service_population`` (module docstring) and return counts."""
    return MobilityClassifier().fit(con, cfg).counts
