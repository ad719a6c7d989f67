"""Micro-integration: one resolved record per person, crossings for the residence
classifier, and stays (periods of presence) repaired where the border source is incomplete.

Reads ``records``, ``clusters`` and ``events`` (docs/internals.md) and writes ``persons``,
``person_conflicts``, ``crossings``, ``residence_persons`` and ``stays``. Everything is
set-based DuckDB SQL: no Python loop per person or crossing.

Attribute precedence (sex, birth_date, birth_year, birth_country, death_date)
    The value comes from the sources of the highest-precedence kind that holds one
    (``register`` > ``census`` > ``visa`` > ``border`` > ``generic``, :data:`PRECEDENCE`);
    among those records the most frequent value wins; a tie goes to the smallest value
    (string order, so the earliest date). ``birth_year`` is the year of the resolved
    ``birth_date`` when there is one, else resolved from ``coalesce(year(birth_date),
    birth_year)`` per record. A field is a *conflict* when the person's records hold more than
    one distinct non-null value; each conflict is a row of ``person_conflicts`` (person_id,
    field, ``values`` (sorted list), ``detail`` ("value: source×n; ..."), chosen).

Citizenship (time-varying, UN Annex I "citizenship")
    Evidence is dated: visa ``valid_from``, census ``census_date``, register the extract
    (``deregistration_date`` when closed, else ``observed_until``: a register holds the
    current citizenship), border ``crossing_date``. For the current citizenship only register,
    visa and census evidence is used when the person has any (else border and generic lists).
    ``citizenship``
    is the value of the latest evidence (ties: precedence, then smallest code); ``citizen`` is
    ``citizenship = cfg.country``. A visa is evidence of foreign citizenship even without a
    citizenship value. ``naturalisation_date`` (citizens only) is the date of the first
    evidence of the country's citizenship after the first foreign evidence, from register,
    visa, census *and border* evidence (the passport used at a crossing shows the change
    best); NULL when citizen evidence comes first (a citizen before the data, or a dual
    citizen) or no foreign evidence exists. It is an upper bound on the true date; a
    recorded ``naturalisation_date`` column in ``records`` (no canonical field yet), when
    present, wins (highest-precedence source, then earliest). A citizenship conflict is only
    counted when it is not explained by a naturalisation (two foreign values, or foreign
    evidence after citizen evidence).

Crossings (RESIDENCE.md "Days present")
    The border events in person order ``(crossing_date, event_seq)``. Exact duplicates of one
    crossing (same person, date and direction, adjacent in that order: duplicated source rows)
    are removed and counted (``duplicates_removed``); ``seq`` numbers the crossings of one
    person and day in source row order (repaired crossings placed next to the crossing they
    follow). ``repair`` is NULL for a recorded crossing. ``permit_valid_until`` (arrivals
    only): the latest ``valid_to`` among the person's visas valid on the arrival day, the
    permit in force for the stay it begins (RESIDENCE.md 6/12 permission criterion); NULL on
    departures and on arrivals no visa with an end date covers.

Crossings repaired from other sources (:data:`REPAIRS`; ``MicroIntegrator(repairs=...)``)
    A crossing missing from the border file (a documented defect: Defects.crossing_missing)
    leaves two crossings in one direction (RESIDENCE.md imputes the missed one at the
    midpoint) or a history that starts with an exit / ends with an arrival (RESIDENCE.md
    then extends the state to the unobserved past / to ``observed_until``). Where another
    source bounds the date of the missed crossing, micro-integration writes it into
    ``crossings`` (flagged by ``repair`` = the evidence) at the midpoint of the *bounded*
    interval, RESIDENCE.md's convention applied to the evidence; the classifier then counts
    it like any crossing (RESIDENCE.md: an imputed crossing counts everywhere). Each is a
    set-based step over all persons:

    - ``deregistration``: the last crossing is an arrival on a, then a deregistration on
      r >= a (not a death, no later registration): departure at a + (r - a) // 2;
    - ``present_before_first_arrival`` (``register`` / ``census``): the first crossing is an
      arrival on x but the person was registered since before the data (not deregistered
      before x) or counted by a census on c < x: present until a missed departure at
      lo + (x - lo) // 2, lo = the latest of the data start and c. A registration *within*
      the data is no evidence (it lags the arrival by weeks; the person may have left);
    - ``visa_bounds_missed_arrival`` (``visa``): departures on x1 <= x2 and the visa island
      (visas whose validity overlaps or abuts, i.e. renewals) in force at x2 began on v > x1:
      an entry needs a valid visa, so the arrival lies in [v, min(island end, x2)];
    - ``visa_bounds_missed_departure`` (``visa_end``): arrivals on x1 <= x2, x1 on a visa
      island ending on e with e + 1 < x2 and no ``resident`` visa in it (a resident visa's
      end does not end the right to stay): departure in [x1, e + 1];
    - ``census_bounds_missed_crossing`` (``census``): two crossings in one direction around a
      census night c on which the person was counted (x1 < c < x2): the missed arrival is in
      (x1, c], the missed departure in (c, x2] (unless a visa already bounds it);
    - ``census_bounds_unattested_visitor`` (``census_absent``): a foreign citizen known to
      the border file alone (no register, census, visa or list record) whose first crossing
      is an exit after a census night c, or whose last is an arrival before one, was not
      there on c (the census counts visitors too): arrival in (c, x], departure in (x, c];
    - ``arrival_before_first_exit`` (``visa`` / ``register`` / ``census``): the first
      crossing (after the repairs above) is an exit on x and the visa island in force at x /
      the first registration began within the data: arrival in [visa start, min(island end,
      registration, census count, x)], or on the registration / census day without a visa
      (the stays' lower bound below). Not for a native-born person born in the data
      (present from birth).

    Not repaired (no evidence, or evidence that misleads in the data): an open stay past the
    end of a visitor visa (overstayers, the hidden population, do exactly that) and gaps of
    citizens and residents without census evidence (RESIDENCE.md's midpoint).
    ``counts["crossings repaired by <evidence>"]`` reports them.

Residence persons (initial status for the 12/16 rule)
    ``resident`` when a register period covers the day before the first crossing
    (registration_date < first crossing, no deregistration before it) or a census counted the
    person before the first crossing; ``non_resident`` when the first crossing is an arrival
    and a visa started on or before it; else NULL (the rule infers it from the first
    crossing's direction). Persons with no crossings but a register or census record are
    ``resident``. ``permit_valid_until`` is the latest visa ``valid_to``. ``birth_date`` is
    the resolved one; when it is unknown for a native-born person without crossings whose
    first registration falls within the data (in the year of birth or the next, by
    ``birth_year`` when known), it is bounded by that registration (born on or before it:
    not in the population before it; ``persons.birth_date`` stays NULL).

Stays (RESIDENCE.md)
    ``[start_date, end_date)``: arrival day present, departure day absent, so days present
    = ``end_date - start_date``; a same-day transit is a stay with start = end (a day touched,
    no day present). Repairs, each flagged in ``start_repair`` / ``end_repair`` (and both in
    ``repair``; ``start_observed`` / ``end_observed`` false):

    - two crossings in one direction in a row on x1 <= x2: the opposite crossing is imputed on
      x1 + floor((x2 - x1) / 2) (``imputed_crossing``); a crossing repaired from other
      sources (above) is an imputed crossing too (``imputed_crossing``, ``*_observed``
      false), its evidence in ``repair``: ``start:imputed_crossing(visa)``;
    - a history that starts with an exit on x: present before it, from the earliest
      registration or visa start on or before x, clamped to the start of the border data and
      to the birth date, but no later than a census day in [data start, x] that counted the
      person (``register`` / ``visa`` / ``birth`` / ``census``; ``data_start`` without other
      evidence); a native-born person born in the data is present from birth (``birth``);
    - an entry never closed: open, ``end_date = observed_until + 1`` (present on
      observed_until; ``open``); a known death ends it on the death date (``death``);
    - persons with no crossings: their (merged) register periods, clamped to the data and
      to birth (a native-born person's registration within a year of birth starts at birth)
      (``register`` .. ``deregistration``/``open``), or, census-only, present throughout
      (``census`` .. ``open``).

    Each stay also carries ``stay_seq``, ``days_present``, ``purpose`` (entry crossing's, else
    the visa's), ``visa_category`` and ``visa_purpose`` (of the visa valid at the stay's start,
    else the first one overlapping the stay).
    ``observed_until`` is ``cfg.residence.observed_until``, else the latest crossing.
"""

from __future__ import annotations

import datetime as dt

from linkage.db import table_columns
from linkage.errors import MiglinkError

#: Source-kind precedence for person attributes (1 = most trusted).
PRECEDENCE: dict[str, int] = {"register": 1, "census": 2, "visa": 3, "border": 4, "generic": 5}

#: Crossing repairs from other sources (module docstring), by name -> step of ``_repairs``.
REPAIRS: dict[str, str] = {"deregistration": "r1", "present_before_first_arrival": "r2",
                           "visa_bounds_missed_arrival": "r3", "arrival_before_first_exit": "r4",
                           "visa_bounds_missed_departure": "r5",
                           "census_bounds_unattested_visitor": "r6",
                           "census_bounds_missed_crossing": "r7"}

#: Attributes resolved by precedence (citizenship has its own, dated, resolution).
ATTRIBUTES: tuple[str, ...] = ("sex", "birth_date", "birth_year", "birth_country", "death_date")

_RECORD_COLUMNS = {
    "sex": "VARCHAR", "birth_date": "DATE", "birth_year": "INTEGER", "birth_country": "VARCHAR",
    "citizenship": "VARCHAR", "death_date": "DATE", "naturalisation_date": "DATE",
    "crossing_date": "DATE",
    "valid_from": "DATE", "valid_to": "DATE", "visa_category": "VARCHAR", "purpose": "VARCHAR",
    "census_date": "DATE", "registration_date": "DATE", "deregistration_date": "DATE",
}
_EVENT_COLUMNS = {"direction": "VARCHAR", "purpose": "VARCHAR", "event_seq": "BIGINT"}


def _require(con, table: str, cols: tuple[str, ...]) -> set[str]:
    have = set(table_columns(con, table))
    if not have:
        raise MiglinkError(f"table {table!r} is missing: run the earlier pipeline steps first",
                           file="miglink.duckdb")
    missing = [c for c in cols if c not in have]
    if missing:
        raise MiglinkError(f"table lacks column(s) {', '.join(missing)}",
                           file=f"miglink.duckdb:{table}", column=missing[0])
    return have


def _date_sql(d: dt.date | None) -> str:
    return "NULL::DATE" if d is None else f"DATE '{d.isoformat()}'"


class MicroIntegrator:
    """Micro-integration of linked sources (see the module docstring for every rule).

    Parameters: ``precedence`` (kind -> rank, lower wins). After :meth:`fit` the attributes
    ``counts`` (rows per table written, ``duplicates_removed``, repairs by kind),
    ``data_start`` and ``observed_until`` hold the figures of the run.
    """

    def __init__(self, precedence: dict[str, int] | None = None,
                 repairs: tuple[str, ...] | None = None):
        self.precedence = dict(PRECEDENCE if precedence is None else precedence)
        self.repairs = tuple(REPAIRS if repairs is None else repairs)
        unknown = [r for r in self.repairs if r not in REPAIRS]
        if unknown:
            raise ValueError(f"unknown repair(s) {unknown}; known: {list(REPAIRS)}")
        self.counts: dict = {}
        self.data_start: dt.date | None = None
        self.observed_until: dt.date | None = None

    # ------------------------------------------------------------------ inputs
    def _prepare(self, con, cfg) -> None:
        rec_cols = _require(con, "records", ("source", "record_id"))
        _require(con, "clusters", ("source", "record_id", "person_id"))
        ev_cols = _require(con, "events", ("source", "record_id", "event_date", "event_type"))
        kinds = {s.name: s.kind for s in cfg.sources}
        rows = ", ".join(f"('{n.replace(chr(39), chr(39) * 2)}', '{k}', {self.precedence.get(k, 9)})"
                         for n, k in sorted(kinds.items()))
        con.execute("CREATE OR REPLACE TEMP TABLE _mi_kinds (source VARCHAR, kind VARCHAR, "
                    "rank INTEGER)")
        if rows:
            con.execute(f"INSERT INTO _mi_kinds VALUES {rows}")
        # records of sources missing from the config fall back to records.kind if present
        kind_sql = "coalesce(k.kind, r.kind)" if "kind" in rec_cols else "k.kind"
        sel = ", ".join(
            (f"r.{c}::{t} AS {c}" if c in rec_cols else f"NULL::{t} AS {c}")
            for c, t in _RECORD_COLUMNS.items())
        ranks = " ".join(f"WHEN '{k}' THEN {v}" for k, v in self.precedence.items())
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_rec AS
            SELECT c.person_id, c.source, c.record_id, {kind_sql} AS kind,
                   CASE {kind_sql} {ranks} ELSE 9 END AS rank, {sel}
            FROM clusters c
            LEFT JOIN records r ON r.source = c.source AND r.record_id = c.record_id
            LEFT JOIN _mi_kinds k ON k.source = c.source""")
        pid = "e.person_id" if "person_id" in ev_cols else "c.person_id"
        join = "" if "person_id" in ev_cols else \
            "JOIN clusters c ON c.source = e.source AND c.record_id = e.record_id"
        esel = ", ".join((f"e.{c}::{t} AS e_{c}" if c in ev_cols else f"NULL::{t} AS e_{c}")
                         for c, t in _EVENT_COLUMNS.items())
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_cx_raw AS
            SELECT {pid} AS person_id, e.event_date AS crossing_date,
                   coalesce(e.e_direction, CASE e.event_type WHEN 'crossing_in' THEN 'in'
                                           ELSE 'out' END) AS direction,
                   coalesce(e.e_event_seq, 0) AS event_seq, e.e_purpose AS purpose,
                   e.source, e.record_id
            FROM (SELECT e.*, {esel} FROM events e) e
            {join}
            WHERE e.event_type IN ('crossing_in', 'crossing_out') AND e.event_date IS NOT NULL
              AND {pid} IS NOT NULL""")
        ds, ou = con.execute("""
            SELECT (SELECT min(crossing_date) FROM _mi_cx_raw),
                   (SELECT max(crossing_date) FROM _mi_cx_raw)""").fetchone()
        if ds is None:  # no border data: the window of the other events
            ds, ou = con.execute("SELECT min(event_date), max(event_date) FROM events "
                                 "WHERE event_type <> 'visa_end'").fetchone()
        cfg_ou = getattr(getattr(cfg, "residence", None), "observed_until", None)
        self.observed_until = cfg_ou or ou
        self.data_start = ds if ds is None or self.observed_until is None \
            else min(ds, self.observed_until)

    # ------------------------------------------------------------------ persons
    def _persons(self, con, cfg) -> None:
        ou = _date_sql(self.observed_until)
        country = str(cfg.country).replace("'", "''")
        # long format of the precedence-resolved attributes (UNPIVOT drops NULLs)
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _mi_long AS
            SELECT person_id, field, value, rank, source FROM (
                SELECT person_id, rank, source, sex::VARCHAR AS sex,
                       strftime(birth_date, '%Y-%m-%d') AS birth_date,
                       coalesce(year(birth_date), birth_year)::VARCHAR AS birth_year,
                       birth_country::VARCHAR AS birth_country,
                       strftime(death_date, '%Y-%m-%d') AS death_date
                FROM _mi_rec)
            UNPIVOT (value FOR field IN (sex, birth_date, birth_year, birth_country,
                                         death_date))""")
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _mi_attr AS
            WITH cand AS (
                SELECT person_id, field, value, rank, count(*) AS n FROM _mi_long
                GROUP BY ALL)
            SELECT person_id, field,
                   arg_min(value, (rank, -n, value)) AS chosen,
                   min(value) <> max(value) AS conflict
            FROM cand GROUP BY ALL""")
        # citizenship evidence, dated
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_cit AS
            WITH ev AS (
                SELECT person_id, rank, kind IN ('register', 'visa', 'census') AS primary_ev,
                       citizenship AS value,
                       CASE kind WHEN 'visa' THEN valid_from
                                 WHEN 'census' THEN census_date
                                 WHEN 'register' THEN coalesce(deregistration_date, {ou},
                                                               registration_date)
                                 WHEN 'border' THEN crossing_date END AS d,
                       kind = 'visa' OR (citizenship IS NOT NULL
                                         AND citizenship <> '{country}') AS foreign_ev
                FROM _mi_rec WHERE citizenship IS NOT NULL OR kind = 'visa'),
            has_primary AS (
                SELECT person_id, bool_or(primary_ev AND value IS NOT NULL) AS hp
                FROM ev GROUP BY ALL)
            SELECT ev.*, ev.primary_ev OR NOT h.hp AS use_cur
            FROM ev JOIN has_primary h USING (person_id)""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_citp AS
            WITH cur AS (
                SELECT person_id,
                       arg_max(value, (d IS NOT NULL, d, -rank, value)) AS citizenship
                FROM _mi_cit WHERE use_cur AND value IS NOT NULL GROUP BY ALL),
            firsts AS (
                SELECT person_id, min(d) FILTER (WHERE foreign_ev) AS ff,
                       min(d) FILTER (WHERE value = '{country}') AS fc
                FROM _mi_cit WHERE d IS NOT NULL GROUP BY ALL),
            ev_nat AS (
                SELECT c.person_id, min(c.d) AS naturalisation_date
                FROM _mi_cit c JOIN firsts f USING (person_id)
                WHERE c.value = '{country}' AND c.d > f.ff AND f.fc > f.ff
                GROUP BY ALL),
            rec_nat AS (  -- a recorded date (optional column) wins over the evidence
                SELECT person_id, arg_min(naturalisation_date, (rank, naturalisation_date))
                    AS naturalisation_date
                FROM _mi_rec WHERE naturalisation_date IS NOT NULL GROUP BY ALL),
            nat AS (
                SELECT person_id, coalesce(r.naturalisation_date, e.naturalisation_date)
                    AS naturalisation_date
                FROM ev_nat e FULL JOIN rec_nat r USING (person_id)),
            conf AS (
                SELECT person_id, count(DISTINCT value) AS n_values,
                       count(DISTINCT value) FILTER (WHERE value <> '{country}') AS n_foreign
                FROM _mi_cit WHERE use_cur AND value IS NOT NULL GROUP BY ALL)
            SELECT cur.person_id, cur.citizenship, cur.citizenship = '{country}' AS citizen,
                   CASE WHEN cur.citizenship = '{country}' THEN nat.naturalisation_date
                        END AS naturalisation_date,
                   conf.n_values > 1 AND (conf.n_foreign > 1 OR cur.citizenship <> '{country}'
                       OR nat.naturalisation_date IS NULL) AS cit_conflict
            FROM cur LEFT JOIN nat USING (person_id) LEFT JOIN conf USING (person_id)""")
        # conflicts (attributes and unexplained citizenship)
        con.execute("""
            CREATE OR REPLACE TABLE person_conflicts AS
            WITH keys AS (SELECT person_id, field FROM _mi_attr WHERE conflict),
            all_long AS (
                SELECT person_id, field, value, source FROM _mi_long
                SEMI JOIN keys USING (person_id, field)
                UNION ALL
                SELECT r.person_id, 'citizenship', r.citizenship, r.source
                FROM _mi_rec r JOIN _mi_citp p USING (person_id)
                WHERE p.cit_conflict AND r.citizenship IS NOT NULL),
            per_src AS (
                SELECT person_id, field, value, source, count(*) AS n
                FROM all_long GROUP BY ALL),
            per_val AS (
                SELECT person_id, field, value,
                       value || ': ' || string_agg(source || '×' || n, ', ' ORDER BY source)
                           AS detail
                FROM per_src GROUP BY person_id, field, value),
            agg AS (
                SELECT person_id, field, list(value ORDER BY value) AS "values",
                       string_agg(detail, '; ' ORDER BY value) AS detail
                FROM per_val GROUP BY ALL HAVING count(*) > 1)
            SELECT agg.person_id, agg.field, agg."values", agg.detail,
                   coalesce(a.chosen, p.citizenship) AS chosen
            FROM agg
            LEFT JOIN _mi_attr a ON a.person_id = agg.person_id AND a.field = agg.field
            LEFT JOIN _mi_citp p ON p.person_id = agg.person_id AND agg.field = 'citizenship'
            ORDER BY agg.person_id, agg.field""")
        con.execute(f"""
            CREATE OR REPLACE TABLE persons AS
            WITH base AS (
                SELECT person_id, string_agg(DISTINCT source, ',' ORDER BY source) AS sources,
                       count(*) AS n_records
                FROM _mi_rec GROUP BY ALL),
            wide AS (
                SELECT person_id,
                       max(chosen) FILTER (WHERE field = 'sex') AS sex,
                       max(chosen) FILTER (WHERE field = 'birth_date')::DATE AS birth_date,
                       max(chosen) FILTER (WHERE field = 'birth_year')::INTEGER AS birth_year,
                       max(chosen) FILTER (WHERE field = 'birth_country') AS birth_country,
                       max(chosen) FILTER (WHERE field = 'death_date')::DATE AS death_date
                FROM _mi_attr GROUP BY ALL),
            nconf AS (SELECT person_id, count(*) AS n_conflicts FROM person_conflicts
                      GROUP BY ALL)
            SELECT b.person_id, w.sex, w.birth_date,
                   coalesce(year(w.birth_date), w.birth_year)::INTEGER AS birth_year,
                   w.birth_country, c.citizenship, c.citizen, c.naturalisation_date,
                   w.birth_country = '{country}' AS native_born, w.death_date,
                   b.sources, b.n_records, coalesce(n.n_conflicts, 0) AS n_conflicts
            FROM base b LEFT JOIN wide w USING (person_id) LEFT JOIN _mi_citp c USING (person_id)
            LEFT JOIN nconf n USING (person_id)
            ORDER BY b.person_id""")

    # ------------------------------------------------------------------ crossings
    def _crossings(self, con) -> None:
        ds, ou = _date_sql(self.data_start), _date_sql(self.observed_until)
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _mi_cx0 AS
            WITH o AS (
                SELECT *, lag(crossing_date) OVER w AS pd, lag(direction) OVER w AS pdir
                FROM _mi_cx_raw
                WINDOW w AS (PARTITION BY person_id ORDER BY crossing_date, event_seq,
                                                          source, record_id))
            SELECT person_id, crossing_date, direction, purpose, event_seq,
                   row_number() OVER (PARTITION BY person_id
                                      ORDER BY crossing_date, event_seq, source, record_id
                                      )::DOUBLE AS k
            FROM o
            WHERE pd IS NULL OR NOT (pd = crossing_date AND pdir = direction)""")
        n_raw, n_obs = con.execute("SELECT (SELECT count(*) FROM _mi_cx_raw), "
                                   "(SELECT count(*) FROM _mi_cx0)").fetchone()
        self._repairs(con, ds, ou)
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _mi_cx AS
            WITH u AS (
                SELECT person_id, crossing_date, direction, purpose, event_seq, k,
                       NULL::VARCHAR AS repair FROM _mi_cx0
                UNION ALL
                SELECT person_id, crossing_date, direction, NULL, NULL, k, repair FROM _mi_rep)
            SELECT *, row_number() OVER (PARTITION BY person_id, crossing_date ORDER BY k)
                      AS seq
            FROM u""")
        # the permit in force for the stay an arrival begins: the latest valid_to among the
        # person's visas valid on the arrival day (RESIDENCE.md "6/12", per arrival)
        con.execute("""
            CREATE OR REPLACE TABLE crossings AS
            WITH pv AS (
                SELECT a.person_id, a.crossing_date, max(r.valid_to) AS permit_valid_until
                FROM (SELECT DISTINCT person_id, crossing_date FROM _mi_cx
                      WHERE direction = 'in') a
                JOIN _mi_rec r ON r.person_id = a.person_id AND r.kind = 'visa'
                 AND r.valid_from <= a.crossing_date AND r.valid_to >= a.crossing_date
                GROUP BY ALL)
            SELECT c.person_id, c.crossing_date, c.direction, c.seq, c.repair,
                   CASE WHEN c.direction = 'in' THEN pv.permit_valid_until END
                       AS permit_valid_until
            FROM _mi_cx c LEFT JOIN pv USING (person_id, crossing_date)
            ORDER BY c.person_id, c.crossing_date, c.seq""")
        self.counts["crossings"] = n_obs
        self.counts["duplicates_removed"] = n_raw - n_obs
        for kind, k in con.execute("SELECT repair, count(*) FROM _mi_rep GROUP BY ALL "
                                   "ORDER BY repair").fetchall():
            self.counts[f"crossings repaired by {kind}"] = k

    def _repairs(self, con, ds: str, ou: str) -> None:
        """Crossings missing from the border source but implied by the other sources
        (module docstring, "Crossings repaired from other sources"): ``_mi_rep``."""
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_o AS
            SELECT person_id, crossing_date AS d, direction AS dir, k,
                   lag(crossing_date) OVER w AS pd, lag(direction) OVER w AS pdir,
                   lag(k) OVER w AS pk, max(k) OVER (PARTITION BY person_id) AS last_k
            FROM _mi_cx0 WHERE crossing_date <= {ou}
            WINDOW w AS (PARTITION BY person_id ORDER BY k)""")
        # visas whose validity overlaps or abuts form one island (renewals in the country)
        con.execute("""
            CREATE OR REPLACE TEMP TABLE _mi_visl AS
            WITH v AS (
                SELECT person_id, valid_from AS vf, coalesce(valid_to, valid_from) AS vt,
                       coalesce(visa_category = 'resident', false) AS res
                FROM _mi_rec WHERE kind = 'visa' AND valid_from IS NOT NULL),
            q AS (
                SELECT *, max(vt) OVER (PARTITION BY person_id ORDER BY vf, vt ROWS BETWEEN
                                        UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_vt
                FROM v),
            g AS (
                SELECT *, sum(CASE WHEN prev_vt IS NULL OR vf > prev_vt + 1 THEN 1 ELSE 0 END)
                          OVER (PARTITION BY person_id ORDER BY vf, vt ROWS UNBOUNDED PRECEDING)
                          AS grp
                FROM q)
            SELECT person_id, min(vf) AS vf, max(vt) AS vt, bool_or(res) AS res
            FROM g GROUP BY person_id, grp""")
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_rep AS
            -- (1) deregistered while the crossings say present: the departure was missed
            WITH dr AS (
                SELECT person_id, max(deregistration_date) AS dd,
                       max(registration_date) AS rr
                FROM _mi_rec WHERE kind = 'register' GROUP BY ALL),
            r1 AS (
                SELECT o.person_id, o.d + ((dr.dd - o.d) // 2)::INTEGER AS crossing_date,
                       'out' AS direction, o.k + 0.5 AS k, 'deregistration' AS repair
                FROM _mi_o o JOIN dr USING (person_id) LEFT JOIN persons p USING (person_id)
                WHERE o.k = o.last_k AND o.dir = 'in' AND dr.dd IS NOT NULL
                  AND o.d <= dr.dd AND dr.dd <= {ou}
                  AND (dr.rr IS NULL OR dr.rr <= dr.dd)
                  AND (p.death_date IS NULL OR p.death_date > dr.dd)),
            -- (2) first crossing an arrival, but registered since before the data (and not
            --     deregistered before it) or counted by a census before it: present until a
            --     missed departure (a registration within the data is no such evidence: it
            --     lags the arrival, and the person may have left in between)
            f_in AS (SELECT person_id, d AS x FROM _mi_o WHERE k = 1 AND dir = 'in'),
            e2 AS (
                SELECT f.person_id, f.x,
                       max({ds}) FILTER (
                           WHERE r.kind = 'register' AND r.registration_date <= {ds}
                             AND r.registration_date < f.x
                             AND (r.deregistration_date IS NULL
                                  OR r.deregistration_date >= f.x)) AS reg,
                       max(r.census_date) FILTER (
                           WHERE r.kind = 'census' AND r.census_date < f.x
                             AND r.census_date >= {ds}) AS cen
                FROM f_in f JOIN _mi_rec r USING (person_id) GROUP BY ALL),
            r2 AS (
                SELECT person_id, lo + ((x - lo) // 2)::INTEGER AS crossing_date, 'out', 0.5,
                       CASE WHEN lo = cen THEN 'census' ELSE 'register' END
                FROM (SELECT *, greatest(reg, cen) AS lo FROM e2) WHERE lo IS NOT NULL),
            -- (3) two departures in a row on x1 <= x2, and the visa island in force at x2
            --     began after x1: the missed arrival lies within that island (before x2)
            pairs AS (SELECT person_id, pd AS x1, d AS x2, pk FROM _mi_o
                      WHERE dir = 'out' AND pdir = 'out'),
            e3 AS (
                SELECT p.person_id, p.x1, p.x2, p.pk, arg_max(v.vf, v.vf) AS lo,
                       arg_max(least(v.vt, p.x2), v.vf) AS hi
                FROM pairs p JOIN _mi_visl v ON v.person_id = p.person_id AND v.vf <= p.x2
                GROUP BY ALL),
            r3 AS (
                SELECT person_id, lo + ((hi - lo) // 2)::INTEGER, 'in', pk + 0.5, 'visa'
                FROM e3 WHERE lo > x1),
            -- (5) two arrivals in a row on x1 <= x2, arrived on a visa island (no resident
            --     visa in it) that ended before x2: the missed departure was by its end
            ipairs AS (SELECT person_id, pd AS x1, d AS x2, pk FROM _mi_o
                       WHERE dir = 'in' AND pdir = 'in'),
            e5 AS (
                SELECT p.person_id, p.x1, p.x2, p.pk, arg_max(v.vt, v.vf) AS vt,
                       arg_max(v.res, v.vf) AS res
                FROM ipairs p JOIN _mi_visl v ON v.person_id = p.person_id AND v.vf <= p.x1
                GROUP BY ALL),
            r5 AS (
                SELECT person_id, x1 + ((vt + 1 - x1) // 2)::INTEGER, 'out', pk + 0.5, 'visa_end'
                FROM e5 WHERE x1 <= vt AND vt + 1 < x2 AND NOT res),
            -- (6) a foreign citizen known to the border file alone (no register, census, visa
            --     or list record): absent on a census night inside the interval the
            --     crossings leave open (before a first departure, after a last arrival)
            census_days AS (SELECT DISTINCT census_date AS c FROM _mi_rec
                            WHERE kind = 'census' AND census_date BETWEEN {ds} AND {ou}),
            unattested AS (
                SELECT r.person_id FROM _mi_rec r JOIN persons p USING (person_id)
                WHERE p.citizen = false GROUP BY ALL
                HAVING bool_and(r.kind = 'border')),
            r6 AS (
                SELECT o.person_id, c.c + 1 + ((o.d - c.c - 1) // 2)::INTEGER, 'in', 0.5,
                       'census_absent'
                FROM (SELECT o.person_id, o.d, max(c.c) AS c
                      FROM _mi_o o JOIN unattested USING (person_id)
                      JOIN census_days c ON c.c < o.d
                      WHERE o.k = 1 AND o.dir = 'out' GROUP BY ALL) o
                JOIN census_days c ON c.c = o.c
                UNION ALL
                SELECT o.person_id, o.d + ((c.c - o.d) // 2)::INTEGER, 'out', o.k + 0.5,
                       'census_absent'
                FROM (SELECT o.person_id, o.d, o.k, min(c.c) AS c
                      FROM _mi_o o JOIN unattested USING (person_id)
                      JOIN census_days c ON c.c > o.d
                      WHERE o.k = o.last_k AND o.dir = 'in' GROUP BY ALL) o
                JOIN census_days c ON c.c = o.c),
            -- (7) two crossings in one direction on x1 < x2 and the person counted by a
            --     census on c in between: the missed crossing is on c's side (an arrival in
            --     (x1, c], a departure in (c, x2]) unless a visa already bounds it
            --     (several census days in the gap: the one nearest the missed crossing —
            --     the first for a missed arrival, the last for a missed departure — so
            --     one gap gets one repair)
            r7 AS (
                SELECT o.person_id,
                       CASE o.dir WHEN 'out' THEN o.pd + ((o.c - o.pd) // 2)::INTEGER
                                  ELSE o.c + 1 + ((o.d - o.c - 1) // 2)::INTEGER END,
                       CASE o.dir WHEN 'out' THEN 'in' ELSE 'out' END, o.pk + 0.5, 'census'
                FROM (
                SELECT o.person_id, o.pd, o.d, o.dir, o.pk,
                       CASE o.dir WHEN 'out' THEN min(c.c) ELSE max(c.c) END AS c
                FROM _mi_o o
                JOIN (SELECT DISTINCT person_id, census_date AS c FROM _mi_rec
                      WHERE kind = 'census' AND census_date IS NOT NULL) c
                  ON c.person_id = o.person_id AND o.pd < c.c AND c.c < o.d
                WHERE o.dir = o.pdir
                  AND NOT EXISTS (SELECT 1 FROM e3 WHERE e3.person_id = o.person_id
                                  AND e3.pk = o.pk AND e3.lo > e3.x1
                                  AND {'true' if 'visa_bounds_missed_arrival' in self.repairs
                                       else 'false'})
                  AND NOT EXISTS (SELECT 1 FROM e5 WHERE e5.person_id = o.person_id
                                  AND e5.pk = o.pk AND e5.x1 <= e5.vt AND e5.vt + 1 < e5.x2
                                  AND NOT e5.res
                                  AND {'true' if 'visa_bounds_missed_departure' in self.repairs
                                       else 'false'})
                GROUP BY o.person_id, o.pd, o.d, o.dir, o.pk) o),
            -- (4) first crossing (after (2)) a departure and the visa island in force / the
            --     registration began within the data: the person arrived in between, not
            --     before the data
            f_out AS (SELECT person_id, d AS x FROM _mi_o WHERE k = 1 AND dir = 'out'
                      {"UNION ALL SELECT person_id, crossing_date FROM r2"
                       if "present_before_first_arrival" in self.repairs else ""}),
            e4v AS (
                SELECT f.person_id, arg_max(v.vf, v.vf) AS vis,
                       arg_max(least(v.vt, f.x), v.vf) AS vis_end
                FROM f_out f JOIN _mi_visl v ON v.person_id = f.person_id AND v.vf <= f.x
                GROUP BY ALL),
            e4 AS (
                SELECT f.person_id, f.x, any_value(v.vis) AS vis, any_value(v.vis_end) AS vis_end,
                       min(r.registration_date) FILTER (WHERE r.kind = 'register') AS reg,
                       min(r.census_date) FILTER (WHERE r.kind = 'census'
                                                  AND r.census_date >= {ds}) AS cen
                FROM f_out f JOIN _mi_rec r USING (person_id)
                LEFT JOIN e4v v USING (person_id) GROUP BY ALL),
            e4b AS (
                SELECT e.*, least(e.reg, e.cen, e.vis_end, e.x) AS hi
                FROM e4 e LEFT JOIN persons p USING (person_id)
                WHERE least(e.vis, e.reg) > {ds} AND least(e.vis, e.reg) <= e.x
                  AND NOT (coalesce(p.native_born, false) AND p.birth_date >= {ds})),
            r4 AS (
                SELECT person_id,
                       CASE WHEN vis IS NOT NULL AND vis <= hi
                            THEN vis + ((hi - vis) // 2)::INTEGER ELSE hi END,
                       'in', 0.25, CASE WHEN vis IS NOT NULL AND vis <= hi THEN 'visa'
                                       WHEN hi = cen THEN 'census' ELSE 'register' END
                FROM e4b)
            SELECT * FROM (
                {" UNION ALL ".join(f"SELECT * FROM {REPAIRS[r]}" for r in self.repairs)
                 or "SELECT * FROM r1 WHERE false"}
            ) AS t(person_id, crossing_date, direction, k, repair)""")

    # ------------------------------------------------------------------ residence persons
    def _residence_persons(self, con) -> None:
        ds = _date_sql(self.data_start)
        con.execute(f"""
            CREATE OR REPLACE TABLE residence_persons AS
            WITH first AS (
                SELECT person_id, arg_min(crossing_date, (crossing_date, seq)) AS fd,
                       arg_min(direction, (crossing_date, seq)) AS fdir
                FROM crossings GROUP BY ALL),
            ev AS (
                SELECT r.person_id,
                       bool_or(r.kind = 'register' AND f.fd IS NOT NULL
                               AND r.registration_date < f.fd
                               AND (r.deregistration_date IS NULL
                                    OR r.deregistration_date >= f.fd)) AS reg_cover,
                       bool_or(r.kind = 'census' AND r.census_date < f.fd) AS census_before,
                       bool_or(r.kind = 'visa' AND f.fdir = 'in'
                               AND r.valid_from <= f.fd) AS visa_before_in,
                       bool_or(r.kind IN ('register', 'census')) AS reg_or_census,
                       max(r.valid_to) FILTER (WHERE r.kind = 'visa') AS permit_valid_until,
                       min(r.registration_date) FILTER (WHERE r.kind = 'register')
                           AS first_reg
                FROM _mi_rec r LEFT JOIN first f USING (person_id) GROUP BY ALL)
            SELECT p.person_id, p.citizen,
                   CASE WHEN f.fd IS NULL THEN
                            CASE WHEN e.reg_or_census THEN 'resident' END
                        WHEN e.reg_cover OR e.census_before THEN 'resident'
                        WHEN e.visa_before_in THEN 'non_resident' END AS initial_status,
                   e.permit_valid_until, p.native_born,
                   -- unknown birth date of a native-born person seen only in the register,
                   -- registered within the data (in the year of birth or the next): born
                   -- no later than the registration, so not present before it
                   coalesce(p.birth_date, CASE
                       WHEN f.fd IS NULL AND p.native_born AND e.first_reg > {ds}
                            AND coalesce(p.birth_year, year(e.first_reg))
                                >= year(e.first_reg) - 1
                       THEN e.first_reg END) AS birth_date,
                   p.death_date
            FROM persons p LEFT JOIN first f USING (person_id) LEFT JOIN ev e USING (person_id)
            ORDER BY p.person_id""")

    # ------------------------------------------------------------------ stays
    def _stays(self, con) -> None:
        ds, ou = _date_sql(self.data_start), _date_sql(self.observed_until)
        # crossings within the data, with the missed crossings imputed (RESIDENCE.md)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_seq AS
            WITH c AS (
                SELECT person_id, crossing_date AS d, direction, purpose,
                       repair IS NOT NULL AS repaired, repair,
                       row_number() OVER (PARTITION BY person_id
                                          ORDER BY crossing_date, seq)::DOUBLE AS k
                FROM _mi_cx WHERE crossing_date <= {ou}),
            l AS (SELECT *, lag(d) OVER w AS pd, lag(direction) OVER w AS pdir FROM c
                  WINDOW w AS (PARTITION BY person_id ORDER BY k))
            SELECT person_id, d, direction, purpose, k, repaired AS imputed,
                   repair AS how FROM c
            UNION ALL
            SELECT person_id, pd + ((d - pd) // 2)::INTEGER,
                   CASE direction WHEN 'in' THEN 'out' ELSE 'in' END, NULL, k - 0.5, true,
                   'imputed_crossing'
            FROM l WHERE pdir = direction""")
        self.counts["imputed_crossings"] = con.execute(
            "SELECT count(*) FROM _mi_seq WHERE how = 'imputed_crossing'").fetchone()[0]
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _mi_stays0 AS
            WITH s AS (
                SELECT *, lead(d) OVER w AS nd, lead(imputed) OVER w AS nimp,
                       lead(how) OVER w AS nhow,
                       row_number() OVER w AS pos
                FROM _mi_seq WINDOW w AS (PARTITION BY person_id ORDER BY k)),
            first_out AS (SELECT person_id, d AS x, imputed, how FROM s
                          WHERE pos = 1 AND direction = 'out'),
            evid AS (
                SELECT f.person_id, f.x, f.imputed, f.how,
                       min(r.registration_date) FILTER (WHERE r.kind = 'register'
                           AND r.registration_date <= f.x) AS reg,
                       min(r.valid_from) FILTER (WHERE r.kind = 'visa'
                           AND r.valid_from <= f.x) AS visa,
                       min(r.census_date) FILTER (WHERE r.kind = 'census'
                           AND r.census_date BETWEEN {ds} AND f.x) AS census
                FROM first_out f LEFT JOIN _mi_rec r USING (person_id) GROUP BY ALL),
            lower0 AS (
                SELECT e.*, p.birth_date AS b, coalesce(p.native_born, false) AS nb,
                       greatest({ds}, coalesce(least(reg, visa), {ds})) AS lo0
                FROM evid e LEFT JOIN persons p USING (person_id)),
            lower AS (   -- nobody is present before birth; native-born: present from birth
                SELECT *, least(x, CASE WHEN nb AND b BETWEEN {ds} AND x THEN b
                                        ELSE greatest(lo0, coalesce(b, lo0)) END) AS lo
                FROM lower0)
            SELECT person_id, d AS start_date, coalesce(nd, {ou} + 1) AS end_date,
                   NOT imputed AS start_observed, coalesce(NOT nimp, false) AS end_observed,
                   CASE WHEN imputed THEN 'imputed_crossing' END AS start_repair,
                   CASE WHEN nd IS NULL THEN 'open' WHEN nimp THEN 'imputed_crossing'
                        END AS end_repair, purpose,
                   CASE WHEN imputed THEN nullif(how, 'imputed_crossing') END AS start_ev,
                   CASE WHEN nd IS NOT NULL AND nimp THEN nullif(nhow, 'imputed_crossing')
                        END AS end_ev
            FROM s WHERE direction = 'in'
            UNION ALL
            SELECT person_id, least(lo, census) AS start_date, x AS end_date,
                   false, NOT imputed,
                   CASE WHEN census < lo THEN 'census'
                        WHEN lo = b AND b > {ds} THEN 'birth'
                        WHEN lo = reg AND reg > {ds} THEN 'register'
                        WHEN lo = visa AND visa > {ds} THEN 'visa'
                        ELSE 'data_start' END,
                   CASE WHEN imputed THEN 'imputed_crossing' END, NULL, NULL,
                   CASE WHEN imputed THEN nullif(how, 'imputed_crossing') END
            FROM lower""")
        # persons with no crossings: register periods (merged), else census presence
        con.execute(f"""
            INSERT INTO _mi_stays0
            WITH nocx AS (
                SELECT DISTINCT person_id FROM _mi_rec
                WHERE kind IN ('register', 'census')
                  AND person_id NOT IN (SELECT person_id FROM _mi_seq)),
            reg AS (   -- a birth registration of a native-born person starts at birth
                SELECT r.person_id,
                       CASE WHEN p.native_born AND p.birth_date >= {ds}
                                 AND r.registration_date BETWEEN p.birth_date
                                                             AND p.birth_date + 365
                            THEN p.birth_date
                            ELSE greatest(coalesce(r.registration_date, {ds}), {ds},
                                          coalesce(p.birth_date, {ds})) END AS s,
                       least(coalesce(r.deregistration_date, {ou} + 1), {ou} + 1) AS e,
                       r.deregistration_date IS NOT NULL
                           AND r.deregistration_date <= {ou} AS closed
                FROM _mi_rec r JOIN nocx USING (person_id)
                LEFT JOIN persons p USING (person_id)
                WHERE r.kind = 'register'
                  AND coalesce(r.registration_date, {ds}) <= {ou}),
            q AS (
                SELECT *, max(e) OVER (PARTITION BY person_id ORDER BY s, e
                          ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_e
                FROM reg WHERE s <= e),
            g AS (
                SELECT *, sum(CASE WHEN prev_e IS NULL OR s > prev_e THEN 1 ELSE 0 END)
                          OVER (PARTITION BY person_id ORDER BY s, e ROWS UNBOUNDED PRECEDING)
                          AS grp
                FROM q)
            SELECT person_id, min(s), max(e), false, false, 'register',
                   CASE WHEN arg_max(closed, e) THEN 'deregistration' ELSE 'open' END, NULL,
                   NULL, NULL
            FROM g GROUP BY person_id, grp
            UNION ALL
            SELECT person_id, {ds}, {ou} + 1, false, false, 'census', 'open', NULL, NULL, NULL
            FROM nocx WHERE person_id NOT IN (
                SELECT person_id FROM _mi_rec WHERE kind = 'register')""")
        # death ends a stay; visa context; final table
        con.execute("""
            CREATE OR REPLACE TABLE stays AS
            WITH d AS (
                SELECT s.*, p.death_date FROM _mi_stays0 s
                LEFT JOIN persons p USING (person_id)
                WHERE p.death_date IS NULL OR s.start_date <= p.death_date),
            cut AS (
                SELECT person_id, start_date,
                       CASE WHEN end_date > death_date THEN death_date ELSE end_date END
                           AS end_date,
                       start_observed,
                       CASE WHEN end_date > death_date THEN false ELSE end_observed END
                           AS end_observed,
                       start_repair,
                       CASE WHEN end_date > death_date THEN 'death' ELSE end_repair END
                           AS end_repair,
                       purpose, start_ev,
                       CASE WHEN end_date > death_date THEN NULL ELSE end_ev END AS end_ev
                FROM d),
            v AS (
                SELECT c.person_id, c.start_date,
                       arg_max(r.visa_category,
                               (r.valid_from <= c.start_date,
                                CASE WHEN r.valid_from <= c.start_date THEN epoch(r.valid_from)
                                     ELSE -epoch(r.valid_from) END, r.visa_category,
                                r.purpose)) AS visa_category,
                       arg_max(r.purpose,
                               (r.valid_from <= c.start_date,
                                CASE WHEN r.valid_from <= c.start_date THEN epoch(r.valid_from)
                                     ELSE -epoch(r.valid_from) END, r.visa_category,
                                r.purpose)) AS visa_purpose
                FROM cut c JOIN _mi_rec r
                  ON r.person_id = c.person_id AND r.kind = 'visa'
                 AND coalesce(r.valid_from, DATE '0001-01-01') <= greatest(c.end_date,
                                                                           c.start_date)
                 AND coalesce(r.valid_to, DATE '9999-12-31') >= c.start_date
                GROUP BY ALL)
            SELECT c.person_id,
                   row_number() OVER (PARTITION BY c.person_id ORDER BY c.start_date,
                                      c.end_date) AS stay_seq,
                   c.start_date, c.end_date, c.start_observed, c.end_observed,
                   c.start_repair, c.end_repair,
                   nullif(concat_ws(',',
                                    'start:' || c.start_repair
                                    || coalesce('(' || c.start_ev || ')', ''),
                                    'end:' || c.end_repair
                                    || coalesce('(' || c.end_ev || ')', '')), '') AS repair,
                   c.end_date - c.start_date AS days_present,
                   coalesce(c.purpose, v.visa_purpose) AS purpose, v.visa_category,
                   v.visa_purpose
            FROM cut c LEFT JOIN v ON v.person_id = c.person_id AND v.start_date = c.start_date
            ORDER BY c.person_id, stay_seq""")

    # ------------------------------------------------------------------ driver
    def fit(self, con, cfg) -> "MicroIntegrator":
        self._prepare(con, cfg)
        self._persons(con, cfg)
        self._crossings(con)
        self._residence_persons(con)
        self._stays(con)
        for t in ("persons", "person_conflicts", "residence_persons", "stays"):
            self.counts[t] = con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
        for kind, n in con.execute("""
                SELECT r, count(*) FROM (
                    SELECT 'start:' || start_repair AS r FROM stays WHERE start_repair IS NOT NULL
                    UNION ALL
                    SELECT 'end:' || end_repair FROM stays WHERE end_repair IS NOT NULL)
                GROUP BY r ORDER BY r""").fetchall():
            self.counts[f"repair {kind}"] = n
        for t in ("_mi_kinds", "_mi_rec", "_mi_cx_raw", "_mi_long", "_mi_attr", "_mi_cit",
                  "_mi_citp", "_mi_seq", "_mi_stays0", "_mi_cx", "_mi_cx0", "_mi_o", "_mi_rep",
                  "_mi_visl"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        self.counts["data_start"] = self.data_start
        self.counts["observed_until"] = self.observed_until
        return self


def integrate(con, cfg, repairs: tuple[str, ...] | None = None) -> dict:
    """Write ``persons``, ``person_conflicts``, ``crossings``, ``residence_persons`` and
    ``stays`` (module docstring; RESIDENCE.md) and return the run's counts. ``repairs``: the
    names of :data:`REPAIRS` to apply (default all)."""
    return MicroIntegrator(repairs=repairs).fit(con, cfg).counts
