"""link(): each defect class links, near-misses of different people do not; stable ids."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest

from linkage.errors import MiglinkError
from linkage.link import link
from test_link_records import make_records

COLS = ["source", "record_id", "given_name", "family_name", "full_name", "birth_date",
        "birth_year", "sex", "citizenship", "document_number", "document_country", "address"]

# (true person, row) — every defect class of the brief, plus near-misses
ROWS = [
    # transliteration variants, particles, MRZ upper case, duplicates of one traveller
    ("hassan", ("visa", "v1", "Mohammed", "Al-Hassan", None, "1980-03-04", None, "M", "SYR",
                "N1234567", "SYR", None)),
    ("hassan", ("border", "b1", "MUHAMMAD", "HASSAN", None, "1980-03-04", None, "M", "SYR",
                "N1234567", "SYR", None)),
    ("hassan", ("border", "b2", "MUHAMMAD", "HASSAN", None, "1980-03-04", None, "M", "SYR",
                "N1234567", "SYR", None)),
    ("hassan", ("census", "c1", "Mohamad", "Hassan", None, "1980-03-04", None, "M", "SYR",
                None, None, "12 Rose Street")),
    ("ivanov", ("visa", "v2", "Aleksandr", "Ivanov", None, "1975-01-20", None, "M", "RUS",
                "7100001", "RUS", None)),
    ("ivanov", ("census", "c2", "Alexander", "Ivanov", None, "1975-01-20", None, "M", "RUS",
                None, None, "3 Oak Road")),
    ("ivanov", ("register", "r2", "Alexandr", "Ivanov", None, "1975-01-20", None, "M", "RUS",
                None, None, None)),
    ("zhang", ("visa", "v3", "Wei", "Zhang", None, "1990-07-07", None, "F", "CHN", "E55501",
               "CHN", None)),
    ("zhang", ("census", "c3", "Wei", "Chang", None, "1990-07-07", None, "F", "CHN", None,
               None, None)),
    # swapped given/family
    ("nguyen", ("visa", "v4", "Thi Lan", "Nguyen", None, "1988-02-14", None, "F", "VNM",
                "C7654321", "VNM", None)),
    ("nguyen", ("census", "c4", "Nguyen", "Thi Lan", None, "1988-02-14", None, "F", "VNM",
                None, None, None)),
    # MRZ upper case and truncation, single full-name field
    ("schwarz", ("register", "r5", "Maximilian", "Schwarzenberger", None, "1970-09-09", None,
                 "M", "DEU", None, None, None)),
    ("schwarz", ("border", "b5", None, None, "SCHWARZENBERG<<MAXIMILI", "1970-09-09", None,
                 "M", "DEU", "C01X00T47", "DEU", None)),
    # diacritics dropped
    ("muller", ("register", "r6", "José", "Müller-Lüdenscheidt", None, "1962-06-30", None,
                "M", "ESP", None, None, None)),
    ("muller", ("visa", "v6", "Jose", "Muller Ludenscheidt", None, "1962-06-30", None, "M",
                "ESP", "PAA000001", "ESP", None)),
    # typos in both names
    ("johnson", ("register", "r7", "Katherine", "Johnson", None, "1965-12-01", None, "F",
                 "USA", None, None, None)),
    ("johnson", ("census", "c7", "Katherin", "Jonhson", None, "1965-12-01", None, "F", "USA",
                 None, None, None)),
    # birth date missing on one side
    ("okonkwo", ("visa", "v8", "Chidinma", "Okonkwo", None, "1979-10-10", None, "F", "NGA",
                 "A0099887", "NGA", None)),
    ("okonkwo", ("census", "c8", "Chidinma", "Okonkwo", None, None, None, "F", "NGA", None,
                 None, None)),
    # day and month swapped; year only
    ("petrova", ("register", "r9", "Olga", "Petrova", None, "1983-05-11", None, "F", "UKR",
                 None, None, None)),
    ("petrova", ("census", "c9", "Olga", "Petrova", None, "1983-11-05", None, "F", "UKR",
                 None, None, None)),
    ("petrova", ("visa", "v9", "Olga", "Petrova", None, None, 1983, "F", "UKR", None, None,
                 None)),
    # renewed passport: new document number
    ("perez", ("visa", "v10", "Juan Carlos", "Perez Garcia", None, "1991-04-22", None, "M",
               "MEX", "G11122233", "MEX", None)),
    ("perez", ("border", "b10", "JUAN CARLOS", "PEREZ GARCIA", None, "1991-04-22", None, "M",
               "MEX", "N98765432", "MEX", None)),
    # near-misses: siblings sharing family name and address, different birth dates
    ("ali", ("census", "c11", "Ali", "Rahimi", None, "1990-01-01", None, "M", "AFG", None,
             None, "7 Hill Lane")),
    ("sara", ("census", "c12", "Sara", "Rahimi", None, "1993-06-15", None, "F", "AFG", None,
              None, "7 Hill Lane")),
    ("reza", ("register", "r13", "Reza", "Rahimi", None, "1995-03-02", None, "M", "AFG", None,
              None, "7 Hill Lane")),
    # near-misses: one common name, different birth dates
    ("smith1", ("register", "r14", "John", "Smith", None, "1980-01-01", None, "M", "GBR", None,
                None, None)),
    ("smith2", ("census", "c14", "John", "Smith", None, "1985-07-23", None, "M", "GBR", None,
                None, None)),
    ("smith3", ("visa", "v14", "John", "Smith", None, "1962-11-30", None, "M", "GBR",
                "123456789", "GBR", None)),
]


def _frame():
    df = pd.DataFrame([r for _, r in ROWS], columns=COLS)
    df["true_id"] = [t for t, _ in ROWS]
    return df


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    out = tmp_path_factory.mktemp("link")
    con = duckdb.connect()
    df = _frame()
    make_records(con, df.drop(columns="true_id"))
    con.execute("""CREATE TABLE events AS SELECT source, record_id,
        DATE '2020-01-01' + (row_number() OVER (ORDER BY source DESC, record_id))::INT
            AS event_date, 'census' AS event_type,
        row_number() OVER (ORDER BY source, record_id) AS event_seq FROM records""")
    summary = link(con, {"linkage": {}}, out, seed=1)
    clusters = con.execute("SELECT * FROM clusters").df()
    got = clusters.merge(df[["source", "record_id", "true_id"]], on=["source", "record_id"])
    return con, summary, got, out


def _person(got, source, rid):
    return got.loc[(got.source == source) & (got.record_id == rid), "person_id"].item()


@pytest.mark.parametrize("true_id", ["hassan", "ivanov", "zhang", "nguyen", "schwarz",
                                     "muller", "johnson", "okonkwo", "petrova", "perez"])
def test_each_defect_class_links(linked, true_id):
    _, _, got, _ = linked
    assert got.loc[got.true_id == true_id, "person_id"].nunique() == 1


def test_different_people_do_not_link(linked):
    _, _, got, _ = linked
    per_person = got.groupby("person_id")["true_id"].nunique()
    assert (per_person == 1).all(), got.sort_values("person_id").to_string()
    assert got["person_id"].nunique() == got["true_id"].nunique() == 16


def test_pre_grouping_collapses_a_repeated_traveller(linked):
    con, summary, got, _ = linked
    assert summary["n_records"] == len(ROWS)
    assert summary["n_representatives"] == len(ROWS) - 1  # b2 = b1 (same doc, names, date)
    pg = con.execute("SELECT source_l, record_id_l, source_r, record_id_r, match_probability "
                     "FROM links WHERE match_key = 'pre_group'").fetchall()
    assert pg == [("border", "b1", "border", "b2", 1.0)]


def test_person_ids_follow_smallest_source_record_id(linked):
    _, _, got, _ = linked
    first = got.sort_values(["source", "record_id"]).groupby("person_id").head(1)
    ordered = first.sort_values(["source", "record_id"])["person_id"].tolist()
    assert ordered == list(range(1, got["person_id"].nunique() + 1))


def test_events_carry_person_id_in_history_order(linked):
    con, _, got, _ = linked
    ev = con.execute("SELECT * FROM events").df()
    assert ev["person_id"].notna().all() and len(ev) == len(ROWS)
    keys = list(zip(ev.person_id, ev.event_date, ev.event_seq))
    assert keys == sorted(keys)


def test_outputs_and_model_inspection(linked):
    con, summary, _, out = linked
    for f in ("links.parquet", "clusters.parquet", "events.parquet",
              "linkage/parameters.json", "linkage/match_weight_histogram.csv",
              "linkage/clerical_review.csv", "linkage/summary.json"):
        assert (out / f).exists(), f
    params = json.loads((out / "linkage/parameters.json").read_text())
    names = [c["name"] for c in params["comparisons"]]
    assert names[:3] == ["name", "birth_date", "sex"]
    assert "document_number" in names and "address" in names
    links = pd.read_parquet(out / "links.parquet")
    assert list(links.columns[:6]) == ["source_l", "record_id_l", "source_r", "record_id_r",
                                       "match_weight", "match_probability"]
    hist = pd.read_csv(out / "linkage/match_weight_histogram.csv")
    assert hist["pairs"].sum() == summary["n_candidate_pairs"]


def test_identical_runs_give_identical_outputs(linked, tmp_path):
    con0, _, _, _ = linked
    con = duckdb.connect()
    make_records(con, _frame().drop(columns="true_id"))
    link(con, {"linkage": {}}, tmp_path, seed=1)
    a = con0.execute("SELECT * FROM clusters ORDER BY source, record_id").df()
    b = con.execute("SELECT * FROM clusters ORDER BY source, record_id").df()
    pd.testing.assert_frame_equal(a, b)
    la = con0.execute("SELECT * FROM links").df()
    lb = con.execute("SELECT * FROM links").df()
    pd.testing.assert_frame_equal(la, lb)


def test_full_name_alone_links(tmp_path):
    con = duckdb.connect()
    df = pd.DataFrame({"source": ["a", "b", "b", "a"], "record_id": ["1", "1", "2", "2"],
                       "full_name": ["Fatima Zahra Benali", "BENALI<<FATIMA ZAHRA",
                                     "Yusuf Benali", "Ioana Popescu"]})
    make_records(con, df)
    s = link(con, {"linkage": {}}, tmp_path)
    assert s["fields"] == ["full_name"]
    got = con.execute("SELECT source || record_id, person_id FROM clusters").fetchall()
    p = dict(got)
    assert p["a1"] == p["b1"] and len({p["a1"], p["b2"], p["a2"]}) == 3


def test_names_and_birth_dates_only(tmp_path):
    con = duckdb.connect()
    df = pd.DataFrame({"source": ["x", "y", "y"], "record_id": ["1", "1", "2"],
                       "given_name": ["Amina", "AMINA", "Amina"],
                       "family_name": ["Diallo", "DIALLO", "Diallo"],
                       "birth_date": ["2001-02-03", "2001-03-02", "1999-08-17"]})
    make_records(con, df)
    link(con, {"linkage": {}}, tmp_path)
    p = dict(con.execute("SELECT source || record_id, person_id FROM clusters").fetchall())
    assert p["x1"] == p["y1"] != p["y2"]


def test_one_per_person_breaks_the_weakest_link(tmp_path):
    con = duckdb.connect()
    # two register records of very similar people; the census record matches r1 best
    df = pd.DataFrame({
        "source": ["register", "register", "census"], "record_id": ["r1", "r2", "c1"],
        "given_name": ["Marie", "Maria", "Marie"], "family_name": ["Dubois"] * 3,
        "birth_date": ["1970-05-05", "1970-05-05", "1970-05-05"], "sex": ["F"] * 3})
    make_records(con, df)
    link(con, {"linkage": {}}, tmp_path / "free")
    p = dict(con.execute("SELECT record_id, person_id FROM clusters").fetchall())
    assert p["r1"] == p["r2"] == p["c1"]  # unconstrained: all three chained
    link(con, {"linkage": {"one_per_person": ["register"]}}, tmp_path / "one")
    p = dict(con.execute("SELECT record_id, person_id FROM clusters").fetchall())
    assert p["r1"] == p["c1"] != p["r2"]
    assert sorted(p.values()) == [1, 1, 2]


def test_bad_linkage_config_is_a_one_line_error(tmp_path):
    con = duckdb.connect()
    make_records(con, _frame().drop(columns="true_id").head(3))
    with pytest.raises(MiglinkError, match="threshold"):
        link(con, {"linkage": {"threshold": 1.5}}, tmp_path)
    with pytest.raises(MiglinkError, match="engine"):
        link(con, {"linkage": {"engine": "magic"}}, tmp_path)
    with pytest.raises(MiglinkError, match="in memory"):
        link(con, {"linkage": {"engine": "recordlinkage", "backend": "spark"}}, tmp_path)
    with pytest.raises(MiglinkError, match="unknown key"):
        link(con, {"linkage": {"treshold": 0.5}}, tmp_path)


def test_row_order_does_not_change_persons(linked, tmp_path):
    con0, _, _, _ = linked
    con = duckdb.connect()
    make_records(con, _frame().drop(columns="true_id").sample(frac=1, random_state=7))
    link(con, {"linkage": {}}, tmp_path, seed=1)
    a = con0.execute("SELECT * FROM clusters ORDER BY source, record_id").df()
    b = con.execute("SELECT * FROM clusters ORDER BY source, record_id").df()
    pd.testing.assert_frame_equal(a, b)


def test_recordlinkage_engine_gives_the_same_outputs(linked, tmp_path):
    con0, _, _, _ = linked
    con = duckdb.connect()
    df = _frame()
    make_records(con, df.drop(columns="true_id"))
    s = link(con, {"linkage": {"engine": "recordlinkage"}}, tmp_path, seed=1)
    assert s["engine"] == "recordlinkage"
    for t in ("clusters", "links"):
        assert con.execute(f"SELECT * FROM {t} LIMIT 0").df().columns.tolist() == \
            con0.execute(f"SELECT * FROM {t} LIMIT 0").df().columns.tolist()
    got = con.execute("SELECT * FROM clusters").df().merge(df, on=["source", "record_id"])
    # unsupervised ECM on 30 records: every true person is kept together (recall 1) ...
    assert (got.groupby("true_id")["person_id"].nunique() == 1).all()
    # ... and the siblings sharing family name and address stay apart
    sib = got[got.true_id.isin(["ali", "sara", "reza"])]["person_id"]
    assert sib.nunique() == 3
    assert (tmp_path / "linkage/parameters.json").exists()


def test_config_overrides_reach_the_model(tmp_path):
    con = duckdb.connect()
    make_records(con, _frame().drop(columns="true_id"))
    sex_exact = {"comparison_levels": [
        {"sql_condition": "sex_l IS NULL OR sex_r IS NULL", "is_null_level": True},
        {"sql_condition": "sex_l = sex_r", "label_for_charts": "same sex",
         "m_probability": 0.99, "u_probability": 0.5},
        {"sql_condition": "ELSE", "label_for_charts": "other", "m_probability": 0.01,
         "u_probability": 0.5}]}
    s = link(con, {"linkage": {
        "comparisons": {"address": None, "sex": sex_exact},
        "blocking_rules": ["l.name_key = r.name_key", "l.doc = r.doc"],
        "pre_group": False}}, tmp_path)
    params = json.loads((tmp_path / "linkage/parameters.json").read_text())
    names = [c["name"] for c in params["comparisons"]]
    assert "address" not in names
    sex = next(c for c in params["comparisons"] if c["name"] == "sex")
    assert [lv["label"] for lv in sex["levels"]] == ["same sex", "other"]
    assert s["blocking_rules"] == ["l.name_key = r.name_key", "l.doc = r.doc"]
    assert s["n_representatives"] == s["n_records"]
    # only exact name keys or documents are compared now: Zhang/Chang cannot meet
    p = dict(con.execute("SELECT source || record_id, person_id FROM clusters").fetchall())
    assert p["visav3"] != p["censusc3"] and p["visav4"] == p["censusc4"]
    with pytest.raises(MiglinkError, match="comparisons.sex"):
        link(con, {"linkage": {"comparisons": {"sex": "exact"}}}, tmp_path)
