"""The HTML report (integrators/report.py): sections, figures, disclosure, robustness.

The run is built by hand: small DuckDB tables with the DESIGN.md / docs/internals.md columns,
whose aggregates are worked out here independently of the report's SQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from integrators import charts
from integrators.report import SECTIONS, Report, Section, Suppressor, df_table, write_report

# Distinctive personal values planted in every table: none may reach the HTML.
SECRET_GIVEN = "Zebulonqx"
SECRET_FAMILY = "Quixwhistlebottom"
SECRET_DOC = "XQ9876543"
SECRET_DOB = dt.date(1937, 2, 11)
SECRET_STRINGS = (SECRET_GIVEN, SECRET_FAMILY, SECRET_DOC, "1937-02-11", "11/02/1937",
                  "19370211", "Feb 1937", "11 Feb", "Pukekohe Road")

N_PERSONS = 60
REF_DATES = [dt.date(2022, 12, 31), dt.date(2023, 12, 31)]
RULES = ["12/16", "6/12", "12/12"]


def person_status(i: int, rule: str, ref: dt.date) -> str:
    """Hand-made status of person i: residents are i % 3 != 0; under 6/12 at the second date
    persons 1..3 are provisional; multiples of 3 below 30 are temporary present."""
    if rule == "6/12" and ref == REF_DATES[1] and i <= 3:
        return "provisional"
    if i % 3 != 0:
        return "resident_abroad" if i % 10 == 1 else "resident_present"
    return "temporary_present" if i < 30 else "not_present"


def cfg_for(tmp_path: Path, **over) -> SimpleNamespace:
    cfg = SimpleNamespace(
        path=tmp_path / "world" / "config.yaml", country="NZL", seed=1,
        sources=[SimpleNamespace(name="border", kind="border"),
                 SimpleNamespace(name="visa", kind="visa"),
                 SimpleNamespace(name="census", kind="census"),
                 SimpleNamespace(name="police", kind="generic")],
        linkage={"engine": "splink", "backend": "duckdb", "threshold": 0.9},
        residence=SimpleNamespace(rules=list(RULES), reference_dates=list(REF_DATES),
                                  observed_until=dt.date(2024, 12, 31)),
        mse={"lists": ["police", "ngo", "health"]}, tables={},
        disclosure={"method": "suppress", "threshold": 5, "base": 3},
        report={"title": "Test country migration report"})
    for k, v in over.items():
        setattr(cfg, k, v)
    return cfg


def build_run(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path, Path]:
    """A complete hand-built run: DuckDB tables + out_dir files + a truth folder."""
    out = tmp_path / "out"
    (out / "linkage").mkdir(parents=True)
    (out / "tables").mkdir()
    truth = tmp_path / "truth"
    truth.mkdir()
    con = duckdb.connect()
    rng = np.random.default_rng(7)
    pids = np.arange(1, N_PERSONS + 1)

    # records: border 40, visa 25, census 30 (person of record k in source s: see below)
    recs = []
    for source, kind, n in (("border", "border", 40), ("visa", "visa", 25),
                            ("census", "census", 30)):
        for k in range(1, n + 1):
            recs.append({"source": source, "record_id": f"{source[0]}{k}", "kind": kind,
                         "row_number": k, "person_id": (k * 7 + len(source)) % N_PERSONS + 1})
    records = pd.DataFrame(recs)
    records["given_name"] = SECRET_GIVEN
    records["family_name"] = SECRET_FAMILY
    records["birth_date"] = SECRET_DOB
    records["document_number"] = SECRET_DOC
    records["address"] = "12 Pukekohe Road"
    con.register("_r", records)
    con.execute("CREATE TABLE records AS SELECT * EXCLUDE (person_id) FROM _r")
    con.execute("CREATE TABLE clusters AS SELECT source, record_id, "
                "CAST(person_id AS BIGINT) AS person_id FROM _r")
    # rejected: border 3 (2 duplicate ids, 1 unreadable date quoting the value), visa 1
    rej = pd.DataFrame({
        "source": ["border", "border", "border", "visa"],
        "row_number": [41, 42, 43, 26],
        "reason": [f"duplicate_id: id {SECRET_DOC} is on 2 rows of the source (all copies "
                   "rejected)", f"duplicate_id: id {SECRET_DOC} is on 2 rows of the source",
                   f"unreadable_crossing_date: cannot read {SECRET_DOB:%d/%m/%Y}",
                   "missing_id: no value in id column 'application_no'"],
        "raw": [json.dumps({"first": SECRET_GIVEN, "last": SECRET_FAMILY,
                            "dob": SECRET_DOB.isoformat(), "passport": SECRET_DOC})] * 4})
    con.register("_rej", rej)
    con.execute("CREATE TABLE rejected AS SELECT * FROM _rej")
    iss = pd.DataFrame({"source": ["census"] * 3 + ["visa"],
                        "record_id": ["c1", "c2", "c3", "v1"],
                        "field": ["birth_date", "birth_date", "sex", "birth_date"],
                        "raw_value": ["19370211", "11 Feb 1937", "Zebulonqx", "1937-02-11"],
                        "problem": ["unreadable date", "unreadable date", "unknown code",
                                    "unreadable date"]})
    con.register("_iss", iss)
    con.execute("CREATE TABLE field_issues AS SELECT * FROM _iss")
    # links: two humps of match weights
    w = np.concatenate([rng.normal(-8, 2, 400), rng.normal(12, 2, 60)])
    links = pd.DataFrame({"source_l": "border", "record_id_l": "b1", "source_r": "visa",
                          "record_id_r": "v1", "match_weight": w,
                          "match_probability": 1 / (1 + 2.0 ** -w)})
    con.register("_l", links)
    con.execute("CREATE TABLE links AS SELECT * FROM _l")
    # persons and residence_persons
    persons = pd.DataFrame({
        "person_id": pids, "given_name": SECRET_GIVEN, "family_name": SECRET_FAMILY,
        "document_number": SECRET_DOC,
        "sex": np.where(pids % 2 == 0, "F", "M"),
        "birth_date": [dt.date(1950 + (i * 7) % 70, 1 + i % 12, 1 + i % 28) for i in pids],
        "birth_country": np.where(pids % 4 == 0, "FJI", "NZL"),
        "citizenship": np.where(pids % 5 == 0, "FJI", "NZL")})
    persons.loc[persons.person_id == 1, "birth_date"] = SECRET_DOB
    con.register("_p", persons)
    con.execute("CREATE TABLE persons AS SELECT *, birth_country = 'NZL' AS native_born, "
                "citizenship = 'NZL' AS citizen FROM _p")
    con.execute("CREATE TABLE residence_persons AS SELECT person_id, citizen, "
                "CAST(NULL AS VARCHAR) AS initial_status, CAST(NULL AS DATE) AS "
                "permit_valid_until, native_born, birth_date FROM persons")
    # conflicts: 7 persons disagree on sex, 2 on birth_date (values never shown)
    conf = pd.DataFrame({"person_id": list(range(1, 8)) + [1, 2],
                         "field": ["sex"] * 7 + ["birth_date"] * 2,
                         "values": ["F, M"] * 7 + [f"{SECRET_DOB}, 1938-02-11"] * 2,
                         "detail": [f"{SECRET_GIVEN}"] * 9, "chosen": ["F"] * 9})
    con.register("_conf", conf)
    con.execute("CREATE TABLE person_conflicts AS SELECT * FROM _conf")
    # stays: 8 fully observed, 6 open at the end of the data, 2 starting with an imputed
    # crossing (one of them also open)
    stays = pd.DataFrame({"person_id": range(1, 17),
                          "start_repair": [None] * 14 + ["imputed_crossing"] * 2,
                          "end_repair": [None] * 8 + ["open"] * 6 + [None, "open"]})
    con.register("_stays", stays)
    con.execute("CREATE TABLE stays AS SELECT * FROM _stays")
    # residence
    res = []
    for i in pids:
        for rule in RULES:
            for ref in REF_DATES:
                s = person_status(int(i), rule, ref)
                res.append({"person_id": int(i), "reference_date": ref, "rule": rule,
                            "resident": None if s == "provisional" else s.startswith("resident"),
                            "status": s, "days_present": 200, "provisional": s == "provisional"})
    resdf = pd.DataFrame(res)
    con.register("_res", resdf)
    con.execute("CREATE TABLE residence AS SELECT * FROM _res")
    # migration events: 12/16: 7 immigrations in 2023 (3 returning citizens), 2 emigrations
    ev = ([{"person_id": i, "rule": "12/16", "event": "immigration",
            "event_date": dt.date(2023, 3, i), "decided_on": dt.date(2024, 3, i),
            "returning_citizen": i <= 3, "native_born": i <= 4} for i in range(1, 8)]
          + [{"person_id": 10 + i, "rule": "12/16", "event": "emigration",
              "event_date": dt.date(2023, 5, i), "decided_on": dt.date(2024, 5, i),
              "returning_citizen": False, "native_born": False} for i in range(1, 3)]
          + [{"person_id": 20 + i, "rule": "6/12", "event": "immigration",
              "event_date": dt.date(2022, 11, i), "decided_on": dt.date(2023, 5, i),
              "returning_citizen": False, "native_born": False} for i in range(1, 7)])
    con.register("_ev", pd.DataFrame(ev))
    con.execute("CREATE TABLE migration_events AS SELECT * FROM _ev")
    # mobility: 2023 circular 12 persons (2 trips, 10 person-days each), seasonal 2 persons
    mob = ([{"person_id": i, "year": 2023, "mobility_type": "circular", "trips": 2,
             "person_days": 10} for i in range(1, 13)]
           + [{"person_id": i, "year": 2023, "mobility_type": "seasonal_worker", "trips": 1,
               "person_days": 90} for i in range(20, 22)])
    con.register("_mob", pd.DataFrame(mob))
    con.execute("CREATE TABLE mobility AS SELECT * FROM _mob")
    con.execute("CREATE TABLE service_population AS SELECT 2023 AS year, "
                "'seasonal work' AS visa_category, 180 AS person_days, 12 AS persons, "
                "180 / 365.0 AS average_daily UNION ALL SELECT 2023, 'transit', 3, 2, 3 / 365.0")
    # accounts in tables/
    acc = pd.DataFrame({"group": ["native_born_citizens", "foreign_born_foreign_citizens"],
                        "opening": [100, 40], "births": [3, 0], "deaths": [2, 1],
                        "immigration": [7, 12], "emigration": [2, 3],
                        "transitions_in": [0, 0], "transitions_out": [0, 2],
                        "closing_accounted": [106, 46], "closing_observed": [106, 47],
                        "residual": [0, 1]})
    acc.to_csv(out / "tables" / "accounts.csv", index=False)
    pd.DataFrame({"rule": ["12/16"] * 2, "reference_date": ["2023-12-31"] * 2,
                  "sex": ["F", "M"], "persons": [21, 2]}).to_csv(out / "tables" / "stocks.csv",
                                                                   index=False)
    # a long table as integrators.stocks writes it: totals and a breakdown by sex
    pd.DataFrame({"period_start": ["2022-12-31"] * 4 + ["2021-12-31"] * 2,
                  "period_end": ["2023-12-31"] * 4 + ["2022-12-31"] * 2,
                  "rule": ["12/16"] * 6,
                  "flow": ["immigration", "immigration", "immigration", "emigration",
                           "immigration", "emigration"],
                  "sex": ["total", "F", "M", "total", "total", "total"],
                  "variable": "total", "category": "total",
                  "value": [30, 17, 13, None, 25, 8],
                  "suppressed": [False, False, False, True, False, False]}
                 ).to_csv(out / "tables" / "flows.csv", index=False)
    # Splink-style model JSON
    model = {"probability_two_random_records_match": 0.01, "comparisons": [
        {"output_column_name": "family_name", "comparison_levels": [
            {"sql_condition": "family_name_l IS NULL", "label_for_charts": "null",
             "is_null_level": True},
            {"sql_condition": "=", "label_for_charts": "exact match", "m_probability": 0.8,
             "u_probability": 0.01},
            {"sql_condition": "ELSE", "label_for_charts": "all other", "m_probability": 0.2,
             "u_probability": 0.99}]},
        {"output_column_name": "birth_date", "comparison_levels": [
            {"sql_condition": "=", "label_for_charts": "exact match", "m_probability": 0.9,
             "u_probability": 0.001},
            {"sql_condition": "ELSE", "label_for_charts": "all other", "m_probability": 0.1,
             "u_probability": 0.999}]}]}
    (out / "linkage" / "model.json").write_text(json.dumps(model))
    # mse.json (estimates of three models; the chosen one with an interval)
    mse = {"lists": ["police", "ngo", "health"], "observed": 310, "method": "stepwise",
           "model": ["police:ngo"], "neg_inf_terms": [], "estimate": 512.4, "se": 40.1,
           "unobserved": 202.4, "ci_low": 441.0, "ci_high": 603.5, "ci_method": "profile",
           "ci_level": 0.95, "deviance": 1.2, "df": 2, "aic": 40.2, "bic": 55.1,
           "models": [{"terms": [], "model": "[1] 0 0 0", "code": 0, "estimate": 450.0,
                       "se": 20.0, "deviance": 9.0, "df": 3, "aic": 46.0, "bic": 60.0},
                      {"terms": ["police:ngo"], "model": "[12] 1 0 0", "code": 0,
                       "estimate": 512.4, "se": 40.1, "deviance": 1.2, "df": 2, "aic": 40.2,
                       "bic": 55.1},
                      {"terms": ["police:ngo", "ngo:health"], "model": "[12,23] 1 1 0",
                       "code": 0, "estimate": 530.0, "se": 150.0, "deviance": 1.0, "df": 1,
                       "aic": 42.0, "bic": 58.3},
                      {"terms": ["police:ngo:health"], "model": "[123]", "code": 2,
                       "estimate": None, "se": None, "deviance": None, "df": 0, "aic": None,
                       "bic": None}]}
    (out / "mse.json").write_text(json.dumps(mse))
    # truth: records -> true ids (identity with person ids), residence, hidden population
    tr = records[["source", "record_id"]].copy()
    tr["true_id"] = records.merge(pd.DataFrame(recs)[["source", "record_id", "person_id"]]
                                  )["person_id"].to_numpy() + 1000
    tr.to_parquet(truth / "records.parquet")
    tres = resdf.assign(true_id=resdf["person_id"] + 1000)[
        ["true_id", "reference_date", "rule", "resident", "status"]].copy()
    # the truth differs from the run for persons 4 and 5 under 12/16 at both dates
    wrong = (tres["true_id"].isin([1004, 1005])) & (tres["rule"] == "12/16")
    tres.loc[wrong, "status"] = "not_present"
    tres.loc[wrong, "resident"] = False
    tres.to_parquet(truth / "residence.parquet")
    (truth / "hidden_population.json").write_text(json.dumps({"total": 500}))
    # true events: 12/16 immigrations in 2023: 8 (the run found 7), no emigration
    pd.DataFrame({"true_id": range(1001, 1009), "rule": "12/16", "event": "immigration",
                  "event_date": [dt.date(2023, 3, i) for i in range(1, 9)]}
                 ).to_parquet(truth / "migration_events.parquet")
    return con, out, truth


@pytest.fixture
def run(tmp_path):
    con, out, truth = build_run(tmp_path)
    yield con, out, truth, cfg_for(tmp_path)
    con.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One report built once for the read-only tests of this module."""
    tmp = tmp_path_factory.mktemp("built")
    con, out, truth = build_run(tmp)
    rep = Report(con, out, cfg_for(tmp), truth).build()
    con.close()
    return rep, out


def section(rep: Report, sid: str):
    return next(s for s in rep.sections if s.id == sid)


def table(rep: Report, sid: str, caption_start: str):
    for b in section(rep, sid).blocks:
        if b["kind"] == "table" and b["table"].caption.startswith(caption_start):
            return b["table"]
    raise AssertionError(f"no table {caption_start!r} in section {sid}")


def as_frame(t) -> pd.DataFrame:
    return pd.DataFrame([[c[0] for c in r] for r in t.rows], columns=t.columns)


# -- the file -----------------------------------------------------------------------------
def test_write_report_writes_one_self_contained_deterministic_file(run):
    con, out, truth, cfg = run
    old_mask = os.umask(0o022)
    try:
        path = write_report(con, out, cfg, truth)
    finally:
        os.umask(old_mask)
    assert path == out / "report.html"
    assert path.stat().st_mode & 0o777 == 0o644  # shareable, as the umask allows
    html = path.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    for _, title in SECTIONS:
        assert f"{title}" in html
    assert "<script" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html
    # no resource is fetched: no src= at all, every href and url() is an in-page anchor
    assert not re.search(r"\ssrc\s*=", html)
    assert not re.search(r"url\((?!#)", html)
    hrefs = re.findall(r'\s(?:xlink:)?href="([^"]*)"', html)
    assert hrefs and all(h.startswith("#") for h in hrefs)
    assert html.count("<svg") >= 8  # charts are inline SVG
    assert not list(out.glob(".report.html.*"))  # no temporary file left behind
    # the same run gives the same bytes (no timestamps, fixed SVG ids)
    assert write_report(con, out, cfg, truth).read_text(encoding="utf-8") == html


def test_no_personal_values_anywhere(run, monkeypatch):
    con, out, truth, cfg = run
    # chart text as <text> elements, so that labels can be read (normally drawn as paths)
    monkeypatch.setattr(charts, "SVG_FONTTYPE", "none")
    html = write_report(con, out, cfg, truth).read_text(encoding="utf-8")
    assert "<text" in html
    # the planted values are in records, rejected.raw and reason, field_issues.raw_value,
    # persons; the report must hold none of them in any spelling
    assert con.execute("SELECT count(*) FROM rejected WHERE raw LIKE '%Zebulonqx%'").fetchone()[0]
    for s in SECRET_STRINGS:
        assert s.lower() not in html.lower(), s
    # the birth year of the planted date: in no text, table cell or chart label
    # (attribute values such as SVG path coordinates are dropped first)
    text = re.sub(r'\s[\w:-]+="[^"]*"', " ", html)
    assert "1937" not in text


def test_row_accounting_per_source(built):
    rep, _ = built
    t = as_frame(table(rep, "inputs", "Row accounting"))
    t = t.set_index("source")
    # hand count: border 40 accepted + 3 rejected, visa 25 + 1, census 30 + 0, police none
    assert t.loc["border", ["input rows", "accepted", "rejected"]].tolist() == ["43", "40", "3"]
    assert t.loc["visa", ["input rows", "accepted", "rejected"]].tolist() == ["26", "25", "1"]
    assert t.loc["census", ["input rows", "accepted", "rejected", "field issues"]].tolist() == \
        ["30", "30", "0", "3"]
    assert t.loc["police", "input rows"] == "0"  # configured but absent is shown, not dropped
    assert t.loc["Total", ["input rows", "accepted", "rejected"]].tolist() == ["99", "95", "4"]
    assert t.loc["border", "rejected %"] == "7.0%"
    assert list(t.index[:4]) == ["border", "visa", "census", "police"]  # config order


def test_rejections_counted_by_reason_code(built):
    rep, _ = built
    r = as_frame(table(rep, "inputs", "Rejected rows by reason"))
    got = {(a, b): c for a, b, c in r[["source", "reason", "rows"]].itertuples(index=False)}
    assert got == {("border", "duplicate_id"): "2", ("border", "unreadable_crossing_date"): "1",
                   ("visa", "missing_id"): "1"}
    assert r["meaning"].tolist()[0] == "id on more than one row (every copy rejected)"
    f = as_frame(table(rep, "inputs", "Field issues"))
    got = {tuple(x[:3]): x[3] for x in f.itertuples(index=False)}
    assert got == {("census", "birth_date", "unreadable date"): "2",
                   ("census", "sex", "unknown code"): "1",
                   ("visa", "birth_date", "unreadable date"): "1"}


def test_linkage_model_parameters_and_clusters(built):
    rep, _ = built
    m = as_frame(table(rep, "linkage", "Trained comparison levels"))
    assert len(m) == 4  # the null level is omitted
    row = m[(m["comparison"] == "family_name") & (m["level"] == "exact match")].iloc[0]
    assert row["Bayes factor m/u"] == "80"
    assert row["match weight"] == f"{np.log2(80):.3g}"
    c = as_frame(table(rep, "linkage", "Persons by cluster size"))
    # independent count of records per person in the fixture
    recs = [(k * 7 + len(s)) % N_PERSONS + 1 for s, n in (("border", 40), ("visa", 25),
                                                         ("census", 30)) for k in range(1, n + 1)]
    sizes = pd.Series(recs).value_counts().value_counts().sort_index()
    supp = Suppressor(5)
    want = {str(k): supp.cell(v)[0] for k, v in sizes.items()}
    assert dict(zip(c["records per person"], c["persons"])) == want
    assert section(rep, "linkage").status == "ok"


def test_match_weight_chart_and_threshold(built):
    rep, _ = built
    sec = section(rep, "linkage")
    figs = dict(next(b for b in sec.blocks if b["kind"] == "figures")["items"])
    assert figs["scored pairs"] == "460"
    # the 60 pairs drawn around weight 12 are above log2(0.9/0.1) = 3.17, the 400 around -8
    # below (the two normal humps are 10 standard deviations apart)
    assert figs["pairs with probability ≥ 0.9"] == "60"


def test_linkage_evaluation_against_truth(built):
    pytest.importorskip("linkage.evaluate")
    rep, _ = built
    e = as_frame(table(rep, "linkage", "Linkage against the synthetic truth")).set_index("measure")
    # the truth is the run's own clustering: perfect, no false pairs
    assert e.loc["pairwise", ["precision", "recall", "F1", "false positives"]].tolist() == \
        ["1", "1", "1", "0"]
    o = as_frame(table(rep, "linkage", "Other evaluation figures")).set_index("figure")
    assert o.loc["persons in the run", "value"] == o.loc["true persons", "value"] == "59"


def test_linkage_inspection_files_of_the_link_step(tmp_path):
    """linkage/parameters.json and match_weight_histogram.csv as linkage.link writes them."""
    con, out, truth = build_run(tmp_path)
    (out / "linkage" / "model.json").unlink()
    params = {"probability_two_random_records_match": 0.001, "trained": True,
              "training": ["u: random sampling, max_pairs=5e+06, seed=1 (0.4 s)"],
              "comparisons": [{"name": "document_number", "levels": [
                  {"label": "exact", "m_probability": 0.95, "u_probability": 0.0001,
                   "match_weight": 13.2, "tf_adjustment_column": None},
                  {"label": "else", "m_probability": 0.05, "u_probability": 0.9999,
                   "match_weight": -4.3, "tf_adjustment_column": None}]}]}
    (out / "linkage" / "parameters.json").write_text(json.dumps(params))
    pd.DataFrame({"weight_from": [-3, -2, 5, 6], "weight_to": [-2, -1, 6, 7],
                  "pairs": [100, 50, 7, 9]}).to_csv(out / "linkage" / "match_weight_histogram.csv",
                                                    index=False)
    rep = Report(con, out, cfg_for(tmp_path), truth)
    sec = Section("linkage", "Linkage quality")
    rep._linkage(sec)
    m = next(b["table"] for b in sec.blocks if b["kind"] == "table"
             and b["table"].caption.startswith("Trained comparison levels"))
    m = as_frame(m)
    assert m["level"].tolist() == ["exact", "else"]
    assert m["Bayes factor m/u"].tolist() == ["9,500", f"{0.05 / 0.9999:.3g}"]
    figs = dict(next(b for b in sec.blocks if b["kind"] == "figures")["items"])
    assert figs["scored pairs"] == "166"  # the histogram's total, not the links table's 460
    assert figs["pairs with probability ≥ 0.9"] == "60"  # exact, from links
    assert any(b["kind"] == "table" and b["table"].caption == "Training log"
               for b in sec.blocks)


def test_conflicts_and_flows_against_truth(built):
    rep, _ = built
    c = as_frame(table(rep, "linkage", "Persons whose linked records disagree"))
    assert dict(zip(c["field"], c["persons"])) == {"sex": "7", "birth_date": "<5"}
    f = as_frame(table(rep, "residence", "Migration events against the synthetic truth"))
    f = f.set_index(["rule", "event", "year"])
    assert f.loc[("12/16", "immigration", "2023"), ["true", "estimated", "difference"]
                 ].tolist() == ["8", "7", "-1"]
    assert f.loc[("12/16", "emigration", "2023"), ["true", "estimated"]].tolist() == ["0", "<5"]
    # 6/12 events by event_date here: 2022
    assert f.loc[("6/12", "immigration", "2022"), "estimated"] == "6"


def test_residence_stocks_and_suppression(built):
    rep, _ = built
    t = as_frame(table(rep, "residence", "Stocks by rule"))
    t = t.set_index(["rule", "reference date"])
    residents = sum(1 for i in range(1, N_PERSONS + 1) if i % 3 != 0)  # 40
    assert t.loc[("12/16", "2023-12-31"), "resident"] == str(residents)
    # under 6/12 at the second date persons 1 and 2 (residents) are provisional -> 38
    assert t.loc[("6/12", "2023-12-31"), "resident"] == str(residents - 2)
    # 3 provisional persons: a small cell, suppressed
    assert t.loc[("6/12", "2023-12-31"), "provisional"] == "<5"
    assert t.loc[("12/16", "2023-12-31"), "provisional"] == "0"  # zero is published
    abroad = sum(1 for i in range(1, N_PERSONS + 1) if i % 3 != 0 and i % 10 == 1)  # 6
    assert abroad == 4 and t.loc[("12/16", "2023-12-31"), "resident abroad"] == "<5"
    temp = sum(1 for i in range(1, 30) if i % 3 == 0)  # 9
    assert t.loc[("12/16", "2022-12-31"), "temporary present"] == str(temp)
    assert list(t.index.get_level_values(0)[::2]) == RULES  # config order of rules


def test_periods_of_presence_by_evidence(built):
    rep, _ = built
    t = as_frame(table(rep, "residence", "How the start and the end of each stay"))
    t = t.set_index("evidence")
    assert t.loc["observed crossing"].tolist() == ["14", "9"]
    assert t.loc["still present at the end of the data"].tolist() == ["0", "7"]
    assert t.loc["imputed crossing (midpoint of a gap)"].tolist() == ["<5", "0"]


def test_flows_by_year_and_rule(built):
    rep, _ = built
    f = as_frame(table(rep, "residence", "Migration flows"))
    row = f[(f["rule"] == "12/16") & (f["year"] == "2023")].iloc[0]
    assert row["immigration"] == "7"
    assert row["emigration"] == "<5"
    assert row["returning citizens"] == "<5"
    assert row["net migration"] == "5"
    # 6/12 events are counted by decided_on (2023), not event_date (2022)
    assert f[f["rule"] == "6/12"]["year"].tolist() == ["2023"]
    assert f[f["rule"] == "6/12"]["immigration"].tolist() == ["6"]


def test_subpopulations_and_pyramid(built):
    rep, _ = built
    sp = as_frame(table(rep, "residence", "Resident population by place of birth"))
    row = sp[(sp["rule"] == "12/16") & (sp["reference date"] == "2023-12-31")].iloc[0]
    res = [i for i in range(1, N_PERSONS + 1) if i % 3 != 0]
    nb = [i % 4 != 0 for i in res]
    cit = [i % 5 != 0 for i in res]
    want = {"native-born citizens": sum(a and b for a, b in zip(nb, cit)),
            "native-born foreign citizens": sum(a and not b for a, b in zip(nb, cit)),
            "foreign-born citizens": sum(not a and b for a, b in zip(nb, cit)),
            "foreign-born foreign citizens": sum(not a and not b for a, b in zip(nb, cit))}
    supp = Suppressor(5)
    for k, v in want.items():
        assert row[k] == supp.cell(v)[0], k
    assert row["resident"] == str(len(res))
    pyr = as_frame(table(rep, "residence", "Pyramid counts"))
    assert pyr["age group"].tolist()[0] == "0–4" and pyr["age group"].tolist()[-1] == "85+"

    # independent: ages at 2023-12-31 of residents, males native-born, 5-year groups
    def age(b, r=dt.date(2023, 12, 31)):
        return r.year - b.year - ((r.month, r.day) < (b.month, b.day))

    births = {i: dt.date(1950 + (i * 7) % 70, 1 + i % 12, 1 + i % 28) for i in res}
    births[1] = SECRET_DOB
    groups = pd.Series([min(age(births[i]) // 5 * 5, 85) for i in res
                        if i % 2 == 1 and i % 4 != 0]).value_counts()
    got = dict(zip(pyr["age group"], pyr["males native-born"]))
    for g, n in groups.items():
        label = "85+" if g == 85 else f"{g}–{g + 4}"
        assert got[label] == supp.cell(n)[0], label


def test_residence_accuracy_against_truth(built):
    rep, _ = built
    a = as_frame(table(rep, "residence", "Residence status against the synthetic truth"))
    a = a.set_index(["rule", "reference date"])
    # true persons with no linked record count as wrong; persons 4 and 5 differ under 12/16
    linked = {(k * 7 + len(s)) % N_PERSONS + 1 for s, n in (("border", 40), ("visa", 25),
                                                          ("census", 30)) for k in range(1, n + 1)}
    assert {4, 5} <= linked and len(linked) < N_PERSONS
    assert a.loc[("12/16", "2023-12-31"), "same status"] == \
        f"{100 * (len(linked) - 2) / N_PERSONS:.1f}%"
    assert a.loc[("12/12", "2022-12-31"), "same status"] == f"{100 * len(linked) / N_PERSONS:.1f}%"
    assert a.loc[("12/16", "2023-12-31"), "true residents"] == "38"
    assert a.loc[("12/16", "2023-12-31"), "estimated residents"] == "40"


def test_mobility_and_service_population(built):
    rep, _ = built
    m = as_frame(table(rep, "mobility", "Temporary mobility by year and type"))
    m = m.set_index("type")
    assert m.loc["circular", ["persons", "trips", "person-days"]].tolist() == ["12", "24", "120"]
    assert m.loc["seasonal_worker", "persons"] == "<5"
    # a suppressed group's trips and person-days are not published beside it
    assert m.loc["seasonal_worker", ["trips", "person-days"]].tolist() == ["supp.", "supp."]
    p = as_frame(table(rep, "mobility", "Persons with temporary mobility")).set_index("type")
    assert p.loc["circular", "2023"] == "12" and p.loc["seasonal worker", "2023"] == "<5"
    d = as_frame(table(rep, "mobility", "Person-days of temporary mobility")).set_index("type")
    assert d.loc["circular", "2023"] == "120" and d.loc["seasonal worker", "2023"] == "supp."
    sp = as_frame(table(rep, "mobility", "Average daily service population"))
    sp = sp.set_index("visa category")
    assert sp.loc["seasonal work", "2023"] == f"{180 / 365:.3g}"
    assert sp.loc["transit", "2023"] == "supp."  # 2 persons
    assert sp.loc["total", "2023"] == f"{183 / 365:.3g}"
    full = as_frame(table(rep, "mobility", "Service population: every figure"))
    full = full.set_index("visa category")
    assert full["year"].tolist() == ["2023", "2023"]  # a key, not a count
    assert full.loc["transit", ["persons", "person days", "average daily"]].tolist() == \
        ["<5", "supp.", "supp."]


def test_accounts_and_csv_tables(built):
    rep, _ = built
    a = as_frame(table(rep, "accounts", "Population accounts")).set_index("group")
    assert a.loc["native_born_citizens", "opening"] == "100"
    assert a.loc["native_born_citizens", "births"] == "<5"  # small count suppressed
    assert a.loc["native_born_citizens", "residual"] == "0"
    names = [b["table"].caption for b in section(rep, "tables").blocks if b["kind"] == "table"]
    assert names == ["accounts.csv — 2 rows",
                     "flows.csv — totals by period ending (6 rows in the file)",
                     "stocks.csv — 2 rows"]
    fl = as_frame(table(rep, "tables", "flows.csv")).set_index(["rule", "flow"])
    # one row per rule x flow, one column per period; a cell suppressed in the file stays empty
    assert list(fl.columns) == ["2022-12-31", "2023-12-31"]
    assert fl.loc[("12/16", "immigration")].tolist() == ["25", "30"]
    assert fl.loc[("12/16", "emigration")].tolist() == ["8", "–"]
    st = as_frame(table(rep, "tables", "stocks.csv"))
    assert st["persons"].tolist() == ["21", "<5"]


def test_mse_summary_models_and_truth(built):
    rep, _ = built
    sec = section(rep, "mse")
    figs = dict(next(b for b in sec.blocks if b["kind"] == "figures")["items"])
    assert figs["estimate"] == "512"
    assert figs["95% interval (profile)"] == "441 – 604"
    assert figs["true size (synthetic)"] == "500"
    mt = as_frame(table(rep, "mse", "Models tried"))
    assert mt["model"].tolist() == ["main effects only", "police:ngo", "police:ngo, ngo:health",
                                    "police:ngo:health"]
    # the chosen model carries its own (profile) interval from the top level
    assert mt["interval low"].tolist()[1] == "441"
    # the others a Wald interval: 450 ± 1.96 x 20; 530 - 1.96 x 150 < 310 observed -> 310
    assert mt["interval low"].tolist()[0] == f"{450 - 1.959964 * 20:.3g}"
    assert mt["interval low"].tolist()[2] == "310"
    assert mt["existence code"].tolist() == ["0", "0", "0", "2"]
    charts_ = [b for b in sec.blocks if b["kind"] == "chart"]
    assert len(charts_) == 1 and "<svg" in charts_[0]["svg"]


def test_mse_strata(tmp_path):
    con, out, truth = build_run(tmp_path)
    per = [{"lists": ["police", "ngo"], "observed": 100, "estimate": 150.0, "ci_low": 130.0,
            "ci_high": 180.0, "model": [], "stratum": {"sex": "F"}, "se": 12.0,
            "models": [{"terms": [], "code": 0, "estimate": 150.0, "se": 12.0},
                       {"terms": ["police:ngo"], "code": 0, "estimate": 170.0, "se": 30.0}]},
           {"lists": ["police", "ngo"], "observed": 90, "estimate": 120.0, "ci_low": 105.0,
            "ci_high": 140.0, "model": [], "stratum": {"sex": "M"}, "se": 9.0}]
    mse = {"lists": ["police", "ngo"], "observed": 190, "method": "stepwise",
           "strata_by": ["sex"], "model": None, "neg_inf_terms": [], "estimate": 270.0,
           "se": 15.0, "ci_low": 240.6, "ci_high": 299.4, "ci_method": "profile",
           "ci_level": 0.95, "models": [], "strata": per,
           "rule_for_sum": "Wald on the sum"}
    (out / "mse.json").write_text(json.dumps(mse))
    (truth / "hidden_population.json").write_text(json.dumps(
        {"total": 260, "strata": {"sex": {"F": 140, "M": 120}}}))
    rep = Report(con, out, cfg_for(tmp_path), truth)
    sec = Section("mse", "MSE")
    rep._mse(sec)
    t = next(b["table"] for b in sec.blocks if b["kind"] == "table"
             and b["table"].caption == "Estimates by stratum")
    t = as_frame(t).set_index("stratum")
    assert t.loc["sex = F", ["estimate", "interval low", "true size"]].tolist() == \
        ["150", "130", "140"]
    assert t.loc["total (sum of strata)", ["observed", "estimate", "true size"]].tolist() == \
        ["190", "270", "260"]
    # the strata chart, and the models tried in the one stratum that lists them
    assert sum(b["kind"] == "chart" for b in sec.blocks) == 2
    assert [b["text"] for b in sec.blocks if b["kind"] == "h3"] == \
        ["By stratum", "Models tried in stratum sex = F"]
    kv = as_frame(next(b["table"] for b in sec.blocks if b["kind"] == "table"))
    assert dict(zip(kv.iloc[:, 0], kv["value"]))["model (generating class)"] == \
        "one per stratum (below)"


def test_absent_inputs_say_not_run(tmp_path):
    con = duckdb.connect()
    out = tmp_path / "empty"
    path = write_report(con, out)  # no tables, no cfg, no files
    html = path.read_text(encoding="utf-8")
    rep = Report(con, out).build()
    assert [s.status for s in rep.sections] == ["not run"] * len(SECTIONS)
    assert html.count("not run") >= len(SECTIONS)


def test_partial_run_only_ingestion(tmp_path):
    con, out, truth = build_run(tmp_path)
    for t in ("links", "clusters", "persons", "residence_persons", "residence", "person_conflicts",
              "migration_events", "mobility", "service_population", "stays"):
        con.execute(f"DROP TABLE {t}")
    for p in list((out / "tables").glob("*.csv")) + [out / "mse.json",
                                                      out / "linkage" / "model.json"]:
        p.unlink()
    rep = Report(con, out, cfg_for(tmp_path), truth).build()
    status = {s.id: s.status for s in rep.sections}
    assert status == {"inputs": "ok", "linkage": "not run", "residence": "not run",
                      "mobility": "not run", "accounts": "not run", "mse": "not run",
                      "tables": "not run"}


def test_disclosure_threshold_from_config(run, tmp_path):
    con, out, truth, _ = run

    def stocks(disclosure):
        rep = Report(con, out, cfg_for(tmp_path, disclosure=disclosure), truth)
        sec = Section("residence", "Residence")
        rep._residence(sec)
        t = next(b["table"] for b in sec.blocks if b["kind"] == "table")
        return as_frame(t).set_index(["rule", "reference date"])

    t = stocks({"method": "suppress", "threshold": 10})
    assert t.loc[("12/16", "2023-12-31"), "temporary present"] == "<10"  # 9 < 10
    t = stocks({"method": "none", "threshold": 5})
    assert t.loc[("6/12", "2023-12-31"), "provisional"] == "3"


def test_a_broken_section_does_not_lose_the_report(tmp_path):
    con, out, truth = build_run(tmp_path)
    for t in ("links", "clusters", "residence", "mobility", "service_population"):
        con.execute(f"DROP TABLE {t}")
    (out / "mse.json").write_text("{not json")
    with pytest.warns(UserWarning, match="Multiple systems estimation"):
        rep = Report(con, out, cfg_for(tmp_path), None).build()
    status = {s.id: s.status for s in rep.sections}
    assert status["mse"] == "failed" and status["inputs"] == "ok"
    assert status["residence"] == "not run"


@pytest.mark.parametrize("x, shown", [(0, "0"), (1, "<5"), (4, "<5"), (5, "5"),
                                      (12345, "12,345"), (None, "–")])
def test_suppressor_cells(x, shown):
    assert Suppressor(5).cell(x)[0] == shown


def test_unknown_tables_numbers_as_text_and_flags():
    """A table read back with numbers as text ("<NA>" for a suppressed cell) and a boolean
    flag: numbers are right-aligned and suppressed when small, missing shows as a dash."""
    rep = Report(duckdb.connect(), Path("/nonexistent"))
    df = pd.DataFrame({"group": ["a", "b"], "immigration": ["<NA>", "3"],
                       "emigration": pd.array([None, 17], dtype="Int64"),
                       "opening": [308, 2], "residual": [0, -3], "suppressed": [True, False]})
    rows = [[c[0] for c in r] for r in rep._generic(df, "x").rows]
    # immigration and emigration are counts (the "ratio" inside them is no rate)
    assert rows == [["a", "–", "–", "308", "0", "yes"], ["b", "<5", "17", "<5", "-3", "no"]]


@settings(max_examples=60, deadline=None)
@given(hst.lists(hst.tuples(hst.integers(0, 40), hst.integers(0, 10_000)), min_size=1,
                 max_size=30), hst.integers(1, 12))
def test_no_small_count_is_ever_shown(rows, threshold):
    """Invariant of the page's disclosure control: a count of persons shown as a number is 0
    or at least the threshold, and a group's measure is shown only when its count is."""
    supp = Suppressor(threshold)
    df = pd.DataFrame(rows, columns=["persons", "person_days"])
    shown = supp.dependents(df, "persons", ("person_days",))
    t = df_table(shown, counts=("persons",), numbers=("person_days",), supp=supp)
    for (persons, days), row in zip(rows, t.rows):
        text, cls = row[0]
        if 0 < persons < threshold:
            assert text == f"<{threshold}" and "supp" in cls
            assert row[1][0] == "supp."
        else:
            assert int(text.replace(",", "")) == persons
            assert int(row[1][0].replace(",", "")) == days


def test_key_figures_at_the_top(built):
    rep, _ = built
    s = dict(rep.summary)
    assert s["persons linked"] == "59"
    assert s["residents on 2023-12-31 (12/16)"] == "40"
    assert s["temporary present on 2023-12-31"] == "9"
    # 12/16 events are counted by event_date: 2023 holds 7 immigrations and 2 emigrations
    assert s["immigration 2023 (12/16)"] == "7" and s["emigration 2023 (12/16)"] == "<5"
    assert s["hidden population (MSE)"] == "512 (441–604)"


def test_empty_tables_do_not_fail(tmp_path):
    """Every table present but with no rows (e.g. a source with only a header line)."""
    con, out, truth = build_run(tmp_path)
    for (t,) in con.execute("SELECT table_name FROM information_schema.tables "
                            "WHERE table_type = 'BASE TABLE'").fetchall():
        con.execute(f'DELETE FROM "{t}"')
    import warnings as w
    with w.catch_warnings():
        w.simplefilter("error")  # a failing section would warn
        rep = Report(con, out, cfg_for(tmp_path), truth).build()
    assert "failed" not in {s.status for s in rep.sections}


def test_mse_without_an_estimate(tmp_path):
    """mse.json as the pipeline writes it when no model has an estimate: the reason, no number."""
    con, out, truth = build_run(tmp_path)
    (out / "mse.json").write_text(json.dumps({
        "lists": ["police", "ngo"], "observed": 12, "estimate": None, "ci_low": None,
        "ci_high": None, "error": "main-effects model has no estimate"}))
    rep = Report(con, out, cfg_for(tmp_path), truth)
    sec = Section("mse", "MSE")
    rep._mse(sec)
    figs = dict(next(b for b in sec.blocks if b["kind"] == "figures")["items"])
    assert figs == {"lists": "police, ngo", "observed": "12"}
    note = next(b for b in sec.blocks if b["kind"] == "notrun")
    assert note["what"] == "No estimate" and note["why"] == "main-effects model has no estimate"
    assert not any(b["kind"] == "chart" for b in sec.blocks)
    built_ = Report(con, out, cfg_for(tmp_path), truth).build()
    assert "<strong>No estimate</strong> — main-effects model has no estimate." in built_.html
    assert dict(built_.summary)["hidden population (MSE)"] == "no estimate"
