"""Stock and flow tables, population accounts and SDG disaggregation (macro-integration).

Definitions (UN E/CN.3/2021/11, Annex I; the resident population per RESIDENCE.md's rules):

* resident population — "all persons who ... have lived in the country of measurement for
  most of the past 12 months ... or for at least 12 months" (the ``residence`` table's
  ``resident`` under each rule);
* foreign-born / native-born population (stock) — residents "born in another country" /
  "born in that country" (``persons.native_born``, else birth_country = ``cfg.country``);
* foreign citizen / national citizen population (stock) — residents who "do not hold" /
  "hold citizenship of that country" at the reference date (``citizen``, and not before
  ``naturalisation_date``);
* immigrant population (stock) — residents "born in another country, or [who] hold
  citizenship of another country, or are stateless": everyone but native-born citizens
  (Annex I wording; the foreign-born alone are the ``foreign_born`` row);
* returned migrants (stock) — residents who "previously resided in the country ..., have
  emigrated and subsequently come back": an immigration counted on or before the date that
  follows an emigration, or of a native-born person (born here, so resided before);
  returned native-born migrants — the native-born among them;
* temporary (non-resident) population — "persons present ... staying ... for less than the
  minimum duration required to be considered residents": status ``temporary_present``;
  present population — residents present and temporary population;
* the four subpopulations of the accounts (native-born citizens, native-born foreign
  citizens, foreign-born citizens, foreign-born foreign citizens; Annex II, coherence of
  flows and stocks).

Flows (Annex I: immigration, emigration, returning citizens, returning native-born) count
``migration_events`` (movements, so a person moving twice counts twice) in periods (t0, t1]
between consecutive reference dates, and in the 12 months before the first one; an event
falls in the period of its ``event_date`` under 12/16 and of its ``decided_on`` under 6/12
and 12/12 (RESIDENCE.md "Migration events"), so that stocks change by exactly the flows.
Births and deaths come from ``residence_vital`` (written by the residence classifier).
A returning citizen is an immigrant who is a citizen on the counting date (so a person
naturalised later is not one), falling back on ``migration_events.returning_citizen``
when citizenship is unknown; a returning native-born is a native-born immigrant.

Every table is long (one ``value`` column) with the key columns
``reference_date|period_start, period_end, rule, population|flow, sex, variable, category``:
``variable`` is ``total`` (category ``total``) or one of the age groupings
(``cfg.tables['age_groups']``: {name: [lower bounds]}, default ``age_5y`` 0, 5, ..., 85+ and
``age_broad`` 0-14, 15-64, 65+), ``citizenship`` and ``birth_country`` (ISO alpha-3, or the
groups of ``cfg.tables['country_groups']``: {group: [ISO3, ...]}, any other country
``other``, the country of measurement its own code unless a group holds it, missing
``unknown``); ``sex`` is F, M, X, ``unknown`` or ``total``.  Age is in completed years at
the reference date (at the counting date for flows).  Disclosure control
(integrators.disclosure) protects each population's cells jointly, with every additive
relation between them (sex totals, category totals, nested age groups); the accounts
publish their opening and closing stocks exactly as the stocks table does.  Not modelled:
relations *between* populations (e.g. resident = native-born + foreign-born + unknown
birthplace), so a cell suppressed in one population can be bounded from two others;
configure coarser groups or use ``method: round`` where that matters.
"""

from __future__ import annotations

import datetime as _dt
import re
from pathlib import Path

import numpy as np
import pandas as pd

from integrators.accounts import ACCOUNT_COLUMNS, PopulationAccounts
from integrators.disclosure import (check_no_identifiers, disclosure_settings, protect_frame)
from linkage.db import has_table as _has, table_columns as _columns
from linkage.errors import MiglinkError
from linkage.io import write_df_csv
from linkage.schema import SUBPOPULATIONS

DEFAULT_AGE_GROUPS = {"age_5y": list(range(0, 90, 5)), "age_broad": [0, 15, 65]}

STOCK_POPULATIONS = (
    "resident_population", "native_born", "foreign_born", "national_citizens",
    "foreign_citizens", "immigrant_population", *SUBPOPULATIONS, "returned_migrants",
    "returned_native_born_migrants", "temporary_population", "present_population",
)
FLOWS = ("immigration", "emigration", "returning_citizens", "returning_native_born",
         "births", "deaths")


# ----------------------------------------------------------------------------------------------
# helpers
def _lit(d) -> str:
    return f"DATE '{pd.Timestamp(d).date().isoformat()}'"


def _q(s: str) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def age_groups(cfg) -> dict[str, list[int]]:
    """The age groupings: {name: increasing lower bounds starting at 0} (validated)."""
    tables = getattr(cfg, "tables", None) or {}
    groups = tables.get("age_groups") or DEFAULT_AGE_GROUPS
    if not isinstance(groups, dict):
        raise MiglinkError("must be a mapping {name: [lower bounds]}",
                           file=str(getattr(cfg, "path", "config")), column="tables.age_groups")
    out = {}
    for name, bounds in groups.items():
        if isinstance(bounds, int) and not isinstance(bounds, bool) and bounds > 0:
            bounds = list(range(0, 90, bounds))
        ok = (isinstance(bounds, list) and bounds and all(isinstance(b, int)
              and not isinstance(b, bool) for b in bounds) and bounds[0] == 0
              and all(a < b for a, b in zip(bounds, bounds[1:])))
        if not ok or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(name)) or name in (
                "total", "citizenship", "birth_country"):
            raise MiglinkError(f"age group {name!r} needs increasing whole-number lower "
                               f"bounds starting at 0 (e.g. [0, 15, 65])",
                               file=str(getattr(cfg, "path", "config")),
                               column=f"tables.age_groups.{name}")
        out[str(name)] = bounds
    return out


def _age_labels(bounds: list[int]) -> list[str]:
    return [f"{lo}-{hi - 1}" for lo, hi in zip(bounds, bounds[1:])] + [f"{bounds[-1]}+"]


def _age_case(expr: str, bounds: list[int]) -> str:
    labels = _age_labels(bounds)
    parts = [f"WHEN {expr} >= {b} THEN {_q(lab)}" for b, lab in
             reversed(list(zip(bounds, labels)))]
    return f"CASE WHEN {expr} IS NULL OR {expr} < 0 THEN 'unknown' {' '.join(parts)} END"


def country_groups(cfg) -> dict[str, list[str]]:
    tables = getattr(cfg, "tables", None) or {}
    groups = tables.get("country_groups") or {}
    if not isinstance(groups, dict) or not all(
            isinstance(v, list) and all(isinstance(c, str) for c in v) for v in groups.values()):
        raise MiglinkError("must be a mapping {group: [ISO3, ...]}",
                           file=str(getattr(cfg, "path", "config")),
                           column="tables.country_groups")
    return {str(k): [c.upper() for c in v] for k, v in groups.items()}


def _country_case(expr: str, groups: dict[str, list[str]], country: str | None) -> str:
    if not groups:
        return f"coalesce({expr}, 'unknown')"
    parts = [f"WHEN {expr} IN ({', '.join(_q(c) for c in codes)}) THEN {_q(g)}"
             for g, codes in groups.items() if codes]
    own = f"WHEN {expr} = {_q(country)} THEN {_q(country)}" if country else ""
    return f"CASE WHEN {expr} IS NULL THEN 'unknown' {' '.join(parts)} {own} ELSE 'other' END"


def _people(con, cfg, name: str = "_st_people") -> None:
    """Person attributes the tables need, whatever optional columns ``persons`` has."""
    cols = _columns(con, "persons")
    if not cols:
        raise MiglinkError("table 'persons' is missing: run the micro step first")
    country = getattr(cfg, "country", None)
    c = lambda col, typ: col if col in cols else f"CAST(NULL AS {typ})"  # noqa: E731
    nb = (f"coalesce({c('native_born', 'BOOLEAN')}, {c('birth_country', 'VARCHAR')} = "
          f"{_q(country)})" if country else c("native_born", "BOOLEAN"))
    cit = (f"coalesce({c('citizen', 'BOOLEAN')}, {c('citizenship', 'VARCHAR')} = "
           f"{_q(country)})" if country else c("citizen", "BOOLEAN"))
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        SELECT person_id, coalesce(CAST({c('sex', 'VARCHAR')} AS VARCHAR), 'unknown') AS sex,
               CAST({c('birth_date', 'DATE')} AS DATE) AS birth_date,
               CAST({c('birth_year', 'INTEGER')} AS INTEGER) AS birth_year,
               CAST({c('birth_country', 'VARCHAR')} AS VARCHAR) AS birth_country,
               CAST({c('citizenship', 'VARCHAR')} AS VARCHAR) AS citizenship,
               CAST({nb} AS BOOLEAN) AS native_born, CAST({cit} AS BOOLEAN) AS citizen,
               CAST({c('naturalisation_date', 'DATE')} AS DATE) AS naturalisation_date,
               CAST({c('death_date', 'DATE')} AS DATE) AS death_date
        FROM persons""")


def _cit_at(t: str, p: str = "p") -> str:
    """Citizen at date t: a citizen, and not before the naturalisation date."""
    return (f"(CASE WHEN {p}.citizen AND {p}.naturalisation_date IS NOT NULL "
            f"AND {p}.naturalisation_date > {t} THEN false ELSE {p}.citizen END)")


def _group_at(t: str, p: str = "p") -> str:
    ca = _cit_at(t, p)
    return (f"(CASE WHEN {p}.native_born IS NULL OR {ca} IS NULL THEN NULL "
            f"WHEN {p}.native_born AND {ca} THEN 'native_born_citizens' "
            f"WHEN {p}.native_born THEN 'native_born_foreign_citizens' "
            f"WHEN {ca} THEN 'foreign_born_citizens' "
            f"ELSE 'foreign_born_foreign_citizens' END)")


def _age_at(t: str, p: str = "p") -> str:
    return (f"(CASE WHEN {p}.birth_date IS NOT NULL THEN date_sub('year', {p}.birth_date, {t}) "
            f"ELSE year({t}) - {p}.birth_year END)")


def _aggregate(con, members: str, keys: list[str], date_col: str, cfg) -> pd.DataFrame:
    """Counts of a person-level members table by sex x each breakdown variable.

    Two stages: members are first counted by (keys, sex, age in years, citizenship and
    birth-country categories) — a small table whatever the population —, and the
    breakdowns are summed from it with GROUPING SETS.
    """
    groups = country_groups(cfg)
    country = getattr(cfg, "country", None)
    t = f"m.{date_col}"
    cit = (f"(CASE WHEN p.citizen AND NOT {_cit_at(t)} THEN NULL "
           f"ELSE p.citizenship END)")
    km = ", ".join("m." + k for k in keys)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _st_cube AS
        SELECT {km}, p.sex AS sex, {_age_at(t)} AS age,
               {_country_case(cit, groups, country)} AS cit,
               {_country_case('p.birth_country', groups, country)} AS bc, count(*) AS n
        FROM {members} m JOIN _st_people p USING (person_id)
        GROUP BY ALL""")
    bd = {"total": "'total'"}
    for name, bounds in age_groups(cfg).items():
        bd[name] = _age_case("age", bounds)
    bd["citizenship"] = "cit"
    bd["birth_country"] = "bc"
    parts = [f"SELECT {', '.join(keys)}, sex, {_q(var)} AS variable, {expr} AS category, n "
             f"FROM _st_cube" for var, expr in bd.items()]
    kq = ", ".join(keys)
    sql = f"""
        WITH x AS ({' UNION ALL '.join(parts)})
        SELECT {kq}, CASE WHEN grouping(sex) = 1 THEN 'total' ELSE sex END AS sex,
               variable, category, CAST(sum(n) AS BIGINT) AS value
        FROM x GROUP BY GROUPING SETS (({kq}, variable, category, sex),
                                       ({kq}, variable, category))
        ORDER BY ALL"""
    return con.execute(sql).df()


# ----------------------------------------------------------------------------------------------
# disclosure relations for the long tables
def _nesting(cfg) -> list[tuple[str, str, dict[str, str]]]:
    """(fine, coarse, {fine label: coarse label}) for age groupings that nest."""
    ag = age_groups(cfg)
    out = []
    for fine, fb in ag.items():
        for coarse, cb in ag.items():
            if fine != coarse and set(cb) < set(fb):
                fl, cl = _age_labels(fb), _age_labels(cb)
                m = {}
                for b, lab in zip(fb, fl):
                    j = max(i for i, c in enumerate(cb) if c <= b)
                    m[lab] = cl[j]
                m["unknown"] = "unknown"
                out.append((fine, coarse, m))
    return out


def long_table_relations(cfg):
    """Relation builder for a slice of a stock/flow table (one population at one date)."""
    nest = _nesting(cfg)

    def rel(part: pd.DataFrame) -> np.ndarray:
        n = len(part)
        v = part["variable"].to_numpy(dtype=object)
        c = part["category"].to_numpy(dtype=object)
        s = part["sex"].to_numpy(dtype=object)
        cell = np.arange(n)
        rid, col, val = [], [], []
        nrel = 0

        def add(groups: np.ndarray, members: np.ndarray, sign: float) -> None:
            rid.append(groups[members])
            col.append(cell[members])
            val.append(np.full(int(members.sum()), sign))

        # 1. sex cells add up to the sex total of each (variable, category)
        g1 = pd.factorize(pd.Series(v + "\x00" + c))[0]
        add(g1, s != "total", 1.0)
        add(g1, s == "total", -1.0)
        nrel = g1.max() + 1 if n else 0
        # 2. categories of each variable add up to the total row, for every sex
        sub = v != "total"
        key = pd.Series(np.where(sub, v, "") + "\x00" + s)
        g2 = pd.factorize(key)[0] + nrel
        add(g2, sub, 1.0)
        # the total row's cell of sex s enters every (variable, s) relation with -1
        tot_of_sex = {sx: i for i, (vv, sx) in enumerate(zip(v, s)) if vv == "total"}
        pairs = pd.DataFrame({"g": g2[sub], "s": s[sub]}).drop_duplicates()
        t_idx = pairs["s"].map(tot_of_sex)
        ok = t_idx.notna().to_numpy()
        rid.append(pairs["g"].to_numpy()[ok])
        col.append(t_idx.to_numpy()[ok].astype(int))
        val.append(np.full(int(ok.sum()), -1.0))
        nrel = (g2[sub].max() + 1) if sub.any() else nrel
        # 3. nested age groupings: coarse cell = sum of its fine cells, per sex
        for fine, coarse, m in nest:
            fm = v == fine
            cm = v == coarse
            if not fm.any():
                continue
            parent = pd.Series(c[fm]).map(m).fillna("\x01").to_numpy(dtype=object)
            k3 = pd.Series(parent + "\x00" + s[fm])
            codes, uniq = pd.factorize(k3)
            rid.append(codes + nrel)
            col.append(cell[fm])
            val.append(np.ones(int(fm.sum())))
            lookup = {u: i for i, u in enumerate(uniq)}
            ck = pd.Series(c[cm] + "\x00" + s[cm]).map(lookup)
            okc = ck.notna().to_numpy()
            rid.append(ck.to_numpy()[okc].astype(int) + nrel)
            col.append(cell[cm][okc])
            val.append(np.full(int(okc.sum()), -1.0))
            nrel += len(uniq)
        r = np.concatenate(rid).astype(int) if rid else np.zeros(0, int)
        A = np.zeros((int(nrel), n))
        np.add.at(A, (r, np.concatenate(col).astype(int)), np.concatenate(val))
        return A

    return rel


# ----------------------------------------------------------------------------------------------
# stocks and flows
def _reference_dates(con, cfg) -> list[_dt.date]:
    res = getattr(cfg, "residence", None)
    dates = list(getattr(res, "reference_dates", None) or [])
    if not dates:
        dates = [r[0] for r in con.execute(
            "SELECT DISTINCT reference_date FROM residence ORDER BY 1").fetchall()]
    return sorted({pd.Timestamp(d).date() for d in dates})


def _rules(con, cfg) -> list[str]:
    res = getattr(cfg, "residence", None)
    rules = list(getattr(res, "rules", None) or [])
    present = [r[0] for r in con.execute("SELECT DISTINCT rule FROM residence ORDER BY 1")
               .fetchall()]
    return [r for r in rules if r in present] or present


def _cdate(rule_col: str = "e.rule", e: str = "e") -> str:
    return f"(CASE WHEN {rule_col} = '12/16' THEN {e}.event_date ELSE {e}.decided_on END)"


def stock_members(con, cfg, name: str = "_st_members") -> None:
    """Person-level membership: (person_id, reference_date, rule, population)."""
    ev = _has(con, "migration_events")
    ret = "false"
    if ev:
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE _st_ret AS
            SELECT r.person_id, r.reference_date, r.rule
            FROM residence r JOIN _st_people p USING (person_id)
            JOIN migration_events i ON i.person_id = r.person_id AND i.rule = r.rule
                 AND i.event = 'immigration' AND {_cdate('i.rule', 'i')} <= r.reference_date
            WHERE r.resident AND (p.native_born OR EXISTS (
                  SELECT 1 FROM migration_events o WHERE o.person_id = i.person_id
                  AND o.rule = i.rule AND o.event = 'emigration'
                  AND {_cdate('o.rule', 'o')} < {_cdate('i.rule', 'i')}))
            GROUP BY ALL""")
        ret = ("EXISTS (SELECT 1 FROM _st_ret x WHERE x.person_id = r.person_id "
               "AND x.reference_date = r.reference_date AND x.rule = r.rule)")
    t = "r.reference_date"
    ca = _cit_at(t)
    g = _group_at(t)
    conds = {
        "resident_population": "r.resident",
        "native_born": "r.resident AND p.native_born",
        "foreign_born": "r.resident AND NOT p.native_born",
        "national_citizens": f"r.resident AND {ca}",
        "foreign_citizens": f"r.resident AND NOT {ca}",
        "immigrant_population": f"r.resident AND (NOT p.native_born OR NOT {ca})",
        **{s: f"r.resident AND {g} = {_q(s)}" for s in SUBPOPULATIONS},
        "returned_migrants": f"r.resident AND {ret}",
        "returned_native_born_migrants": f"r.resident AND p.native_born AND {ret}",
        "temporary_population": "r.status = 'temporary_present'",
        "present_population": "r.status IN ('resident_present', 'temporary_present')",
    }
    cols = ", ".join(f"coalesce({c}, false) AS \"{k}\"" for k, c in conds.items())
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _st_flags AS
        SELECT r.person_id, r.reference_date, r.rule, {cols}
        FROM residence r JOIN _st_people p USING (person_id)""")
    unpiv = " UNION ALL ".join(
        f"SELECT person_id, reference_date, rule, {_q(k)} AS population FROM _st_flags "
        f"WHERE \"{k}\"" for k in conds)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {unpiv}")


def _periods(dates: list[_dt.date]) -> list[tuple[_dt.date, _dt.date]]:
    if not dates:
        return []
    first = (pd.Timestamp(dates[0]) - pd.DateOffset(years=1)).date()
    return [(first, dates[0])] + list(zip(dates[:-1], dates[1:]))


def flow_members(con, cfg, dates, name: str = "_st_fmembers") -> None:
    """Event-level flows: (person_id, period_start, period_end, rule, flow, event_day)."""
    periods = _periods(dates)
    vals = ", ".join(f"({_lit(a)}, {_lit(b)})" for a, b in periods) or \
        "(DATE '1900-01-01', DATE '1900-01-01')"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _st_periods AS SELECT * FROM (VALUES {vals}) "
                f"v(period_start, period_end)")
    parts = []
    if _has(con, "migration_events"):
        ecols = _columns(con, "migration_events")
        rc = "e.returning_citizen" if "returning_citizen" in ecols else "NULL"
        nb = "coalesce(e.native_born, p.native_born)" if "native_born" in ecols \
            else "p.native_born"
        parts.append(f"""
            SELECT e.person_id, w.period_start, w.period_end, e.rule, f.flow,
                   {_cdate()} AS event_day
            FROM migration_events e JOIN _st_people p USING (person_id)
            JOIN _st_periods w ON {_cdate()} > w.period_start AND {_cdate()} <= w.period_end
            JOIN (VALUES ('immigration'), ('emigration'), ('returning_citizens'),
                         ('returning_native_born')) f(flow)
              ON (f.flow = e.event)
              OR (f.flow = 'returning_citizens' AND e.event = 'immigration'
                  AND coalesce({_cit_at(_cdate())}, {rc}, false))
              OR (f.flow = 'returning_native_born' AND e.event = 'immigration'
                  AND coalesce({nb}, false))""")
    if _has(con, "residence_vital"):
        for flow, col, flag in (("births", "birth_date", "birth_counts"),
                                ("deaths", "death_date", "death_counts")):
            parts.append(f"""
                SELECT v.person_id, w.period_start, w.period_end, v.rule, {_q(flow)} AS flow,
                       v.{col} AS event_day
                FROM residence_vital v JOIN _st_periods w
                  ON v.{col} > w.period_start AND v.{col} <= w.period_end
                WHERE v.{flag}""")
    if not parts:
        con.execute(f"""CREATE OR REPLACE TEMP TABLE {name} (person_id BIGINT,
                        period_start DATE, period_end DATE, rule VARCHAR, flow VARCHAR,
                        event_day DATE)""")
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {' UNION ALL '.join(parts)}")


def stock_table(con, cfg) -> pd.DataFrame:
    """Unprotected stock counts (long)."""
    _people(con, cfg)
    stock_members(con, cfg)
    df = _aggregate(con, "_st_members", ["reference_date", "rule", "population"],
                    "reference_date", cfg)
    df["population"] = pd.Categorical(df["population"], STOCK_POPULATIONS, ordered=True)
    df = _order(df, ["reference_date", "rule", "population"], cfg)
    df["population"] = df["population"].astype(str)
    return df


def flow_table(con, cfg, dates) -> pd.DataFrame:
    """Unprotected flow counts (long)."""
    _people(con, cfg)
    flow_members(con, cfg, dates)
    df = _aggregate(con, "_st_fmembers", ["period_start", "period_end", "rule", "flow"],
                    "event_day", cfg)
    df["flow"] = pd.Categorical(df["flow"], FLOWS, ordered=True)
    df = _order(df, ["period_start", "period_end", "rule", "flow"], cfg)
    df["flow"] = df["flow"].astype(str)
    return df


def _order(df: pd.DataFrame, keys: list[str], cfg) -> pd.DataFrame:
    """Rows in reading order: total first, age groups by age, countries alphabetically
    with other/unknown last, sex total, F, M, X, unknown."""
    ag = age_groups(cfg)
    var_rank = {v: i for i, v in enumerate(["total", *ag, "citizenship", "birth_country"])}
    age_rank = {(v, lab): i for v, b in ag.items() for i, lab in enumerate(_age_labels(b))}
    sex_rank = {"total": 0, "F": 1, "M": 2, "X": 3, "unknown": 4}
    cat = df["category"].astype(str)
    tail = cat.map({"other": 1, "unknown": 2}).fillna(0)
    arank = pd.Series([age_rank.get(k, -1) for k in zip(df["variable"], cat)], index=df.index)
    out = df.assign(_v=df["variable"].map(var_rank).fillna(99), _t=tail, _a=arank, _c=cat,
                    _s=df["sex"].map(sex_rank).fillna(5))
    out = out.sort_values([*keys, "_v", "_t", "_a", "_c", "_s"], kind="stable")
    return out.drop(columns=["_v", "_t", "_a", "_c", "_s"]).reset_index(drop=True)


# ----------------------------------------------------------------------------------------------
# population accounts from the linked data
def account_components(con, cfg, dates=None, rules=None) -> pd.DataFrame:
    """Components of the four subpopulations' accounts per rule and consecutive pair of
    reference dates, from the person-level tables (long: rule, period_start, period_end,
    component, group, to_group, value).

    Each person's contributions follow one timeline, so accounts built from one linked
    dataset balance exactly: opening/closing by the group at t0/t1; immigration, emigration,
    births and deaths by the group at their counting date; a naturalisation in (t0, t1] is
    a transition when the person was resident just before it (after every event dated
    before it).  Loss of citizenship is not observed and not modelled.
    """
    _people(con, cfg)
    dates = dates if dates is not None else _reference_dates(con, cfg)
    rules = rules if rules is not None else _rules(con, cfg)
    pairs = list(zip(dates[:-1], dates[1:]))
    if not pairs or not rules:
        return pd.DataFrame(columns=["rule", "period_start", "period_end", "component",
                                     "group", "to_group", "value"])
    vals = ", ".join(f"({_lit(a)}, {_lit(b)}, {_q(r)})" for a, b in pairs for r in rules)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _ac_w AS SELECT * FROM (VALUES {vals}) "
                f"v(t0, t1, rule)")
    has_ev = _has(con, "migration_events")
    has_vital = _has(con, "residence_vital")
    # dated resident-state changes inside each window: +1 (in) / -1 (out)
    ev_parts = []
    if has_ev:
        ev_parts.append(f"""
            SELECT w.t0, w.t1, w.rule, e.person_id, {_cdate()} AS d,
                   e.event AS component, CASE WHEN e.event = 'immigration' THEN 1 ELSE -1 END
                   AS sgn
            FROM migration_events e JOIN _ac_w w ON e.rule = w.rule
             AND {_cdate()} > w.t0 AND {_cdate()} <= w.t1
            WHERE e.event IN ('immigration', 'emigration')""")
    if has_vital:
        ev_parts.append("""
            SELECT w.t0, w.t1, w.rule, v.person_id, v.birth_date AS d, 'births', 1
            FROM residence_vital v JOIN _ac_w w ON v.rule = w.rule
             AND v.birth_date > w.t0 AND v.birth_date <= w.t1 WHERE v.birth_counts
            UNION ALL
            SELECT w.t0, w.t1, w.rule, v.person_id, v.death_date, 'deaths', -1
            FROM residence_vital v JOIN _ac_w w ON v.rule = w.rule
             AND v.death_date > w.t0 AND v.death_date <= w.t1 WHERE v.death_counts""")
    if not ev_parts:
        ev_parts.append("SELECT NULL::DATE t0, NULL::DATE t1, NULL::VARCHAR rule, "
                        "NULL::BIGINT person_id, NULL::DATE d, NULL::VARCHAR component, "
                        "NULL::INTEGER sgn WHERE false")
    con.execute("CREATE OR REPLACE TEMP TABLE _ac_ev AS " + " UNION ALL ".join(ev_parts))
    sql = f"""
        WITH open AS (
            SELECT w.t0, w.t1, w.rule, r.person_id, {_group_at('w.t0')} AS grp
            FROM _ac_w w JOIN residence r ON r.rule = w.rule AND r.reference_date = w.t0
            JOIN _st_people p ON p.person_id = r.person_id WHERE r.resident),
        close AS (
            SELECT w.t0, w.t1, w.rule, r.person_id, {_group_at('w.t1')} AS grp
            FROM _ac_w w JOIN residence r ON r.rule = w.rule AND r.reference_date = w.t1
            JOIN _st_people p ON p.person_id = r.person_id WHERE r.resident),
        flows AS (
            SELECT e.t0, e.t1, e.rule, e.component, {_group_at('e.d')} AS grp
            FROM _ac_ev e JOIN _st_people p USING (person_id)),
        nat AS (  -- naturalisations while resident
            SELECT w.t0, w.t1, w.rule, p.person_id,
                   CASE WHEN p.native_born THEN 'native_born_foreign_citizens'
                        ELSE 'foreign_born_foreign_citizens' END AS grp,
                   CASE WHEN p.native_born THEN 'native_born_citizens'
                        ELSE 'foreign_born_citizens' END AS to_grp,
                   coalesce((SELECT arg_max(e.sgn, e.d) FROM _ac_ev e
                             WHERE e.person_id = p.person_id AND e.rule = w.rule
                               AND e.t0 = w.t0 AND e.d < p.naturalisation_date) = 1,
                            coalesce((SELECT r.resident FROM residence r
                                      WHERE r.person_id = p.person_id AND r.rule = w.rule
                                        AND r.reference_date = w.t0), false)) AS res_before
            FROM _ac_w w JOIN _st_people p ON p.citizen AND p.native_born IS NOT NULL
             AND p.naturalisation_date > w.t0 AND p.naturalisation_date <= w.t1)
        SELECT rule, t0 AS period_start, t1 AS period_end, 'opening' AS component,
               grp AS "group", '' AS to_group, count(*) AS value
        FROM open WHERE grp IS NOT NULL GROUP BY ALL
        UNION ALL SELECT rule, t0, t1, 'closing', grp, '', count(*)
        FROM close WHERE grp IS NOT NULL GROUP BY ALL
        UNION ALL SELECT rule, t0, t1, component, grp, '', count(*)
        FROM flows WHERE grp IS NOT NULL GROUP BY ALL
        UNION ALL SELECT rule, t0, t1, 'transition', grp, to_grp, count(*)
        FROM nat WHERE res_before GROUP BY ALL"""
    df = con.execute(sql).df()
    # every group has an opening and a closing stock in every window, zero when empty
    full = pd.DataFrame([(r, a, b, c, g, "") for a, b in pairs for r in rules
                         for c in ("opening", "closing") for g in SUBPOPULATIONS],
                        columns=["rule", "period_start", "period_end", "component", "group",
                                 "to_group"])
    for c in ("period_start", "period_end"):
        full[c] = pd.to_datetime(full[c])
        df[c] = pd.to_datetime(df[c])
    df = full.merge(df, how="outer", on=list(full.columns))
    df["value"] = df["value"].fillna(0).astype(float)
    df["component"] = pd.Categorical(df["component"], ["opening", "births", "deaths",
                                                       "immigration", "emigration",
                                                       "transition", "closing"], ordered=True)
    df["group"] = pd.Categorical(df["group"], SUBPOPULATIONS, ordered=True)
    df = df.sort_values(["rule", "period_start", "group", "component"])
    df[["component", "group"]] = df[["component", "group"]].astype(str)
    for c in ("period_start", "period_end"):
        df[c] = df[c].dt.date
    return df.reset_index(drop=True)


def pipeline_accounts(con, cfg) -> pd.DataFrame:
    """Accounts table (unprotected) from the linked data: keys rule, period_start,
    period_end, then ACCOUNT_COLUMNS."""
    comp = account_components(con, cfg)
    if comp.empty:
        return pd.DataFrame(columns=["rule", "period_start", "period_end", *ACCOUNT_COLUMNS])
    comp = comp.assign(period_start=comp["period_start"].astype(str),
                       period_end=comp["period_end"].astype(str))
    comp = comp[["component", "group", "to_group", "value", "rule", "period_start",
                 "period_end"]]
    return PopulationAccounts(source="pipeline").fit(comp).accounts_


def _account_relations(part: pd.DataFrame) -> np.ndarray:
    """Relations of a long accounts slice (rule x period): each account's identity, the
    residual, and transitions in = transitions out over the groups."""
    pos = {(g, c): i for i, (g, c) in enumerate(zip(part["group"], part["column"]))}
    rows = []
    sign = {"opening": 1, "births": 1, "immigration": 1, "transitions_in": 1, "deaths": -1,
            "emigration": -1, "transitions_out": -1, "closing_accounted": -1}
    for g in part["group"].unique():
        r = {pos[(g, c)]: s for c, s in sign.items() if (g, c) in pos}
        rows.append(r)
        if all((g, c) in pos for c in ("residual", "closing_observed", "closing_accounted")):
            rows.append({pos[(g, "residual")]: 1, pos[(g, "closing_observed")]: -1,
                         pos[(g, "closing_accounted")]: 1})
    tr = {i: (1 if c == "transitions_in" else -1) for (g, c), i in pos.items()
          if c in ("transitions_in", "transitions_out")}
    if tr:
        rows.append(tr)
    A = np.zeros((len(rows), len(part)))
    for i, r in enumerate(rows):
        for j, a in r.items():
            if j >= 0:
                A[i, j] = a
    return A


def protect_accounts(acc: pd.DataFrame, settings: dict,
                     stocks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Disclosure control of an accounts table; residuals are signed, so they are never
    treated as small counts themselves (only through the identities).  With the protected
    ``stocks`` table, each opening/closing stock is published exactly as there (same
    suppression, same rounded value), so the two tables cannot be combined against each
    other."""
    if acc.empty:
        return acc.assign(suppressed=pd.Series(dtype=bool))
    keys = [c for c in acc.columns if c not in ACCOUNT_COLUMNS]
    cols = [c for c in ACCOUNT_COLUMNS if c != "group"]
    long = acc.melt(id_vars=[*keys, "group"], value_vars=cols, var_name="column",
                    value_name="value")
    long = long.dropna(subset=["value"]).reset_index(drop=True)
    if stocks is not None and {"period_start", "period_end", "rule"} <= set(keys):
        st = stocks[(stocks["variable"] == "total") & (stocks["sex"] == "total")
                    & stocks["population"].isin(SUBPOPULATIONS)]
        look = pd.DataFrame({"_date": st["reference_date"].astype(str).str[:10],
                             "rule": st["rule"].astype(str), "group": st["population"],
                             "preset_suppressed": st["suppressed"].astype(object),
                             "preset_value": pd.to_numeric(st["value"], errors="coerce")
                             .astype(float)})
        date = np.where(long["column"] == "opening", long["period_start"].astype(str).str[:10],
                        np.where(long["column"] == "closing_observed",
                                 long["period_end"].astype(str).str[:10], ""))
        m = long.assign(_date=date, rule=long["rule"].astype(str)).merge(
            look, on=["_date", "rule", "group"], how="left")
        shared = ((m["_date"] != "") & m["preset_suppressed"].notna()).to_numpy()
        long["preset_suppressed"] = pd.Series(np.where(shared, m["preset_suppressed"], None),
                                              dtype=object)
        long["preset_value"] = np.where(shared, m["preset_value"], np.nan)
    resid = long["column"] == "residual"
    # residuals can be negative: shift-free protection by treating |residual| >= threshold
    long["_abs"] = long["value"]
    long.loc[resid, "value"] = long.loc[resid, "value"].abs() + settings.get("threshold", 5)
    prot = protect_frame(long.drop(columns="_abs"), settings, by=keys,
                         relations=_account_relations, name="accounts")
    long = long.drop(columns=[c for c in ("preset_suppressed", "preset_value")
                              if c in long.columns])
    prot["value"] = np.where(resid.to_numpy() & prot["value"].notna().to_numpy(),
                             long["_abs"].to_numpy(), prot["value"].astype("Float64")
                             .to_numpy(dtype=float, na_value=np.nan))
    wide = prot.pivot_table(index=[*keys, "group"], columns="column", values="value",
                            aggfunc="first", dropna=False)
    sup = prot.groupby([*keys, "group"])["suppressed"].any()
    wide = wide.reindex(columns=cols)
    out = acc[[*keys, "group"]].merge(wide.reset_index(), on=[*keys, "group"], how="left")
    out = out.merge(sup.rename("suppressed").reset_index(), on=[*keys, "group"], how="left")
    for c in cols:
        v = pd.to_numeric(out[c], errors="coerce").astype(float)
        out[c] = v.round().astype("Int64") if (v.dropna() % 1 == 0).all() else v
    return out


# ----------------------------------------------------------------------------------------------
# migratory status and SDG disaggregation
def migratory_status(con, reference_date, rule: str, cfg=None,
                     recent_years: int = 5) -> pd.DataFrame:
    """A migratory-status key per person at ``reference_date`` under ``rule``.

    Columns: person_id, ``status`` (one of the four subpopulations for residents — Annex II
    subpopulations —, ``temporary`` for the temporary (non-resident) population present,
    ``not_resident`` otherwise, ``unknown`` for residents of unknown birthplace or
    citizenship), ``recent_immigrant`` (resident with an immigration counted in the
    ``recent_years`` before the date: ``date - recent_years years < day <= date``),
    ``returning_citizen`` (resident whose such recent immigration was a returning
    citizen's, Annex I "returning citizens"), ``resident``.  Also left in DuckDB as the
    temporary table ``_st_status``.
    """
    _people(con, cfg)
    t = _lit(reference_date)
    since = _lit((pd.Timestamp(reference_date) - pd.DateOffset(years=recent_years)).date())
    ev = _has(con, "migration_events")
    rc = "e.returning_citizen" if ev and "returning_citizen" in _columns(
        con, "migration_events") else "p.citizen"
    recent = (f"""LEFT JOIN (SELECT e.person_id, true AS recent,
                                    bool_or(coalesce({_cit_at(_cdate())}, {rc}, false))
                                        AS ret
                             FROM migration_events e JOIN _st_people p USING (person_id)
                             WHERE e.rule = {_q(rule)} AND e.event = 'immigration'
                               AND {_cdate()} > {since} AND {_cdate()} <= {t}
                             GROUP BY ALL) x ON x.person_id = p.person_id""" if ev else
              "LEFT JOIN (SELECT NULL::BIGINT person_id, NULL::BOOLEAN recent, "
              "NULL::BOOLEAN ret WHERE false) x ON x.person_id = p.person_id")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _st_status AS
        SELECT p.person_id,
               CASE WHEN r.resident THEN coalesce({_group_at(t)}, 'unknown')
                    WHEN r.status = 'temporary_present' THEN 'temporary'
                    ELSE 'not_resident' END AS status,
               coalesce(r.resident AND x.recent, false) AS recent_immigrant,
               coalesce(r.resident AND x.ret, false) AS returning_citizen,
               coalesce(r.resident, false) AS resident
        FROM _st_people p
        LEFT JOIN residence r ON r.person_id = p.person_id AND r.rule = {_q(rule)}
             AND r.reference_date = {t}
        {recent}
        ORDER BY p.person_id""")
    return con.execute("SELECT * FROM _st_status").df()


DIMENSIONS = ("status", "recent_immigrant", "returning_citizen")


def disaggregate(con, outcomes: pd.DataFrame, reference_date, rule: str, *,
                 numerator: str, denominator: str, source: str | None = None,
                 id_column: str = "record_id", name: str = "indicator", cfg=None,
                 settings: dict | None = None, recent_years: int = 5) -> pd.DataFrame:
    """An indicator's numerator and denominator by migratory status (SDG disaggregation).

    ``outcomes``: one row per record of a linked source (``source`` column, or the
    ``source`` argument for all rows; ``id_column`` holds the record id) with 0/1 (or
    true/false) columns ``numerator`` and ``denominator`` — e.g. SDG 8.5.2, unemployment
    rate = unemployed / labour force.  Records map to persons through ``clusters``; a
    person with several records counts once (a flag set on any record is set).  Records
    not in ``clusters`` count under status ``unlinked``.  Output (long, protected by
    ``settings``): reference_date, rule, indicator, dimension (``total``, ``status``,
    ``recent_immigrant``, ``returning_citizen``), category, measure (numerator,
    denominator, rate — the rate from the published counts, empty when one is suppressed),
    value, suppressed.
    """
    for col in (id_column, numerator, denominator):
        if col not in outcomes.columns:
            raise MiglinkError(f"outcome table {name!r} has no column {col!r}", column=col)
    o = pd.DataFrame({"record_id": outcomes[id_column].astype(str)})
    if "source" in outcomes.columns and source is None:
        o["source"] = outcomes["source"].astype(str)
    elif source is not None:
        o["source"] = str(source)
    else:
        raise MiglinkError(f"outcome table {name!r} needs a source (column or config)")
    for new, col in (("num", numerator), ("den", denominator)):
        v = outcomes[col]
        if v.dtype == bool:
            o[new] = v.to_numpy()
        else:
            s = v.astype(str).str.strip().str.lower().map(
                {"1": True, "0": False, "true": True, "false": False, "1.0": True,
                 "0.0": False, "yes": True, "no": False, "": None, "nan": None,
                 "none": None, "<na>": None})
            bad = s.isna() & v.notna() & ~v.astype(str).str.strip().isin(["", "nan", "None"])
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise MiglinkError(f"{v.iloc[i]!r} is not 0/1 or true/false", row=i + 1,
                                   column=col)
            o[new] = s.astype("boolean").fillna(False).astype(bool)
    migratory_status(con, reference_date, rule, cfg, recent_years)
    con.register("_st_outcomes_df", o)
    try:
        per = con.execute("""
            WITH j AS (
                SELECT c.person_id, o.source, o.record_id, o.num, o.den
                FROM _st_outcomes_df o LEFT JOIN clusters c
                  ON c.source = o.source AND CAST(c.record_id AS VARCHAR) = o.record_id),
            p AS (SELECT coalesce(CAST(person_id AS VARCHAR), 'r:' || source || ':' || record_id)
                         AS unit, any_value(person_id) AS person_id,
                         bool_or(num) AS num, bool_or(den) AS den
                  FROM j GROUP BY 1)
            SELECT coalesce(s.status, CASE WHEN p.person_id IS NULL THEN 'unlinked'
                                      ELSE 'not_resident' END) AS status,
                   CASE WHEN coalesce(s.recent_immigrant, false) THEN 'yes' ELSE 'no' END
                       AS recent_immigrant,
                   CASE WHEN coalesce(s.returning_citizen, false) THEN 'yes' ELSE 'no' END
                       AS returning_citizen,
                   p.num, p.den
            FROM p LEFT JOIN _st_status s ON s.person_id = p.person_id""").df()
    finally:
        con.unregister("_st_outcomes_df")
    rows = []
    for measure, col in (("numerator", "num"), ("denominator", "den")):
        sub = per[per[col]]
        rows.append(pd.DataFrame({"dimension": ["total"], "category": ["total"],
                                  "measure": [measure], "value": [len(sub)]}))
        for dim in DIMENSIONS:
            cnt = sub.groupby(dim).size()
            rows.append(pd.DataFrame({"dimension": dim, "category": cnt.index.astype(str),
                                      "measure": measure, "value": cnt.to_numpy()}))
    df = pd.concat(rows, ignore_index=True)
    df.insert(0, "indicator", name)
    df.insert(0, "rule", rule)
    df.insert(0, "reference_date", pd.Timestamp(reference_date).date())
    settings = settings or disclosure_settings(cfg)

    def rel(part):  # categories of each dimension add up to the total
        tot = np.flatnonzero(part["dimension"].to_numpy() == "total")
        rows_ = []
        for dim in DIMENSIONS:
            idx = np.flatnonzero(part["dimension"].to_numpy() == dim)
            if len(idx) and len(tot):
                a = np.zeros(len(part))
                a[idx] = 1
                a[tot] = -1
                rows_.append(a)
        return np.array(rows_).reshape(-1, len(part))

    prot = protect_frame(df, settings, by=["reference_date", "rule", "indicator", "measure"],
                         relations=rel, name=f"sdg_{name}")
    key = ["reference_date", "rule", "indicator", "dimension", "category"]
    p2 = prot.set_index([*key, "measure"])
    val = p2["value"].astype("Float64").astype(float).unstack("measure").reindex(
        columns=["numerator", "denominator"])
    sup = p2["suppressed"].astype(float).unstack("measure").reindex(
        columns=["numerator", "denominator"]).fillna(0).astype(bool)
    # a category absent from a measure is a zero count, not a suppressed one
    val = val.where(val.notna() | sup, 0.0)
    num, den = val["numerator"], val["denominator"]
    rate = (num / den.where(den > 0)).rename("value").reset_index()
    rate["measure"] = "rate"
    rate["suppressed"] = (sup["numerator"] | sup["denominator"]).to_numpy()
    out = pd.concat([prot.assign(value=prot["value"].astype("Float64")),
                     rate.assign(value=rate["value"].astype("Float64"))], ignore_index=True)
    order = {"numerator": 0, "denominator": 1, "rate": 2}
    out["_o"] = out["measure"].map(order)
    out["_d"] = out["dimension"].map({"total": 0, **{d: i + 1 for i, d in
                                                     enumerate(DIMENSIONS)}})
    out = out.sort_values(["reference_date", "rule", "indicator", "_d", "category", "_o"],
                          kind="stable").drop(columns=["_o", "_d"])
    return out[["reference_date", "rule", "indicator", "dimension", "category", "measure",
                "value", "suppressed"]].reset_index(drop=True)


def _read_outcomes(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise MiglinkError("outcome file not found", file=str(path))
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def outcome_specs(cfg) -> list[dict]:
    """``cfg.tables['outcomes']``: a list of {name, path, source, numerator, denominator
    [, id (record id column, default record_id), reference_dates, rules,
    recent_years (default 5)]}; ``path`` relative to the config's folder."""
    specs = (getattr(cfg, "tables", None) or {}).get("outcomes") or []
    where = str(getattr(cfg, "path", "config"))
    if not isinstance(specs, list):
        raise MiglinkError("must be a list of outcome tables", file=where,
                           column="tables.outcomes")
    out = []
    for i, s in enumerate(specs):
        if not isinstance(s, dict):
            raise MiglinkError("must be a mapping", file=where, column=f"tables.outcomes[{i}]")
        allowed = {"name", "path", "source", "numerator", "denominator", "id",
                   "reference_dates", "rules", "recent_years"}
        extra = set(s) - allowed
        if extra:
            raise MiglinkError(f"unknown key {sorted(extra)[0]!r}", file=where,
                               column=f"tables.outcomes[{i}]")
        for k in ("name", "path", "numerator", "denominator"):
            if not s.get(k):
                raise MiglinkError(f"missing key {k!r}", file=where,
                                   column=f"tables.outcomes[{i}]")
        if not re.fullmatch(r"[A-Za-z0-9_]+", str(s["name"])):
            raise MiglinkError("name must be letters, digits and _", file=where,
                               column=f"tables.outcomes[{i}].name")
        p = Path(s["path"])
        if not p.is_absolute():
            p = Path(getattr(cfg, "base_dir", ".")) / p
        out.append({**s, "path": p})
    return out


# ----------------------------------------------------------------------------------------------
def publish_table(con, df: pd.DataFrame, name: str, out_dir: Path) -> Path:
    """Write ``out_dir/tables/<name>.csv`` atomically and DuckDB ``table_<name>``."""
    check_no_identifiers(df, name)
    path = write_df_csv(out_dir / "tables" / f"{name}.csv", df)
    con.register("_st_pub", df)
    try:
        con.execute(f'CREATE OR REPLACE TABLE "table_{name}" AS SELECT * FROM _st_pub')
    finally:
        con.unregister("_st_pub")
    return path


def build_tables(con, cfg, out_dir) -> list[Path]:
    """Write ``out_dir/tables/*.csv`` (and DuckDB ``table_<name>``): ``stocks``, ``flows``,
    ``accounts`` (also DuckDB ``accounts``; rule x period x group) and one ``sdg_<name>``
    per configured outcome, each under disclosure control
    (``cfg.disclosure``).  Returns the CSV paths."""
    out_dir = Path(out_dir)
    settings = disclosure_settings(cfg)
    for t in ("persons", "residence"):
        if not _has(con, t):
            raise MiglinkError(f"table {t!r} is missing: run the earlier steps first")
    dates = _reference_dates(con, cfg)
    rel = long_table_relations(cfg)
    paths = []
    stocks = stock_table(con, cfg)
    stocks = protect_frame(stocks, settings, by=["reference_date", "rule", "population"],
                           relations=rel, name="stocks")
    paths.append(publish_table(con, stocks, "stocks", out_dir))
    flows = flow_table(con, cfg, dates)
    flows = protect_frame(flows, settings, by=["period_start", "period_end", "rule", "flow"],
                          relations=rel, name="flows")
    paths.append(publish_table(con, flows, "flows", out_dir))
    acc = protect_accounts(pipeline_accounts(con, cfg), settings, stocks)
    paths.append(publish_table(con, acc, "accounts", out_dir))
    con.execute('CREATE OR REPLACE TABLE accounts AS SELECT * FROM "table_accounts"')
    rules = _rules(con, cfg)
    for spec in outcome_specs(cfg):
        data = _read_outcomes(spec["path"])
        parts = []
        for d in spec.get("reference_dates") or dates:
            for r in spec.get("rules") or rules:
                parts.append(disaggregate(
                    con, data, d, r, numerator=spec["numerator"],
                    denominator=spec["denominator"], source=spec.get("source"),
                    id_column=spec.get("id", "record_id"), name=spec["name"], cfg=cfg,
                    settings=settings, recent_years=int(spec.get("recent_years", 5))))
        if parts:
            paths.append(publish_table(con, pd.concat(parts, ignore_index=True),
                                  f"sdg_{spec['name']}", out_dir))
    return paths
