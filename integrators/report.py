"""The run report: one self-contained HTML file (``OUT/report.html``).

:func:`write_report` reads whatever the run left in its DuckDB connection and output folder
(DESIGN.md "Outputs"; docs/internals.md "Tables") and renders one section per stage of the
pipeline; a stage that did not run is shown as "not run". The page holds only aggregates —
counts, shares, model parameters — never names, birth dates, document numbers or raw values;
counts of persons below the disclosure threshold (config ``disclosure.threshold``, default 5)
are shown as suppressed (primary suppression, as in ``integrators/disclosure.py``).

Charts are matplotlib (Agg) SVG inlined in the page; the page has no script and fetches
nothing, so it opens offline and can be archived with the run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd
from scipy import stats

from linkage import schema
from linkage.io import write_text

from . import charts

#: Section ids and headings, in page order (the browser test checks every heading).
SECTIONS: tuple[tuple[str, str], ...] = (
    ("inputs", "Inputs and row accounting"),
    ("linkage", "Linkage quality"),
    ("residence", "Residence"),
    ("mobility", "Temporary mobility and service population"),
    ("accounts", "Population accounts"),
    ("mse", "Multiple systems estimation"),
    ("tables", "Aggregate tables"),
)

NOT_RUN = "not run"

#: Reason codes of ``rejected`` (linkage/ingest.py) and what they mean.
REJECTION_REASONS = {
    "missing_id": "no value in the id column",
    "duplicate_id": "id on more than one row (every copy rejected)",
    "unreadable_crossing_date": "crossing date missing or unreadable",
    "unreadable_direction": "direction missing or not a known code",
    "too_few_fields": "CSV row with fewer fields than the header",
    "too_many_fields": "CSV row with more fields than the header",
    "bad_quoting": "CSV row with unbalanced quotes",
    "line_too_long": "CSV line too long to read",
    "other": "reason not in the standard form",
}
AGE_TOP = 85  # the last 5-year age group is open: 85+


# -- small value objects handed to the template --------------------------------------------
@dataclass
class Table:
    """A rendered table: header, rows of (text, css class) cells, caption and notes."""
    columns: list[str]
    rows: list[list[tuple[str, str]]]
    caption: str = ""
    note: str = ""
    collapsed: bool = False


@dataclass
class Section:
    id: str
    title: str
    blocks: list = field(default_factory=list)
    status: str = "ok"

    def add(self, kind: str, **kw) -> None:
        self.blocks.append({"kind": kind, **kw})

    def para(self, text: str) -> None:
        self.add("p", text=text)

    def sub(self, text: str) -> None:
        self.add("h3", text=text)

    def missing(self, what: str, why: str) -> None:
        self.add("notrun", what=what, why=why)

    def table(self, t: Table) -> None:
        self.add("table", table=t)

    def chart(self, svg: str, caption: str = "") -> None:
        self.add("chart", svg=svg, caption=caption)

    def figures(self, items: list[tuple[str, str]]) -> None:
        """Headline figures: (label, value) pairs shown as tiles."""
        self.add("figures", items=items)


# -- formatting -------------------------------------------------------------------------------
def fmt_int(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or pd.isna(x):
        return "–"
    return f"{int(round(float(x))):,}"


def fmt_num(x, digits: int = 3) -> str:
    """Integers with thousands separators; other numbers to ``digits`` significant digits."""
    if x is None or isinstance(x, str):
        return "–" if x is None else x
    try:
        if pd.isna(x):
            return "–"
    except (TypeError, ValueError):
        return str(x)
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else "no"
    v = float(x)
    if not math.isfinite(v):
        return "−∞" if v < 0 else "∞"
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def fmt_pct(x, digits: int = 1) -> str:
    if x is None or pd.isna(x):
        return "–"
    return f"{100 * float(x):.{digits}f}%"


#: Text that stands for a missing value in tables read back from DuckDB or CSV.
NULL_TEXT = frozenset({"", "<NA>", "NA", "nan", "NaN", "None", "NULL"})

#: A measure hidden because its row's count of persons is suppressed (shown as "supp.").
SUPPRESSED = "supp."


class Suppressor:
    """Primary suppression of small counts: 0 < n < threshold is shown as ``<threshold``."""

    def __init__(self, threshold: int = 5):
        self.threshold = int(threshold)
        self.used = False

    def hidden(self, x) -> bool:
        return x is not None and not pd.isna(x) and 0 < abs(float(x)) < self.threshold

    def cell(self, x) -> tuple[str, str]:
        if self.hidden(x):
            self.used = True
            return f"<{self.threshold}", "num supp"
        return fmt_int(x), "num"

    def dependents(self, df: pd.DataFrame, count: str, measures) -> pd.DataFrame:
        """Hide ``measures`` (e.g. trips, person-days) in rows whose ``count`` of persons is
        suppressed, so that a small group's totals are not published beside it."""
        out = df.copy()
        small = out[count].map(self.hidden).astype(bool)
        for c in measures:
            if c in out.columns:
                out[c] = out[c].astype(object).where(~small, SUPPRESSED)
        if small.any():
            self.used = True
        return out

    def chart_values(self, values) -> np.ndarray:
        """Values for a chart: suppressed cells drawn as zero."""
        v = np.asarray(pd.to_numeric(pd.Series(values), errors="coerce").fillna(0), dtype=float)
        small = (np.abs(v) > 0) & (np.abs(v) < self.threshold)
        if small.any():
            self.used = True
        return np.where(small, 0.0, v)


def df_table(df: pd.DataFrame, *, counts=(), numbers=(), pcts=(), supp: Suppressor | None = None,
             labels: dict | None = None, caption: str = "", note: str = "",
             collapsed: bool = False) -> Table:
    """A :class:`Table` from a DataFrame: ``counts`` columns are suppressed when small."""
    labels = labels or {}
    rows = []
    for rec in df.itertuples(index=False):
        row = []
        for col, val in zip(df.columns, rec):
            if isinstance(val, str) and val == SUPPRESSED:
                row.append((SUPPRESSED, "num supp"))
            elif col in counts:
                row.append(supp.cell(val) if supp else (fmt_int(val), "num"))
            elif col in pcts:
                row.append((fmt_pct(val), "num"))
            elif col in numbers or (isinstance(val, (int, float, np.number))
                                    and not isinstance(val, (bool, np.bool_))):
                row.append((fmt_num(val), "num"))
            elif isinstance(val, (bool, np.bool_)):
                row.append(("yes" if val else "no", ""))
            elif isinstance(val, (dt.date, pd.Timestamp)):
                row.append((pd.Timestamp(val).strftime("%Y-%m-%d"), ""))
            else:
                row.append(("–" if val is None or (not isinstance(val, str) and pd.isna(val))
                            else str(val), ""))
        rows.append(row)
    return Table([labels.get(c, c.replace("_", " ")) for c in df.columns], rows, caption, note,
                 collapsed)


def _sql_str(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _clean_reason(col: str) -> str:
    """SQL that blanks quoted values out of a free-text reason, so no raw value is shown
    and reasons that differ only in the value are counted together."""
    return (f"regexp_replace(regexp_replace(CAST({col} AS VARCHAR), "
            f"'''[^'']*''', '''…''', 'g'), '\"[^\"]*\"', '\"…\"', 'g')")


# -- the report -------------------------------------------------------------------------------
class Report:
    """Builds the report of one run.

    Parameters: ``con`` (the run's DuckDB connection), ``out_dir`` (the run's output folder),
    ``cfg`` (a :class:`linkage.config.Config` or None), ``truth_dir`` (a synthetic world's
    ``truth/`` folder or None). After :meth:`build`, ``sections`` holds the page content and
    ``html`` the page.
    """

    def __init__(self, con, out_dir, cfg=None, truth_dir=None):
        self.con = con
        self.out_dir = Path(out_dir)
        self.cfg = cfg
        self.truth_dir = Path(truth_dir) if truth_dir else None
        disclosure = getattr(cfg, "disclosure", None) or {}
        # method "none" publishes counts as they are (internal use); otherwise suppress
        th = 0 if disclosure.get("method") == "none" else disclosure.get("threshold", 5)
        self.supp = Suppressor(5 if th is None else th)
        self.country = getattr(cfg, "country", None)
        self.sections: list[Section] = []
        self.summary: list[tuple[str, str]] = []
        self.html: str | None = None
        self._tables = {r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_catalog = current_database()"
        ).fetchall()}

    # helpers
    def has(self, *tables: str) -> bool:
        return all(t in self._tables for t in tables)

    def cols(self, table: str) -> list[str]:
        if not self.has(table):
            return []
        return [r[0] for r in self.con.execute(f'DESCRIBE "{table}"').fetchall()]

    def df(self, sql: str, params=None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def truth(self, name: str) -> Path | None:
        if self.truth_dir is None:
            return None
        p = self.truth_dir / name
        return p if p.exists() else None

    # build
    def build(self) -> "Report":
        builders = {"inputs": self._inputs, "linkage": self._linkage,
                    "residence": self._residence, "mobility": self._mobility,
                    "accounts": self._accounts, "mse": self._mse, "tables": self._csv_tables}
        for sid, title in SECTIONS:
            sec = Section(sid, title)
            try:
                builders[sid](sec)
            except Exception as exc:  # a broken section must not lose the rest of the report
                warnings.warn(f"report section {title!r} failed: {exc!r}", stacklevel=2)
                sec.blocks = []
                sec.status = "failed"
                # the class name only: an exception message might quote a data value
                sec.missing("This section", f"could not be drawn ({type(exc).__name__}); "
                                            "see the warning printed by the run")
            if not sec.blocks:
                sec.status = NOT_RUN
                sec.missing("This section", "its inputs are absent from this run")
            self.sections.append(sec)
        try:
            self.summary = self._summary()
        except Exception as exc:  # the headline figures are a convenience, never fatal
            warnings.warn(f"report summary failed: {exc!r}", stacklevel=2)
            self.summary = []
        self.html = self._render()
        return self

    def _summary(self) -> list[tuple[str, str]]:
        """Headline figures for the top of the page (each only when its table exists)."""
        out = []
        if self.has("clusters"):
            n = self.con.execute("SELECT count(DISTINCT person_id) FROM clusters").fetchone()[0]
            out.append(("persons linked", fmt_int(n)))
        if self.has("residence"):
            rules = self._rules([r[0] for r in self.con.execute(
                "SELECT DISTINCT rule FROM residence").fetchall()])
            if rules:
                rule = rules[0]
                ref, res, tmp = self.con.execute(
                    "SELECT reference_date, count(*) FILTER (WHERE resident), "
                    "count(*) FILTER (WHERE status = 'temporary_present') FROM residence "
                    "WHERE rule = ? AND reference_date = (SELECT max(reference_date) "
                    "FROM residence WHERE rule = ?) GROUP BY reference_date",
                    [rule, rule]).fetchone() or (None, None, None)
                if ref is not None:
                    d = pd.Timestamp(ref).strftime("%Y-%m-%d")
                    out.append((f"residents on {d} ({rule})", self.supp.cell(res)[0]))
                    out.append((f"temporary present on {d}", self.supp.cell(tmp)[0]))
                if self.has("migration_events"):
                    mc = set(self.cols("migration_events"))
                    when = ("CASE WHEN rule = '12/16' OR decided_on IS NULL THEN event_date "
                            "ELSE decided_on END" if "decided_on" in mc else "event_date")
                    row = self.con.execute(f"""
                        WITH e AS (SELECT event, year({when}) AS y FROM migration_events
                                   WHERE rule = ?)
                        SELECT y, count(*) FILTER (WHERE event = 'immigration'),
                               count(*) FILTER (WHERE event = 'emigration')
                        FROM e WHERE y = (SELECT max(y) FROM e WHERE y <= ?)
                        GROUP BY y""", [rule, pd.Timestamp(ref).year if ref is not None
                                        else 9999]).fetchone()
                    if row:
                        out.append((f"immigration {row[0]} ({rule})", self.supp.cell(row[1])[0]))
                        out.append((f"emigration {row[0]} ({rule})", self.supp.cell(row[2])[0]))
        p = self.out_dir / "mse.json"
        if p.exists():
            try:
                m = json.loads(p.read_text(encoding="utf-8"))
                if m.get("estimate") is None:
                    value = "no estimate"
                elif m.get("ci_low") is None or m.get("ci_high") is None:
                    value = fmt_int(m["estimate"])
                else:
                    value = (f"{fmt_int(m['estimate'])} ({fmt_int(m['ci_low'])}–"
                             f"{fmt_int(m['ci_high'])})")
                out.append(("hidden population (MSE)", value))
            except (ValueError, OSError, AttributeError):
                pass
        return out

    # -- 1. inputs ----------------------------------------------------------------------------
    def _inputs(self, sec: Section) -> None:
        if not (self.has("records") or self.has("rejected")):
            sec.status = NOT_RUN
            sec.missing("Ingestion", "no records or rejected table in this run")
            return
        acc = (self.df("SELECT source, any_value(kind) AS kind, count(*) AS accepted "
                       "FROM records GROUP BY source") if self.has("records") and
               "kind" in self.cols("records") else
               self.df("SELECT source, NULL AS kind, count(*) AS accepted FROM records "
                       "GROUP BY source") if self.has("records")
               else pd.DataFrame(columns=["source", "kind", "accepted"]))
        rej = (self.df("SELECT source, count(*) AS rejected FROM rejected GROUP BY source")
               if self.has("rejected") else pd.DataFrame(columns=["source", "rejected"]))
        iss = (self.df("SELECT source, count(*) AS field_issues FROM field_issues "
                       "GROUP BY source") if self.has("field_issues")
               else pd.DataFrame(columns=["source", "field_issues"]))
        cfg_src = pd.DataFrame([(s.name, s.kind) for s in getattr(self.cfg, "sources", [])],
                               columns=["source", "cfg_kind"])
        t = (cfg_src[["source"]].merge(acc[["source"]], how="outer")
             .merge(rej[["source"]], how="outer").drop_duplicates())
        t = t.merge(cfg_src, how="left").merge(acc, how="left").merge(rej, how="left") \
             .merge(iss, how="left")
        t["kind"] = t["kind"].fillna(t["cfg_kind"])
        for c in ("accepted", "rejected", "field_issues"):
            t[c] = pd.to_numeric(t[c]).fillna(0).astype("int64")
        t["input_rows"] = t["accepted"] + t["rejected"]
        t["rejected_share"] = np.where(t["input_rows"] > 0,
                                       t["rejected"] / t["input_rows"].clip(lower=1),
                                       np.nan)
        order = {s: i for i, s in enumerate(cfg_src["source"])}
        t["_o"] = t["source"].map(order).fillna(len(order))
        t = t.sort_values(["_o", "source"])[["source", "kind", "input_rows", "accepted",
                                             "rejected", "rejected_share", "field_issues"]]
        total = pd.DataFrame([{"source": "Total", "kind": "",
                               **{c: t[c].sum() for c in ("input_rows", "accepted", "rejected",
                                                          "field_issues")}}])
        total["rejected_share"] = (total["rejected"] / total["input_rows"]
                                   if total["input_rows"].iloc[0] else np.nan)
        t = pd.concat([t, total[t.columns]], ignore_index=True)
        sec.figures([("sources", fmt_int(len(t) - 1)),
                     ("input rows", fmt_int(total["input_rows"].iloc[0])),
                     ("accepted", fmt_int(total["accepted"].iloc[0])),
                     ("rejected", fmt_int(total["rejected"].iloc[0]))])
        sec.para("Every input row is either accepted (a row of <code>records</code>) or "
                 "rejected (a row of <code>rejected</code>, with its reason): input rows = "
                 "accepted + rejected for every source. A row is rejected only when it cannot "
                 "be identified or its kind's required event cannot be read; an unreadable "
                 "optional value is set to null and counted as a field issue.")
        sec.table(df_table(t, numbers=("input_rows", "accepted", "rejected", "field_issues"),
                           pcts=("rejected_share",),
                           labels={"input_rows": "input rows", "rejected_share": "rejected %",
                                   "field_issues": "field issues"},
                           caption="Row accounting per source"))
        if self.has("rejected"):
            # the reason's code only (the text before the colon): the rest may quote the
            # row's values (an id, an unreadable date), which the report never shows
            r = self.df("""
                SELECT source, CASE WHEN regexp_full_match(trim(split_part(reason, ':', 1)),
                                                           '[a-z_]+')
                                    THEN trim(split_part(reason, ':', 1)) ELSE 'other' END
                               AS reason, count(*) AS rows
                FROM rejected GROUP BY ALL ORDER BY source, rows DESC, reason""")
            if len(r):
                r.insert(2, "meaning", r["reason"].map(REJECTION_REASONS).fillna(""))
                sec.table(df_table(r, numbers=("rows",),
                                   caption="Rejected rows by reason",
                                   note="The rejected rows themselves, with the reason in "
                                        "full, are in rejected.parquet."))
            else:
                sec.para("No input row was rejected.")
        if self.has("field_issues"):
            f = self.df(f"SELECT source, field, {_clean_reason('problem')} AS problem, "
                        "count(*) AS rows FROM field_issues GROUP BY ALL "
                        "ORDER BY source, field, rows DESC, problem")
            if len(f):
                sec.table(df_table(f, numbers=("rows",),
                                   caption="Field issues by field and problem (value set to "
                                           "null, row kept)",
                                   note="The unreadable values themselves are in "
                                        "field_issues.parquet and are not shown here."))
            else:
                sec.para("No field issues: every mapped value could be read.")
        sec.para("Counts in this section are of input rows (records), not of persons, and are "
                 "shown unsuppressed so that the accounting can be checked exactly.")

    # -- 2. linkage ---------------------------------------------------------------------------
    def _threshold(self) -> float | None:
        lk = getattr(self.cfg, "linkage", None) or {}
        th = lk.get("threshold") if isinstance(lk, dict) else None
        return float(th) if th is not None else None

    def _linkage(self, sec: Section) -> None:
        any_part = False
        th = self._threshold()
        # pairs and match weights
        sec.sub("Match-weight distribution")
        hist_csv = self.out_dir / "linkage" / "match_weight_histogram.csv"
        if hist_csv.exists():
            any_part = True
            self._histogram_csv(sec, hist_csv, th)
        elif self.has("links") and "match_weight" in self.cols("links"):
            any_part = True
            s = self.df("SELECT count(*) AS n, min(match_weight) AS lo, max(match_weight) AS hi, "
                        "count(*) FILTER (WHERE match_probability >= ?) AS above "
                        "FROM links WHERE match_weight IS NOT NULL AND isfinite(match_weight)",
                        [th if th is not None else 2.0]).iloc[0]
            n = int(s["n"])
            if n:
                lo, hi = math.floor(float(s["lo"])), math.ceil(float(s["hi"]))
                width = max(0.5, (hi - lo) / 40)
                lo = math.floor(lo / width) * width
                h = self.df(
                    "SELECT CAST(floor((match_weight - ?) / ?) AS BIGINT) AS b, count(*) AS n "
                    "FROM links WHERE isfinite(match_weight) GROUP BY b ORDER BY b",
                    [lo, width])
                nb = int(h["b"].max()) + 1
                counts = np.zeros(nb)
                counts[h["b"].to_numpy()] = h["n"].to_numpy()
                edges = lo + width * np.arange(nb + 1)
                thw = (math.log2(th / (1 - th)) if th is not None and 0 < th < 1 else None)
                sec.chart(charts.histogram(
                    edges, counts, xlabel="match weight (log2 Bayes factor)",
                    ylabel="candidate pairs (log scale)", log=True, vline=thw,
                    vline_label=f"threshold: match probability {th:g}" if thw is not None
                    else ""),
                    "Match weights of all scored candidate pairs. Pairs to the right of the "
                    "threshold join one person; a clear valley between the two humps means the "
                    "model separates matches from non-matches well.")
                figs = [("scored pairs", fmt_int(n))]
                if th is not None:
                    figs.append((f"pairs with probability ≥ {th:g}", fmt_int(s["above"])))
                sec.figures(figs)
            else:
                sec.para("No candidate pairs were scored (every blocking rule found none).")
        else:
            sec.missing("Match weights", "no links table in this run")
        # model parameters
        sec.sub("Model parameters (m and u probabilities)")
        model = self._model_json()
        if model is not None:
            any_part = True
            self._model_table(sec, model)
        else:
            sec.missing("Model parameters", f"no trained model JSON in {self.out_dir / 'linkage'}")
        # clusters
        sec.sub("Cluster sizes")
        if self.has("clusters"):
            any_part = True
            self._clusters(sec)
        else:
            sec.missing("Clusters", "no clusters table in this run")
        # evaluation
        if self.has("person_conflicts"):
            any_part = True
            sec.sub("Attribute conflicts within persons")
            c = self.df("""SELECT field, count(DISTINCT person_id) AS persons
                           FROM person_conflicts GROUP BY ALL ORDER BY persons DESC, field""")
            if len(c):
                sec.table(df_table(c, counts=("persons",), supp=self.supp,
                                   caption="Persons whose linked records disagree on a field",
                                   note="Micro-integration keeps one value by source "
                                        "precedence; many conflicts on a field can point to "
                                        "false links or to a source's coding of that field."))
            else:
                sec.para("No person's records disagree on any resolved attribute.")
        sec.sub("Evaluation against the truth")
        self._evaluation(sec)
        if not any_part:
            sec.status = NOT_RUN

    def _histogram_csv(self, sec: Section, path: Path, th: float | None) -> None:
        """The model's own histogram (``linkage/match_weight_histogram.csv``: weight_from,
        weight_to, pairs — every scored pair, one bin per unit of match weight)."""
        h = pd.read_csv(path)
        if not len(h):
            sec.para("No candidate pairs were scored (every blocking rule found none).")
            return
        lo, hi = int(h["weight_from"].min()), int(h["weight_to"].max())
        counts = np.zeros(hi - lo)
        counts[(h["weight_from"] - lo).to_numpy()] = h["pairs"].to_numpy()
        thw = math.log2(th / (1 - th)) if th is not None and 0 < th < 1 else None
        sec.chart(charts.histogram(
            np.arange(lo, hi + 1), counts, xlabel="match weight (log2 Bayes factor)",
            ylabel="candidate pairs (log scale)", log=True, vline=thw,
            vline_label=f"threshold: match probability {th:g}" if thw is not None else ""),
            "Match weights of all scored candidate pairs, one bar per unit of weight. Pairs to "
            "the right of the threshold join one person; a clear valley between the two humps "
            "means the model separates matches from non-matches well.")
        figs = [("scored pairs", fmt_int(h["pairs"].sum()))]
        if th is not None and self.has("links") and "match_probability" in self.cols("links"):
            above = self.con.execute(
                "SELECT count(*) FROM links WHERE match_weight IS NOT NULL "
                "AND match_probability >= ?", [th]).fetchone()[0]
            figs.append((f"pairs with probability ≥ {th:g}", fmt_int(above)))
        clerical = self.out_dir / "linkage" / "clerical_review.csv"
        if clerical.exists():
            with clerical.open(encoding="utf-8") as f:
                n = max(sum(1 for _ in f) - 1, 0)
            figs.append(("pairs for clerical review", fmt_int(n)))
        sec.figures(figs)

    def _model_json(self) -> dict | None:
        """The trained model: ``linkage/parameters.json`` (miglink's inspection file) first,
        else any Splink model JSON (``save_model_to_json``) in ``linkage/``."""
        folder = self.out_dir / "linkage"
        if not folder.is_dir():
            return None
        paths = sorted(folder.glob("*.json"), key=lambda p: (p.name != "parameters.json", p.name))
        for p in paths:
            try:
                obj = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(obj, dict) and isinstance(obj.get("comparisons"), list):
                return obj
        return None

    def _model_table(self, sec: Section, model: dict) -> None:
        rows = []
        for comp in model["comparisons"]:
            name = (comp.get("name") or comp.get("output_column_name")
                    or comp.get("comparison_description", ""))
            for lvl in comp.get("levels", comp.get("comparison_levels", [])):
                if lvl.get("is_null_level"):
                    continue
                m, u = lvl.get("m_probability"), lvl.get("u_probability")
                m = m if isinstance(m, (int, float)) else np.nan
                u = u if isinstance(u, (int, float)) else np.nan
                bf = m / u if u and not pd.isna(u) and u > 0 else np.nan
                label = lvl.get("label") or lvl.get("label_for_charts") or \
                    lvl.get("sql_condition", "")
                if lvl.get("tf_adjustment_column"):
                    label += " (term-frequency adjusted)"
                rows.append({"comparison": name, "level": label, "m": m, "u": u,
                             "bayes_factor": bf,
                             "match_weight": math.log2(bf) if bf and bf > 0 else np.nan})
        df = pd.DataFrame(rows)
        lam = model.get("probability_two_random_records_match")
        if isinstance(lam, (int, float)) and 0 < lam < 1:
            sec.para(f"Prior probability that two random records match (λ): {fmt_num(lam)} "
                     f"(prior match weight {fmt_num(math.log2(lam / (1 - lam)))}). Each "
                     "comparison level adds its match weight log2(m/u) to the prior; m is the "
                     "probability of the level among true matches, u among non-matches "
                     "(the Fellegi-Sunter model, estimated by EM as in Splink; methodology "
                     "section 2).")
        if model.get("trained") is False:
            sec.add("notrun", what="Training", note=True,
                    why="the model was not trained on these data (too few records); prior "
                        "m and u values were used")
        log = model.get("training")
        if isinstance(log, list) and log:
            sec.table(df_table(pd.DataFrame({"training step": [str(x) for x in log]}),
                               caption="Training log", collapsed=True))
        if len(df):
            sec.table(df_table(df, numbers=("m", "u", "bayes_factor", "match_weight"),
                               labels={"bayes_factor": "Bayes factor m/u",
                                       "match_weight": "match weight"},
                               caption="Trained comparison levels (null levels omitted)"))

    def _clusters(self, sec: Section) -> None:
        d = self.df("""
            WITH c AS (SELECT person_id, count(*) AS size, count(DISTINCT source) AS nsrc
                       FROM clusters GROUP BY person_id)
            SELECT CASE WHEN size >= 50 THEN '50+' WHEN size >= 20 THEN '20–49'
                        WHEN size >= 10 THEN '10–19' ELSE CAST(size AS VARCHAR) END AS size,
                   min(size) AS _o, count(*) AS persons, sum(size) AS records
            FROM c GROUP BY 1 ORDER BY _o""")
        tot = self.df("SELECT count(DISTINCT person_id) AS persons, count(*) AS records "
                      "FROM clusters").iloc[0]
        srcs = self.df("""
            WITH c AS (SELECT person_id, count(DISTINCT source) AS nsrc FROM clusters
                       GROUP BY person_id)
            SELECT nsrc AS sources, count(*) AS persons FROM c GROUP BY 1 ORDER BY 1""")
        sec.figures([("records", fmt_int(tot["records"])), ("persons", fmt_int(tot["persons"])),
                     ("records per person", fmt_num(tot["records"] / max(tot["persons"], 1)))])
        sec.chart(charts.bars(d["size"], self.supp.chart_values(d["persons"]),
                              xlabel="records in the cluster", ylabel="persons"),
                  "Cluster-size distribution: persons by the number of records linked to them.")
        sec.table(df_table(d[["size", "persons", "records"]], counts=("persons", "records"),
                           supp=self.supp, caption="Persons by cluster size",
                           labels={"size": "records per person"}))
        sec.table(df_table(srcs, counts=("persons",), supp=self.supp,
                           labels={"sources": "number of sources"},
                           caption="Persons by the number of sources they were found in"))

    def _evaluation(self, sec: Section) -> None:
        truth = self.truth("records.parquet")
        if truth is None:
            sec.missing("Evaluation", "no truth given (only the demo's synthetic world "
                                      "has one)")
            return
        if not self.has("clusters"):
            sec.missing("Evaluation", "no clusters table in this run")
            return
        try:
            from linkage.evaluate import evaluate
        except ImportError:
            sec.missing("Evaluation", "linkage.evaluate is not available in this install")
            return
        clusters = self.df("SELECT source, record_id, person_id FROM clusters")
        res = evaluate(clusters, pd.read_parquet(truth))
        if not isinstance(res, dict):
            res = {k: v for k, v in vars(res).items() if not k.startswith("_")}
        rows = []
        for level in ("pairwise", "cluster"):
            vals = [res.get(f"{level}_{m}") for m in ("precision", "recall", "f1")]
            if all(v is None for v in vals) and isinstance(res.get(level), dict):
                vals = [res[level].get(m) for m in ("precision", "recall", "f1")]
            if any(v is not None for v in vals):
                sub = res.get(level) if isinstance(res.get(level), dict) else {}
                rows.append({"measure": level, "precision": vals[0], "recall": vals[1],
                             "F1": vals[2],
                             "true positives": sub.get("true_positive_pairs",
                                                       sub.get("exact_clusters")),
                             "false positives": sub.get("false_positive_pairs"),
                             "false negatives": sub.get("false_negative_pairs")})
        if rows:
            sec.table(df_table(pd.DataFrame(rows).dropna(axis=1, how="all"),
                               numbers=("precision", "recall", "F1"),
                               caption="Linkage against the synthetic truth",
                               note="Pairwise: over all pairs of records put in one person "
                                    "(true positives, false positives and false negatives are "
                                    "pairs). Cluster: a person is right only when its records "
                                    "are exactly one true person's records (true positives are "
                                    "such persons)."))
        extra = {k: v for k, v in res.items() if isinstance(v, (int, float)) and
                 not k.startswith(("pairwise_", "cluster_"))}
        if extra:
            names = {"n_records": "records in both the run and the truth",
                     "n_unmatched_clusters": "records only in the run",
                     "n_unmatched_truth": "records only in the truth",
                     "n_clusters": "persons in the run", "n_true_entities": "true persons"}
            sec.table(df_table(pd.DataFrame({"figure": [names.get(k, k.replace("_", " "))
                                                        for k in extra],
                                             "value": list(extra.values())}),
                               numbers=("value",), caption="Other evaluation figures"))
        if not rows and not extra:
            sec.missing("Evaluation", "linkage.evaluate returned no figures")

    # -- 3. residence -------------------------------------------------------------------------
    def _rules(self, available) -> list[str]:
        cfg_rules = list(getattr(getattr(self.cfg, "residence", None), "rules", None) or [])
        order = cfg_rules + [r for r in schema.RESIDENCE_RULES if r not in cfg_rules]
        return [r for r in order if r in set(available)] + \
               sorted(set(available) - set(order))

    def _person_groups_sql(self) -> str | None:
        """SELECT person_id, sex, birth_date, birth_year, native_born, citizen (SQL), or None."""
        pc = set(self.cols("persons"))
        rc = set(self.cols("residence_persons"))
        if "person_id" not in pc | rc:
            return None
        ctry = _sql_str(self.country) if self.country else "NULL"

        def pick(col, alias):
            return f"p.{col}" if col in pc else (f"rp.{col}" if col in rc else "NULL")

        native = [f"{a}.native_born" for a, c in (("p", pc), ("rp", rc)) if "native_born" in c]
        if "birth_country" in pc:
            native.append(f"p.birth_country = {ctry}")
        citizen = [f"{a}.citizen" for a, c in (("p", pc), ("rp", rc)) if "citizen" in c]
        if "citizenship" in pc:
            citizen.append(f"p.citizenship = {ctry}")
        native = f"coalesce({', '.join(native)})" if native else "NULL"
        citizen = f"coalesce({', '.join(citizen)})" if citizen else "NULL"
        if pc and rc:
            frm = "persons p FULL JOIN residence_persons rp USING (person_id)"
            pid = "person_id"
        elif pc:
            frm, pid = "persons p", "p.person_id"
        else:
            frm, pid = "residence_persons rp", "rp.person_id"
        birth_date = ("coalesce(p.birth_date, rp.birth_date)" if "birth_date" in pc and
                      "birth_date" in rc else pick("birth_date", "birth_date"))
        return (f"SELECT {pid} AS person_id, {pick('sex', 'sex')} AS sex, "
                f"CAST({birth_date} AS DATE) AS birth_date, "
                f"{pick('birth_year', 'birth_year')} AS birth_year, "
                f"CAST({native} AS BOOLEAN) AS native_born, "
                f"CAST({citizen} AS BOOLEAN) AS citizen FROM {frm}")

    def _residence(self, sec: Section) -> None:
        if not self.has("residence"):
            sec.status = NOT_RUN
            sec.missing("Residence", "no residence table in this run")
            return
        st = self.df("""
            SELECT rule, CAST(reference_date AS DATE) AS reference_date,
                   count(*) FILTER (WHERE resident) AS resident,
                   count(*) FILTER (WHERE status = 'resident_present') AS resident_present,
                   count(*) FILTER (WHERE status = 'resident_abroad') AS resident_abroad,
                   count(*) FILTER (WHERE status = 'temporary_present') AS temporary_present,
                   count(*) FILTER (WHERE status = 'provisional' OR status IS NULL)
                       AS provisional
            FROM residence GROUP BY ALL ORDER BY ALL""")
        if not len(st):
            sec.para("The residence table is empty: no person was classified.")
            return
        rules = self._rules(st["rule"].unique())
        st["rule"] = pd.Categorical(st["rule"], rules, ordered=True)
        st = st.sort_values(["rule", "reference_date"])
        sec.para("Resident population at each reference date under each residence rule "
                 "(RESIDENCE.md): <em>resident</em> = resident present + resident temporarily "
                 "abroad (UN Annex I, resident population); <em>temporary present</em> is the "
                 "temporary (non-resident) population present on the date; "
                 "<em>provisional</em> counts persons whose status cannot be decided yet "
                 "(12/16 window still open, or the date is after the end of the data).")
        sec.sub("Stocks over time")
        panels = {}
        for rule in rules:
            g = st[st["rule"] == rule]
            x = [d.strftime("%Y-%m-%d") for d in pd.to_datetime(g["reference_date"])]
            panels[rule] = {name: (x, self.supp.chart_values(g[col])) for name, col in
                            (("resident", "resident"), ("temporary present", "temporary_present"),
                             ("provisional", "provisional"))}
        sec.chart(charts.small_multiples(panels, ylabel="persons"),
                  "Resident, temporary-present and provisional persons at each reference date, "
                  "one panel per rule.")
        cnt = ("resident", "resident_present", "resident_abroad", "temporary_present",
               "provisional")
        sec.table(df_table(st.astype({"rule": str}), counts=cnt, supp=self.supp,
                           labels={"reference_date": "reference date"},
                           caption="Stocks by rule and reference date", collapsed=len(st) > 30))
        self._stays(sec)
        self._flows(sec, rules)
        self._pyramid_and_groups(sec, rules)
        self._residence_truth(sec, rules)
        self._flows_truth(sec, rules)

    #: how a stay's start or end was established (integrators/micro.py, stays repairs)
    STAY_EVIDENCE = {
        None: "observed crossing", "imputed_crossing": "imputed crossing (midpoint of a gap)",
        "open": "still present at the end of the data", "data_start": "start of the data",
        "register": "register entry", "deregistration": "register exit", "visa": "visa start",
        "census": "census", "birth": "birth", "death": "death",
    }

    def _stays(self, sec: Section) -> None:
        """How the periods of presence were established: observed crossings, or repairs."""
        cols = set(self.cols("stays"))
        if not {"start_repair", "end_repair"} <= cols:
            return
        d = self.df("""
            SELECT 'start' AS side, start_repair AS how, count(*) AS stays FROM stays GROUP BY ALL
            UNION ALL
            SELECT 'end', end_repair, count(*) FROM stays GROUP BY ALL""")
        if not len(d):
            return
        d["how"] = d["how"].where(d["how"].notna(), None)
        d["evidence"] = [self.STAY_EVIDENCE.get(h, str(h).replace("_", " ")) for h in d["how"]]
        piv = d.pivot_table(index="evidence", columns="side", values="stays", aggfunc="sum",
                            fill_value=0).reindex(columns=["start", "end"], fill_value=0)
        order = list(dict.fromkeys(self.STAY_EVIDENCE.values()))
        piv = piv.reindex(sorted(piv.index, key=lambda e: (order.index(e) if e in order
                                                            else len(order), e)))
        total = int(d.loc[d["side"] == "start", "stays"].sum())
        piv = piv.reset_index().rename(columns={"start": "start of stay", "end": "end of stay"})
        sec.sub("Periods of presence")
        sec.para(f"{fmt_int(total)} stays (periods of presence) were built from the crossings. "
                 "Where a crossing is missing, micro-integration completes the stay from the "
                 "other sources (RESIDENCE.md); the more stays rest on repairs, the more the "
                 "residence statuses depend on them.")
        sec.table(df_table(piv, counts=("start of stay", "end of stay"), supp=self.supp,
                           caption="How the start and the end of each stay were established"))

    def _flows(self, sec: Section, rules: list[str]) -> None:
        sec.sub("Flows: immigration and emigration")
        if not self.has("migration_events"):
            sec.missing("Flows", "no migration_events table in this run")
            return
        mc = set(self.cols("migration_events"))
        when = ("CASE WHEN rule = '12/16' OR decided_on IS NULL THEN event_date "
                "ELSE decided_on END" if "decided_on" in mc else "event_date")
        ret = ("count(*) FILTER (WHERE event = 'immigration' AND returning_citizen)"
               if "returning_citizen" in mc else "NULL")
        nat = ("count(*) FILTER (WHERE event = 'immigration' AND native_born)"
               if "native_born" in mc else "NULL")
        f = self.df(f"""
            SELECT rule, year({when}) AS year,
                   count(*) FILTER (WHERE event = 'immigration') AS immigration,
                   count(*) FILTER (WHERE event = 'emigration') AS emigration,
                   {ret} AS returning_citizens, {nat} AS returning_native_born
            FROM migration_events GROUP BY ALL ORDER BY ALL""")
        if not len(f):
            sec.para("No migration event was found under any rule.")
            return
        f["rule"] = pd.Categorical(f["rule"], self._rules(f["rule"].unique()), ordered=True)
        f = f.sort_values(["rule", "year"]).astype({"rule": str})
        f["net_migration"] = f["immigration"] - f["emigration"]
        f = f.dropna(axis=1, how="all")
        panels = {}
        for rule in [r for r in rules if r in set(f["rule"])]:
            g = f[f["rule"] == rule]
            yrs = [str(int(y)) for y in g["year"]]
            panels[rule] = {"immigration": (yrs, self.supp.chart_values(g["immigration"])),
                            "emigration": (yrs, self.supp.chart_values(g["emigration"]))}
        sec.chart(charts.small_multiples(panels, ylabel="events", kind="bar"),
                  "Immigration and emigration per calendar year, one panel per rule. Under "
                  "12/16 an event is dated by the crossing that caused it; under 6/12 and 12/12 "
                  "by the day the rule first decides it (RESIDENCE.md), so that stocks change "
                  "by exactly these flows.")
        f["year"] = f["year"].astype("Int64").astype(str)
        counts = [c for c in ("immigration", "emigration", "returning_citizens",
                              "returning_native_born") if c in f.columns]
        sec.table(df_table(f, counts=counts, supp=self.supp,
                           labels={"net_migration": "net migration",
                                   "returning_citizens": "returning citizens",
                                   "returning_native_born": "returning native-born"},
                           collapsed=len(f) > 30,
                           caption="Migration flows by rule and year (UN Annex I: immigration, "
                                   "emigration, returning citizens, returning native-born)",
                           note="Net migration is computed from the unsuppressed counts."))

    def _pyramid_and_groups(self, sec: Section, rules: list[str]) -> None:
        sec.sub("Population pyramid: foreign-born and native-born residents")
        groups = self._person_groups_sql()
        if groups is None:
            sec.missing("Population pyramid", "no persons or residence_persons table")
            sec.sub("The four subpopulations")
            sec.missing("Subpopulations", "no persons or residence_persons table")
            return
        rule = rules[0]
        ref = self.con.execute("SELECT max(reference_date) FROM residence WHERE rule = ?",
                               [rule]).fetchone()[0]
        age = ("CASE WHEN g.birth_date IS NOT NULL "
               "THEN date_sub('year', g.birth_date, r.reference_date) "
               "ELSE year(r.reference_date) - g.birth_year END")
        pyr = self.df(f"""
            WITH g AS ({groups})
            SELECT least(CAST(floor(({age}) / 5) AS INTEGER) * 5, {AGE_TOP}) AS age5,
                   g.sex, g.native_born, count(*) AS n
            FROM residence r JOIN g USING (person_id)
            WHERE r.rule = ? AND r.reference_date = ? AND r.resident
            GROUP BY ALL""", [rule, ref])
        known = pyr[pyr["age5"].notna() & pyr["sex"].isin(["F", "M"]) & pyr["native_born"].notna()
                    & (pyr["age5"] >= 0)]
        if len(known):
            ages = list(range(0, AGE_TOP + 1, 5))
            lab = [f"{a}–{a + 4}" if a < AGE_TOP else f"{AGE_TOP}+" for a in ages]
            piv = (known.pivot_table(index="age5", columns=["sex", "native_born"], values="n",
                                     aggfunc="sum").reindex(ages).fillna(0))

            def col(sex, nb):
                if (sex, nb) in piv.columns:
                    return piv[(sex, nb)].to_numpy()
                return np.zeros(len(ages))

            male = {"native-born": self.supp.chart_values(col("M", True)),
                    "foreign-born": self.supp.chart_values(col("M", False))}
            female = {"native-born": self.supp.chart_values(col("F", True)),
                      "foreign-born": self.supp.chart_values(col("F", False))}
            refs = pd.Timestamp(ref).strftime("%Y-%m-%d")
            drawn = sum(v.sum() for v in (*male.values(), *female.values()))
            if not drawn:
                sec.missing("Population pyramid chart", "every cell is under the disclosure "
                                                        "threshold")
            else:
                sec.chart(charts.pyramid(lab, male, female, xlabel="resident persons"),
                          f"Resident population on {refs} under rule {rule} by 5-year age group "
                          "and sex; native-born (UN Annex I, born in the country) inside, "
                          "foreign-born stacked outside. Cells under the disclosure threshold are "
                          "not drawn.")
            tab = pd.DataFrame({"age group": lab,
                                "males native-born": col("M", True),
                                "males foreign-born": col("M", False),
                                "females native-born": col("F", True),
                                "females foreign-born": col("F", False)})
            sec.table(df_table(tab, counts=tuple(tab.columns[1:]), supp=self.supp,
                               caption=f"Pyramid counts ({refs}, rule {rule})", collapsed=True))
            unk = int(pyr["n"].sum() - known["n"].sum())
            if unk:
                sec.para(f"Residents left out of the pyramid because age, sex (F/M) or place "
                         f"of birth is unknown (or sex X): {self.supp.cell(unk)[0]}.")
        else:
            sec.missing("Population pyramid", "no resident with known age, sex and place of "
                                              "birth")
        sec.sub("The four subpopulations")
        sp = self.df(f"""
            WITH g AS ({groups})
            SELECT r.rule, CAST(r.reference_date AS DATE) AS reference_date,
                   count(*) FILTER (WHERE g.native_born AND g.citizen) AS native_born_citizens,
                   count(*) FILTER (WHERE g.native_born AND NOT g.citizen)
                       AS native_born_foreign_citizens,
                   count(*) FILTER (WHERE NOT g.native_born AND g.citizen)
                       AS foreign_born_citizens,
                   count(*) FILTER (WHERE NOT g.native_born AND NOT g.citizen)
                       AS foreign_born_foreign_citizens,
                   count(*) FILTER (WHERE g.native_born IS NULL OR g.citizen IS NULL) AS unknown,
                   count(*) AS resident
            FROM residence r LEFT JOIN g USING (person_id)
            WHERE r.resident GROUP BY ALL ORDER BY ALL""")
        if not len(sp):
            sec.missing("Subpopulations", "no resident person")
            return
        sp["rule"] = pd.Categorical(sp["rule"], rules, ordered=True)
        sp = sp.sort_values(["rule", "reference_date"]).astype({"rule": str})
        cnt = tuple(sp.columns[2:])
        sec.table(df_table(sp, counts=cnt, supp=self.supp,
                           labels={c: c.replace("_born", "-born").replace("_", " ")
                                   for c in sp.columns},
                           collapsed=len(sp) > 30,
                           caption="Resident population by place of birth and citizenship "
                                   "(the four subpopulations of the UN framework)",
                           note="Native-born: born in the country of measurement; citizen: "
                                "holds its citizenship. The immigrant population (stock) is "
                                "everyone but native-born citizens."))
        last = sp.groupby("rule", sort=False).tail(1)
        labels = ["native-born\ncitizens", "native-born\nforeign citizens",
                  "foreign-born\ncitizens", "foreign-born\nforeign citizens"]
        series = {f"{r} ({pd.Timestamp(d).strftime('%Y-%m-%d')})":
                  self.supp.chart_values(row[list(schema.SUBPOPULATIONS)].to_numpy())
                  for (_, row), r, d in zip(last.iterrows(), last["rule"], last["reference_date"])}
        sec.chart(charts.grouped_bars(labels, series, ylabel="resident persons"),
                  "The four subpopulations at the latest reference date of each rule.")

    def _residence_truth(self, sec: Section, rules: list[str]) -> None:
        sec.sub("Accuracy against the truth")
        truth_res, truth_rec = self.truth("residence.parquet"), self.truth("records.parquet")
        if truth_res is None or truth_rec is None:
            sec.missing("Residence accuracy", "no truth given (only the demo's synthetic world "
                                              "has one)")
            return
        if not self.has("clusters"):
            sec.missing("Residence accuracy", "no clusters table to map persons to the truth")
            return
        acc = self.df(f"""
            WITH best AS (
                SELECT true_id, arg_max(person_id, n) AS person_id FROM (
                    SELECT t.true_id, c.person_id, count(*) AS n
                    FROM read_parquet({_sql_str(truth_rec)}) t
                    JOIN clusters c ON c.source = t.source
                                   AND c.record_id = CAST(t.record_id AS VARCHAR)
                    GROUP BY ALL) GROUP BY true_id),
            pred AS (SELECT b.true_id, r.reference_date, r.rule, r.status, r.resident
                     FROM residence r JOIN best b USING (person_id)),
            tr AS (SELECT * FROM read_parquet({_sql_str(truth_res)}))
            SELECT t.rule, CAST(t.reference_date AS DATE) AS reference_date,
                   count(*) AS persons,
                   avg(CASE WHEN p.status IS NOT DISTINCT FROM t.status THEN 1 ELSE 0 END)
                       AS same_status,
                   count(*) FILTER (WHERE t.resident) AS true_residents,
                   (SELECT count(*) FROM residence r2 WHERE r2.rule = t.rule
                      AND r2.reference_date = t.reference_date AND r2.resident)
                       AS estimated_residents
            FROM tr t LEFT JOIN pred p ON p.true_id = t.true_id
                 AND p.reference_date = t.reference_date AND p.rule = t.rule
            GROUP BY ALL ORDER BY ALL""")
        if not len(acc):
            sec.missing("Residence accuracy", "the truth has no residence rows")
            return
        acc["rule"] = pd.Categorical(acc["rule"], self._rules(acc["rule"].unique()), ordered=True)
        acc = acc.sort_values(["rule", "reference_date"]).astype({"rule": str})
        acc["difference"] = acc["estimated_residents"] - acc["true_residents"]
        sec.table(df_table(acc, counts=("persons", "true_residents", "estimated_residents"),
                           pcts=("same_status",), supp=self.supp,
                           labels={"same_status": "same status", "persons": "true persons",
                                   "true_residents": "true residents",
                                   "estimated_residents": "estimated residents",
                                   "reference_date": "reference date"},
                           caption="Residence status against the synthetic truth",
                           collapsed=len(acc) > 30,
                           note="Same status: share of true person × reference date × rule "
                                "whose status in this run (of the linked person holding most "
                                "of the true person's records) equals the true status; a true "
                                "person with no linked record counts as wrong."))

    def _flows_truth(self, sec: Section, rules: list[str]) -> None:
        """Estimated against true migration events per rule, event and year of event_date."""
        tev = self.truth("migration_events.parquet")
        if tev is None or not self.has("migration_events"):
            return
        f = self.df(f"""
            WITH est AS (SELECT rule, event, year(event_date) AS year, count(*) AS estimated
                         FROM migration_events GROUP BY ALL),
                 tr AS (SELECT rule, event, year(event_date) AS year, count(*) AS true_count
                        FROM read_parquet({_sql_str(tev)}) GROUP BY ALL)
            SELECT rule, event, year, coalesce(true_count, 0) AS true_count,
                   coalesce(estimated, 0) AS estimated
            FROM est FULL JOIN tr USING (rule, event, year) ORDER BY ALL""")
        if not len(f):
            return
        f["rule"] = pd.Categorical(f["rule"], self._rules(f["rule"].unique()), ordered=True)
        f = f.sort_values(["rule", "event", "year"]).astype({"rule": str})
        f["year"] = f["year"].astype("Int64").astype(str)
        f["difference"] = f["estimated"] - f["true_count"]
        sec.table(df_table(f, counts=("true_count", "estimated"), supp=self.supp,
                           labels={"true_count": "true"},
                           caption="Migration events against the synthetic truth (by year of "
                                   "event date)", collapsed=len(f) > 12,
                           note="Both counted by the year of event_date (the move itself), "
                                "so the comparison is the same under every rule."))

    # -- 4. mobility --------------------------------------------------------------------------
    def _mobility(self, sec: Section) -> None:
        part = False
        sec.sub("Temporary mobility by type")
        if self.has("mobility"):
            part = True
            mc = set(self.cols("mobility"))
            trips = "sum(trips)" if "trips" in mc else "NULL"
            pdays = "sum(person_days)" if "person_days" in mc else "NULL"
            m = self.df(f"""
                SELECT year, mobility_type, count(DISTINCT person_id) AS persons,
                       {trips} AS trips, {pdays} AS person_days
                FROM mobility GROUP BY ALL ORDER BY ALL""").dropna(axis=1, how="all")
            if len(m):
                sec.para("Non-residents' movements without a change of country of residence "
                         "(UN Annex I, temporary population mobility), by type "
                         "(RESIDENCE.md, temporary mobility). A person may have several types "
                         "in a year. Person-days count end-of-day presence.")
                types = sorted(m["mobility_type"].unique())
                years = sorted(m["year"].unique())
                val = "person_days" if "person_days" in m.columns else "persons"
                hidden = m["persons"].map(self.supp.hidden).astype(bool)
                mc_ = m.assign(**{val: m[val].where(~hidden, 0)})
                series = {str(int(y)): self.supp.chart_values(
                    mc_[mc_["year"] == y].set_index("mobility_type")[val].reindex(types)
                    .fillna(0)) for y in years}
                sec.chart(charts.grouped_bars([t.replace("_", "\n") for t in types], series,
                                              ylabel=val.replace("_", "-")),
                          f"{val.replace('_', '-').capitalize()} of temporary mobility by type "
                          "and year.")
                sec.table(self._pivot(m, "mobility_type", "year", "persons", counts=True,
                                      caption="Persons with temporary mobility, by type and "
                                              "year", row_label="type"))
                if "person_days" in m.columns:
                    sec.table(self._pivot(m, "mobility_type", "year", "person_days",
                                          caption="Person-days of temporary mobility, by type "
                                                  "and year", row_label="type",
                                          note="Person-days of a type with fewer persons than "
                                               "the disclosure threshold are not shown "
                                               "(supp.)."))
                shown = self.supp.dependents(m.astype({"year": str}), "persons",
                                             ("trips", "person_days"))
                sec.table(df_table(shown, counts=("persons",), supp=self.supp,
                                   numbers=("trips", "person_days"),
                                   labels={"mobility_type": "type",
                                           "person_days": "person-days"},
                                   caption="Temporary mobility by year and type: persons, trips "
                                           "and person-days", collapsed=True,
                                   note="Trips and person-days of a type with fewer persons "
                                        "than the disclosure threshold are not shown "
                                        "(supp.)."))
            else:
                sec.para("No temporary mobility was found.")
        else:
            sec.missing("Temporary mobility", "no mobility table in this run")
        sec.sub("Service population")
        sp = self._table_or_csv("service_population")
        if sp is not None:
            part = True
            if not len(sp):
                sec.para("The service population table is empty.")
            elif {"year", "visa_category", "average_daily"} <= set(sp.columns):
                sec.para("Everyone present, by visa category (residents as one category): the "
                         "average daily service population is person-days divided by the days "
                         "in the year (RESIDENCE.md, person-days).")
                sec.table(self._pivot(sp, "visa_category", "year", "average_daily",
                                      caption="Average daily service population by visa "
                                              "category and year", row_label="visa category",
                                      total=True,
                                      note="Categories with fewer persons than the disclosure "
                                           "threshold are not shown (supp.); the total "
                                           "includes them."))
            if len(sp):
                sec.table(self._generic(sp, "Service population: every figure (person-days, "
                                            "days touched, persons, average daily)",
                                        collapsed=True))
        else:
            sec.missing("Service population", "no service_population table in this run")
        if not part:
            sec.status = NOT_RUN

    def _pivot(self, df: pd.DataFrame, index: str, columns: str, value: str, *,
               caption: str, row_label: str, counts: bool = False, total: bool = False,
               note: str = "") -> Table:
        """``value`` as a rows × columns table (e.g. type × year). With ``counts`` the cells
        are counts of persons (suppressed when small); otherwise cells whose row of ``df``
        has a small ``persons`` count are withheld (supp.)."""
        d = df.copy()
        if not counts and "persons" in d.columns:
            hidden = d["persons"].map(self.supp.hidden).astype(bool)
        else:
            hidden = pd.Series(False, index=d.index)
        d["_v"] = d[value].astype(object).where(~hidden, SUPPRESSED)
        if hidden.any():
            self.supp.used = True
        cols = sorted(d[columns].unique())
        piv = d.pivot(index=index, columns=columns, values="_v").reindex(columns=cols)
        piv.columns = [str(int(c)) if isinstance(c, (int, np.integer, float)) else str(c)
                       for c in piv.columns]
        if total:
            sums = d.groupby(columns)[value].sum().reindex(cols)
            piv.loc["total"] = sums.to_numpy()
        piv = piv.reset_index().rename(columns={index: row_label})
        piv[row_label] = piv[row_label].astype(str).str.replace("_", " ")
        year_cols = list(piv.columns[1:])
        if counts:
            piv[year_cols] = piv[year_cols].apply(pd.to_numeric).fillna(0)
        return df_table(piv, counts=year_cols if counts else (),
                        numbers=() if counts else year_cols, supp=self.supp,
                        caption=caption, note=note)

    def _table_or_csv(self, name: str) -> pd.DataFrame | None:
        if self.has(name):
            return self.df(f'SELECT * FROM "{name}"')
        p = self.out_dir / "tables" / f"{name}.csv"
        if p.exists():
            return pd.read_csv(p)
        return None

    _KEY_NAMES = re.compile(r"(^|_)(year|age|month|day|date|rule|id|code|order|level|k)(_|$)")
    #: measures that are differences or rates, not counts of persons: never suppressed
    _NOT_COUNTS = re.compile(r"(^|_)(residual|adjustment|difference|variance|share|rate|"
                             r"average|mean|ratio|weight|se|df)(_|$)")

    def _generic(self, df: pd.DataFrame, caption: str, collapsed: bool = False) -> Table:
        """A table whose schema the report does not know: integer-valued measure columns are
        treated as counts of persons and suppressed when small; keys are shown as they are."""
        df = df.copy()
        for c in df.columns:  # numbers stored as text (e.g. "<NA>" for a suppressed cell)
            if df[c].dtype == object:
                raw = df[c].map(lambda v: None if v is None or (isinstance(v, str) and
                                                                v.strip() in NULL_TEXT)
                                else v)
                num = pd.to_numeric(raw, errors="coerce")
                if raw.notna().any() and num.notna().sum() == raw.notna().sum():
                    df[c] = num
        counts = []
        for c in df.columns:
            s = df[c]
            if (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
                    and not self._KEY_NAMES.search(str(c).lower())
                    and not self._NOT_COUNTS.search(str(c).lower())):
                v = pd.to_numeric(s, errors="coerce").dropna()
                if len(v) and (np.floor(v) == v).all():
                    counts.append(c)
        keys = [c for c in df.columns if c not in counts and
                not pd.api.types.is_float_dtype(df[c])]
        out = df.copy()
        for c in keys:
            if pd.api.types.is_integer_dtype(out[c]):
                out[c] = out[c].astype(str)
        if "persons" in out.columns and pd.api.types.is_numeric_dtype(out["persons"]):
            measures = [c for c in out.columns if c != "persons" and c not in keys]
            out = self.supp.dependents(out, "persons", measures)
        return df_table(out, counts=counts, supp=self.supp, caption=caption,
                        collapsed=collapsed or len(out) > 25)

    # -- 5. accounts --------------------------------------------------------------------------
    def _accounts(self, sec: Section) -> None:
        acc = self._table_or_csv("accounts")
        if acc is None:
            sec.status = NOT_RUN
            sec.missing("Population accounts", "no accounts table in this run")
            return
        sec.para("Demographic accounts of the resident population for the four subpopulations "
                 "(UN revised framework, coherence of stocks and flows): closing accounted = "
                 "opening + births − deaths + immigration − emigration + transitions in − "
                 "transitions out; the residual is closing observed − closing accounted.")
        if "residual" in acc.columns and "group" in acc.columns:
            part, where = acc, ""
            if "rule" in acc.columns:
                rule = self._rules(acc["rule"].astype(str).unique())[0]
                part = part[part["rule"].astype(str) == rule]
                where = f" under rule {rule}"
            if "period_end" in part.columns and len(part):
                last = part["period_end"].astype(str).max()
                part = part[part["period_end"].astype(str) == last]
                start = part["period_start"].astype(str).iloc[0] if "period_start" in part else ""
                where += f", period {start} to {last}"
            keys = [c for c in part.columns if c in ("sex",)]
            labels = [" ".join([str(g).replace("_", " ")] + [str(r[k]) for k in keys])
                      for g, (_, r) in zip(part["group"], part.iterrows())]
            if len(part) < len(acc):
                shown = part.drop(columns=[c for c in ("rule", "period_start", "period_end")
                                           if c in part.columns])
                sec.table(self._generic(shown, f"Population accounts{where}"))
            res = pd.to_numeric(part["residual"], errors="coerce").fillna(0)
            if (res != 0).any():
                sec.chart(charts.bars(labels, res, horizontal=True,
                                      xlabel="residual (closing observed − closing accounted)"),
                          f"Residual of each account{where}: zero when the stocks and the "
                          "flows agree.")
            else:
                sec.para(f"Every residual{where} is zero: the stocks and the flows agree "
                         "exactly.")
        sec.table(self._generic(acc, "Population accounts", collapsed=len(acc) > 8))
        rec = self._table_or_csv("reconciled")
        if rec is not None:
            sec.sub("Reconciled accounts")
            sec.para("Weighted least-squares adjustment minimising Σ (x − x₀)² / variance "
                     "subject to every residual being zero (methodology section 6).")
            sec.table(self._generic(rec, "Reconciled components"))

    # -- 6. MSE -------------------------------------------------------------------------------
    def _mse(self, sec: Section) -> None:
        p = self.out_dir / "mse.json"
        if not p.exists():
            sec.status = NOT_RUN
            sec.missing("Multiple systems estimation", "no mse.json in this run (the mse "
                                                        "step did not run, or no mse.lists "
                                                        "are configured)")
            return
        res = json.loads(p.read_text(encoding="utf-8"))
        truth = None
        tp = self.truth("hidden_population.json")
        if tp is not None:
            truth = json.loads(tp.read_text(encoding="utf-8"))
        sec.para("Size of the hard-to-count population from the overlaps of the lists, by "
                 "log-linear Poisson models of the capture patterns (methodology section 7, "
                 "with the references). The estimate is the observed number "
                 "plus the fitted count of the unobserved pattern.")
        lists = res.get("lists") or []
        if res.get("estimate") is None:
            sec.figures([("lists", ", ".join(map(str, lists)) or "–"),
                         ("observed", fmt_int(res.get("observed")))])
            sec.add("notrun", what="No estimate", note=True,
                    why=str(res.get("error") or "mse.json holds none").rstrip("."))
            return
        if res.get("warning"):
            sec.add("notrun", what="Strata", note=True, why=str(res["warning"]).rstrip("."))
        level = res.get("ci_level", 0.95)
        figs = [("lists", ", ".join(map(str, lists)) or "–"),
                ("observed", fmt_int(res.get("observed"))),
                ("estimate", fmt_int(res.get("estimate"))),
                (f"{fmt_num(100 * float(level))}% interval ({res.get('ci_method', '–')})",
                 f"{fmt_int(res.get('ci_low'))} – {fmt_int(res.get('ci_high'))}")]
        if truth and truth.get("total") is not None:
            figs.append(("true size (synthetic)", fmt_int(truth["total"])))
        sec.figures(figs)
        kv = pd.DataFrame([
            ("method", res.get("method")),
            ("model (generating class)",
             "one per stratum (below)" if res.get("strata") and res.get("model") is None
             else self._model_name(res.get("model"))),
            ("terms set to −∞ (empty overlaps)", ", ".join(res.get("neg_inf_terms") or []) or
             "none"),
            ("standard error", fmt_num(res.get("se"))),
            ("estimated unobserved", fmt_num(res.get("unobserved"))),
            ("deviance / df", f"{fmt_num(res.get('deviance'))} / {fmt_num(res.get('df'))}"),
            ("AIC / BIC", f"{fmt_num(res.get('aic'))} / {fmt_num(res.get('bic'))}")],
            columns=["", "value"])
        tl = res.get("two_list")
        if isinstance(tl, dict):
            extra = [(f"two lists: {k.replace('_', ' ')}", fmt_num(v)) for k, v in tl.items()
                     if isinstance(v, (int, float))]
            kv = pd.concat([kv, pd.DataFrame(extra, columns=["", "value"])], ignore_index=True)
        la = res.get("linkage_aware")
        if isinstance(la, dict) and la.get("estimate") is not None:
            info = la.get("linkage") or {}
            kv = pd.concat([kv, pd.DataFrame([
                ("linkage-aware interval (whole group)",
                 f"{fmt_int(la.get('ci_low'))} – {fmt_int(la.get('ci_high'))}"),
                ("linkage draws / between-draw SD",
                 f"{fmt_int(info.get('draws'))} / {fmt_num(info.get('between_draw_sd'))}")],
                columns=["", "value"])], ignore_index=True)
        sec.table(df_table(kv, caption="Chosen model"))
        self._mse_models(sec, res, truth.get("total") if truth else None, "all lists")
        strata = res.get("strata")
        if strata:
            self._mse_strata(sec, res, strata, truth)

    @staticmethod
    def _model_name(model) -> str:
        if model is None:
            return "–"
        if isinstance(model, (list, tuple)):
            return ", ".join(map(str, model)) or "main effects only"
        return str(model) or "main effects only"

    def _mse_strata(self, sec: Section, res: dict, strata, truth: dict | None) -> None:
        """Per-stratum estimates (mse.json ``strata``: a list of objects, each with
        ``stratum`` {variable: value}; older layouts keyed by name are read too)."""
        if isinstance(strata, dict):
            strata = [{**v, "stratum": {"stratum": k}} for k, v in strata.items()
                      if isinstance(v, dict)]
        tstrata = (truth or {}).get("strata") or {}
        rows = []
        for r in strata:
            key = r.get("stratum") or {}
            name = ", ".join(f"{k} = {v}" for k, v in key.items()) if isinstance(key, dict) \
                else str(key)
            true = None
            if isinstance(key, dict) and len(key) == 1:
                (var, val), = key.items()
                true = (tstrata.get(var) or {}).get(str(val))
            rows.append({"stratum": name, "observed": r.get("observed"),
                         "estimate": r.get("estimate"), "ci_low": r.get("ci_low"),
                         "ci_high": r.get("ci_high"),
                         "model": self._model_name(r.get("model")), "true_size": true})
        if not rows:
            return
        sec.sub("By stratum")
        total = (truth or {}).get("total")
        rows.append({"stratum": "total (sum of strata)", "observed": res.get("observed"),
                     "estimate": res.get("estimate"), "ci_low": res.get("ci_low"),
                     "ci_high": res.get("ci_high"), "model": "", "true_size": total})
        df = pd.DataFrame(rows).dropna(axis=1, how="all")
        est = pd.to_numeric(df["estimate"], errors="coerce")
        sec.chart(charts.forest(df["stratum"], est,
                                pd.to_numeric(df.get("ci_low"), errors="coerce"),
                                pd.to_numeric(df.get("ci_high"), errors="coerce"),
                                chosen=len(df) - 1),
                  "Estimate and interval per stratum; the total (highlighted) is the sum of the "
                  "strata's estimates, its interval " + str(res.get("rule_for_sum") or
                                                            "by the method's rule for sums")
                  + ".")
        sec.table(df_table(df, numbers=[c for c in df.columns if c not in ("stratum", "model")],
                           labels={"ci_low": "interval low", "ci_high": "interval high",
                                   "true_size": "true size"},
                           caption="Estimates by stratum"))
        if len(strata) <= 6:
            for r, row in zip(strata, rows):
                if r.get("models"):
                    sec.sub(f"Models tried in stratum {row['stratum']}")
                    self._mse_models(sec, r, row.get("true_size"), row["stratum"])

    def _mse_models(self, sec: Section, res: dict, truth, what: str) -> None:
        models = res.get("models") or []
        if not models:
            return
        chosen_name = self._model_name(res.get("model"))
        level = float(res.get("ci_level") or 0.95)
        z = float(stats.norm.ppf(0.5 + level / 2))
        n = res.get("observed")
        rows = []
        for m in models:
            terms = m.get("terms", m.get("model"))
            est, se = m.get("estimate"), m.get("se")
            lo, hi = m.get("ci_low"), m.get("ci_high")
            if lo is None and isinstance(est, (int, float)) and isinstance(se, (int, float)):
                lo, hi = max(est - z * se, n or 0), est + z * se
            rows.append({"model": self._model_name(terms), "estimate": est, "se": se,
                         "ci_low": lo, "ci_high": hi,
                         "deviance": m.get("deviance"), "df": m.get("df"), "AIC": m.get("aic"),
                         "BIC": m.get("bic"),
                         "existence code": m.get("existence", m.get("exists",
                                                                    m.get("code")))})
        df = pd.DataFrame(rows)
        chosen = None
        idx = [i for i, nm in enumerate(df["model"]) if nm == chosen_name]
        if idx:
            chosen = idx[0]
            if res.get("ci_low") is not None:
                df[["ci_low", "ci_high"]] = df[["ci_low", "ci_high"]].astype(float)
                df.loc[chosen, ["ci_low", "ci_high"]] = [res["ci_low"], res["ci_high"]]
        finite = pd.to_numeric(df["estimate"], errors="coerce")
        show = df[np.isfinite(finite.fillna(np.nan))].reset_index()
        if len(show):
            ch = (int(np.flatnonzero(show["index"] == chosen)[0])
                  if chosen is not None and (show["index"] == chosen).any() else None)
            sec.chart(charts.forest(show["model"], show["estimate"],
                                    pd.to_numeric(show["ci_low"], errors="coerce"),
                                    pd.to_numeric(show["ci_high"], errors="coerce"),
                                    chosen=ch, truth=truth),
                      f"Estimate of every model tried ({what}) with a {fmt_num(100 * level)}% "
                      f"interval: the chosen model (highlighted) with its "
                      f"{res.get('ci_method', '')} interval, the others with the Wald interval "
                      "estimate ± z·se (lower limit at least the observed number). Models whose "
                      "estimate does not exist are left out.")
        df = df.dropna(axis=1, how="all")
        sec.table(df_table(df, numbers=[c for c in df.columns
                                        if c not in ("model", "existence code")],
                           labels={"ci_low": "interval low", "ci_high": "interval high"},
                           caption="Models tried", collapsed=len(df) > 12,
                           note=f"Chosen: {chosen_name}. Existence code 0: the estimate "
                                "exists; other codes name why it does not."))

    # -- 7. tables/*.csv ----------------------------------------------------------------------
    def _csv_tables(self, sec: Section) -> None:
        folder = self.out_dir / "tables"
        files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
        if not files:
            sec.status = NOT_RUN
            sec.missing("Aggregate tables", f"no CSV in {folder}")
            return
        sec.para("The aggregate tables written to <code>tables/</code>, as published (after "
                 "disclosure control). Long tables (stocks, flows) are shown as their totals — "
                 "all persons, by date — with the breakdowns by sex, age, citizenship and "
                 "country of birth left to the file; other tables are shown up to 200 rows. "
                 "Open a table to read it.")
        for p in files:
            df = pd.read_csv(p)
            long = {"variable", "category", "sex", "value"} <= set(df.columns)
            time_col = next((c for c in ("reference_date", "period_end") if c in df.columns),
                            None)
            if long and time_col:
                tot = df[(df["variable"].astype(str) == "total")
                         & (df["sex"].astype(str) == "total")]
                keys = [c for c in df.columns if c not in
                        ("variable", "category", "sex", "value", "suppressed", time_col,
                         "period_start")]
                piv = tot.pivot_table(index=keys, columns=time_col, values="value",
                                      aggfunc="first", sort=False, dropna=False)
                piv = piv.reindex(columns=sorted(piv.columns)).reset_index()
                piv.columns = [str(c) for c in piv.columns]
                order = {r: i for i, r in enumerate(self._rules(piv["rule"].unique()))} \
                    if "rule" in piv.columns else {}
                if order:
                    piv = piv.sort_values("rule", key=lambda r: r.map(order), kind="stable")
                what = "reference date" if time_col == "reference_date" else "period ending"
                t = self._generic(piv, f"{p.name} — totals by {what} ({len(df):,} rows in the "
                                       "file)", collapsed=True)
            else:
                t = self._generic(df.head(200), f"{p.name} — {len(df):,} rows"
                                  + (" (first 200 shown)" if len(df) > 200 else ""),
                                  collapsed=True)
            sec.table(t)

    # -- page -------------------------------------------------------------------------------
    def _render(self) -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
            autoescape=jinja2.select_autoescape(["html", "j2"]),
            trim_blocks=True, lstrip_blocks=True)
        tpl = env.get_template("report.html.j2")
        rep = getattr(self.cfg, "report", None) or {}
        title = rep.get("title") or "miglink report"
        res = getattr(self.cfg, "residence", None)
        meta = []
        if self.country:
            meta.append(("country of measurement", self.country))
        if getattr(self.cfg, "path", None):
            meta.append(("config", Path(self.cfg.path).name))
        if res is not None:
            meta.append(("residence rules", ", ".join(res.rules)))
            meta.append(("reference dates", ", ".join(str(d) for d in res.reference_dates)))
            if res.observed_until:
                meta.append(("observed until", str(res.observed_until)))
        th = self._threshold()
        if th is not None:
            meta.append(("linkage threshold", f"match probability {th:g}"))
        meta.append(("disclosure threshold", f"counts under {self.supp.threshold} suppressed"))
        try:
            from importlib.metadata import version
            ver = version("miglink")
        except Exception:  # pragma: no cover - not installed
            ver = "unknown"
        return tpl.render(title=title, meta=meta, sections=self.sections, version=ver,
                          summary=self.summary,
                          threshold=self.supp.threshold, suppressed=self.supp.used,
                          truth=self.truth_dir is not None)


def write_report(con, out_dir, cfg=None, truth_dir=None) -> Path:
    """Write ``out_dir/report.html`` (atomically) from the run in ``con``; return its path."""
    rep = Report(con, out_dir, cfg, truth_dir).build()
    path = write_text(Path(out_dir) / "report.html", rep.html)
    # the temporary file was private (mkstemp: 0600); the report is meant to be shared
    mask = os.umask(0)
    os.umask(mask)
    path.chmod(0o666 & ~mask)
    return path
