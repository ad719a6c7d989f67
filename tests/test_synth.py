"""The synthetic world (linkage.synth): layout, determinism, mobility types, truth consistency,
defect rates and the config it writes."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import jellyfish
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import linkage.synth as synth
from linkage.errors import MiglinkError
from linkage.synth import Defects, generate_world
from linkage.synth.defects import NONE, _ymd, date_errors, typos
from linkage.synth.lives import TYPE_NAMES, Lives

SOURCES = ("visa", "border", "census", "register", "police", "ngo", "health", "labour")
START, END = dt.date(2018, 1, 1), dt.date(2024, 12, 31)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("w") / "world"
    summary = generate_world(out, persons=2000, seed=1)
    return out, summary


@pytest.fixture(scope="module")
def truth(world):
    out, _ = world
    t = out / "truth"
    return {"persons": pd.read_parquet(t / "persons.parquet"),
            "crossings": pd.read_parquet(t / "crossings.parquet"),
            "records": pd.read_parquet(t / "records.parquet"),
            "hidden": json.loads((t / "hidden_population.json").read_text())}


def read(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / f"{name}.csv", dtype=str, keep_default_na=False,
                       na_values=[""])


def test_layout_is_exactly_the_contract(world):
    out, summary = world
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert files == sorted([f"{s}.csv" for s in SOURCES] + [
        "config.yaml", "truth/crossings.parquet", "truth/hidden_population.json",
        "truth/persons.parquet", "truth/records.parquet"])
    t = out / "truth"
    assert list(pd.read_parquet(t / "records.parquet").columns) == ["source", "record_id",
                                                                    "true_id"]
    assert list(pd.read_parquet(t / "crossings.parquet").columns) == [
        "true_id", "crossing_date", "direction", "seq", "permit_valid_until"]
    pcols = set(pd.read_parquet(t / "persons.parquet").columns)
    assert {"true_id", "sex", "birth_date", "birth_country", "citizenship", "native_born",
            "citizen", "initial_status", "permit_valid_until", "death_date", "hidden"} <= pcols
    # the default world is demo-sized: a few seconds, 20k-60k source rows
    assert 20_000 <= summary["total_rows"] <= 60_000
    assert summary["rows"]["border"] == len(read(out, "border"))


def test_same_seed_same_bytes_other_seed_other_world(world, tmp_path):
    out, _ = world
    again = tmp_path / "again"
    generate_world(again, persons=2000, seed=1)
    for f in sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()):
        assert (out / f).read_bytes() == (again / f).read_bytes(), f
    other = tmp_path / "other"
    generate_world(other, persons=2000, seed=2)
    assert (other / "border.csv").read_bytes() != (out / "border.csv").read_bytes()


def test_every_mobility_type_is_present(truth):
    p = truth["persons"]
    assert set(p["mobility_type"]) == set(TYPE_NAMES)
    assert len(p) == 2000 and p["true_id"].tolist() == list(range(1, 2001))
    # births and deaths inside the period; naturalisations of foreign residents
    assert ((p["birth_date"] >= START) & (p["mobility_type"] == "birth")).sum() > 0
    assert p["death_date"].notna().sum() > 0
    assert (p["death_date"].dropna() <= END).all()
    natz = p[p["naturalisation_date"].notna()]
    assert len(natz) > 0 and natz["citizen"].all() and (natz["citizenship"] != "NZL").all()
    # at least 15 nationalities, citizens born abroad among the citizens
    assert p["citizenship"].nunique() >= 15
    assert (p["citizen"] & ~p["native_born"]).any()
    assert set(p["initial_status"]) == {"resident", "non_resident"}


def stays(truth) -> pd.DataFrame:
    """Presence intervals from the true crossings (in -> next out)."""
    c = truth["crossings"].sort_values(["true_id", "crossing_date", "seq"], kind="stable")
    c = c.assign(nxt=c.groupby("true_id")["crossing_date"].shift(-1),
                 nxt_dir=c.groupby("true_id")["direction"].shift(-1))
    s = c[c["direction"] == "in"]
    return pd.DataFrame({"true_id": s["true_id"], "a": s["crossing_date"], "b": s["nxt"],
                         "nights": (pd.to_datetime(s["nxt"]) - pd.to_datetime(
                             s["crossing_date"])).dt.days})


def by_type(truth, frame, t):
    ids = truth["persons"].loc[truth["persons"]["mobility_type"] == t, "true_id"]
    return frame[frame["true_id"].isin(ids)]


def test_lives_behave_as_their_type(world, truth):
    s = stays(truth)
    p = truth["persons"].set_index("true_id")
    # tourists: short trips; cross-border workers: at most 7 nights each time
    assert by_type(truth, s, "tourist")["nights"].max() <= 30
    cb = by_type(truth, s, "cross_border_worker")
    assert len(cb) > 20 and cb["nights"].max() <= 7
    # seasonal workers: seasons of 4-7 months, coming back in later years
    sw = by_type(truth, s, "seasonal_worker").dropna(subset=["b"])
    assert sw["nights"].between(120, 200).all()
    assert (sw.groupby("true_id").size() >= 2).any()
    # circular movers: more than one entry in some calendar year
    cm = by_type(truth, s, "circular_mover")
    per_year = cm.groupby([cm["true_id"], pd.to_datetime(cm["a"]).dt.year]).size()
    assert (per_year >= 2).mean() > 0.5
    # overstayers: still present long after the visa expired
    ov = by_type(truth, s, "overstayer")
    first = ov.groupby("true_id")["a"].min()
    permit = p.loc[first.index, "permit_valid_until"]
    assert (pd.to_datetime(permit) < pd.to_datetime(first) + pd.Timedelta(days=120)).all()
    assert (ov["b"].isna() | (ov["nights"] > 400)).all()
    assert p.loc[first.index, "hidden"].all()
    # asylum seekers in transit: same day or a few days
    assert by_type(truth, s, "asylum_transit")["nights"].max() <= 10
    # residents abroad on holiday: short absences inside a long presence
    assert len(by_type(truth, truth["crossings"], "native_resident")) > 1000
    # students hold multi-year study visas
    visa = read(world[0], "visa")
    assert (visa["visa_type"] == "student").any() and (visa["visa_type"] == "seasonal_work").any()


def test_true_crossings_alternate_and_agree_with_initial_status(truth):
    c = truth["crossings"].sort_values(["true_id", "crossing_date", "seq"], kind="stable")
    assert c["direction"].isin(["in", "out"]).all()
    prev = c.groupby("true_id")["direction"].shift()
    assert (prev.isna() | (prev != c["direction"])).all()
    # seq numbers 1..k within a person and day
    assert (c["seq"] == c.groupby(["true_id", "crossing_date"]).cumcount() + 1).all()
    first = c.groupby("true_id")["direction"].first()
    init = truth["persons"].set_index("true_id")["initial_status"].reindex(first.index)
    # in the country as a resident at the start <=> the first crossing is a departure
    assert ((init == "resident") == (first == "out")).all()
    assert c["crossing_date"].between(START, END).all()


def test_every_source_row_has_one_truth_row(world, truth):
    out, _ = world
    rec = truth["records"]
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    for s in cfg["sources"]:
        df = read(out, s["name"])
        ids = df[s["id"]]
        assert ids.is_unique and ids.notna().all()
        r = rec[rec["source"] == s["name"]]
        assert sorted(r["record_id"]) == sorted(ids), s["name"]
    assert rec.groupby("source").size().sum() == len(rec)
    assert rec["true_id"].isin(truth["persons"]["true_id"]).all()


def test_hidden_population_and_lists(world, truth):
    out, _ = world
    p, rec, hid = truth["persons"], truth["records"], truth["hidden"]
    assert hid["total"] == p["hidden"].sum() > 0
    assert hid["strata"]["sex"] == p.loc[p["hidden"], "sex"].value_counts().to_dict()
    lists = rec[rec["source"].isin(["police", "ngo", "health", "labour"])]
    union = set(lists["true_id"])
    assert union <= set(p.loc[p["hidden"], "true_id"])
    assert 0 < len(union) < hid["total"]        # some of the group is never listed
    # a person appears at most once per list; lists capture unequally
    assert not lists.duplicated(["source", "true_id"]).any()
    sizes = lists.groupby("source").size()
    assert sizes.max() > sizes.min()


def test_border_file_is_the_true_crossings_without_defects(tmp_path):
    zero = Defects(typo=0, swap_names=0, variant=0, dob_missing=0, dob_day_month_swap=0,
                   sex_missing=0, crossing_missing=0, crossing_duplicate=0)
    out = tmp_path / "clean"
    generate_world(out, persons=600, seed=3, defects=zero)
    b = read(out, "border")
    rec = pd.read_parquet(out / "truth" / "records.parquet").query("source == 'border'")
    b = b.merge(rec, left_on="crossing_id", right_on="record_id")
    got = sorted(zip(b["true_id"], b["crossing_date"], b["direction"].map({"A": "in",
                                                                         "D": "out"})))
    c = pd.read_parquet(out / "truth" / "crossings.parquet")
    want = sorted(zip(c["true_id"], c["crossing_date"].astype(str), c["direction"]))
    assert got == want
    # without name errors a person's MRZ name never changes (one passport holder)
    assert (b.groupby("true_id")[["surname", "given_names", "dob"]].nunique() <= 1).all().all()


def test_defect_rates_near_their_parameters(world, truth):
    out, _ = world
    d = Defects()
    c = truth["crossings"]
    b = read(out, "border").merge(truth["records"], left_on="crossing_id",
                                  right_on="record_id")
    n = len(c)
    key = ["true_id", "crossing_date", "direction"]
    dups = b.duplicated(key).sum() / n
    missing = 1 - len(b.drop_duplicates(key)) / n
    sd = lambda q: 4 * np.sqrt(q * (1 - q) / n)  # noqa: E731
    assert abs(dups - d.crossing_duplicate) < sd(d.crossing_duplicate)
    assert abs(missing - d.crossing_missing) < sd(d.crossing_missing)
    v = read(out, "visa")
    unknown = v["date_of_birth"].str.startswith("00/00/", na=False).mean()
    assert abs(unknown - d.dob_unknown_day_month) < 4 * np.sqrt(0.003 / len(v)) + 0.001
    rate = v["date_of_birth"].isna().mean()
    assert abs(rate - d.dob_missing) < 4 * np.sqrt(d.dob_missing / len(v)) + 0.002
    as_name = (v["nationality"].str.len() > 2).mean()
    assert abs(as_name - d.citizenship_as_name) < 4 * np.sqrt(0.1 * 0.9 / len(v))
    # census: undercount highest for the hidden population
    cen = read(out, "census").merge(truth["records"], left_on="person_no",
                                    right_on="record_id")
    assert cen["census_night"].eq("2023-03-07").all()
    assert (cen["dob"].isna().mean()) == pytest.approx(d.census_age_only + d.dob_missing,
                                                       abs=0.035)
    assert cen["birth_year"].notna().mean() > 0.98
    # the register never hears of most emigrants leaving
    reg = read(out, "register").merge(truth["records"], left_on="reg_no",
                                      right_on="record_id")
    emig = by_type(truth, reg, "emigrant_citizen")
    assert 0 < emig["deregistration_date"].notna().mean() < 0.6
    # naturalisations are recorded in the register
    assert (reg["naturalised_on"].notna() & (reg["citizenship"] == "NZL")).any()


def test_name_errors_are_those_of_real_records(world, truth):
    out, _ = world
    b = read(out, "border")
    assert (b["surname"].str.upper() == b["surname"]).all()                  # MRZ upper case
    assert (b["surname"].str.len() + b["given_names"].str.len() <= 31).all()  # truncation
    assert b["surname"].map(str.isascii).all()                                 # folded
    v = read(out, "visa")
    assert v["date_of_birth"].dropna().str.match(r"^\d\d/\d\d/\d{4}$").all()  # non-ISO
    assert v["valid_from"].str.match(r"^\d\d/\d\d/\d{4}$").all()
    # diacritics kept in some rows of other sources (Nguyễn, García, Müller)
    assert not read(out, "census")["surname"].dropna().map(str.isascii).all()


def test_transliteration_schemes_and_variants():
    from linkage.synth.names import _renderings
    r = _renderings("Дмитрий", "RUS")
    assert (r["icao"], r["bgn"], r["alt"]) == ("Dmitrii", "Dmitriy", "Dmitry")
    assert _renderings("Юлия", "RUS")["icao"] == "Iuliia"
    assert _renderings("Юлия", "RUS")["bgn"] == "Yuliya"
    assert _renderings("Александр", "RUS")["alt"] == "Alexander"
    ua = _renderings("Григорій", "UKR")
    assert (ua["icao"], ua["bgn"]) == ("Grigorii", "Hryhorii")
    assert _renderings("Mohammed", "EGY")["alt"] == "Muhammad"
    assert _renderings("Zhang", "CHN")["alt"] == "Chang"
    assert _renderings("El-Sayed", "EGY")["alt"] == "ElSayed"


def test_typos_make_exactly_one_edit():
    rng = np.random.default_rng(0)
    words = np.array(["Mohammed", "ALEKSANDR", "Nguyễn", "Li", "Tu'ipulotu", None, "D'ALIA",
                      "O'NEIL"] * 200, dtype=object)
    mask = rng.random(len(words)) < 0.5
    out = typos(words, mask, rng)
    for w, o, m in zip(words, out, mask):
        if w is None or not m or len(w) < 3:
            assert o == w
        else:
            assert o != w and o[0] == w[0]
            assert (o.upper() == o) == (w.upper() == w)       # upper-case names stay upper
            assert jellyfish.damerau_levenshtein_distance(w, o) == 1


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_date_errors_swap_day_and_month_and_drop_some(seed):
    rng = np.random.default_rng(seed)
    days = rng.integers(-20000, 20000, 2000)
    out = date_errors(days, rng, missing=0.05, swap=0.2)
    missing = out == NONE
    changed = (out != days) & ~missing
    assert 0 < missing.sum() < 250
    # dates before 1970 are kept (negative day numbers are dates, not gaps)
    assert ((days < 0) & ~missing & ~changed).any()
    d = pd.to_datetime(days[changed], unit="D")
    o = pd.to_datetime(out[changed], unit="D")
    assert (d.year == o.year).all() and (d.day == o.month).all() and (d.month == o.day).all()
    y = np.array([2020, 2021]), np.array([2, 12]), np.array([29, 31])
    assert (_ymd(*y) == np.array(["2020-02-29", "2021-12-31"], dtype="datetime64[D]").astype(
        np.int64)).all()


def test_config_is_valid_and_loads(world):
    out, _ = world
    text = (out / "config.yaml").read_text()
    cfg = yaml.safe_load(text)
    assert set(cfg) <= {"country", "sources", "linkage", "residence", "mse", "tables",
                        "disclosure", "seed", "report"}
    assert cfg["country"] == "NZL"
    for s in cfg["sources"]:
        assert set(s) <= {"name", "kind", "path", "id", "date_format", "columns", "codes"}
        assert not Path(s["path"]).is_absolute() and (out / s["path"]).exists()
        with open(out / s["path"], newline="") as fh:
            header = next(csv.reader(fh))
        assert s["id"] in header and set(s["columns"].values()) <= set(header)
    kinds = {s["name"]: s for s in cfg["sources"]}
    assert kinds["border"]["codes"]["direction"] == {"A": "in", "D": "out"}
    assert kinds["border"]["codes"]["sex"] == {"1": "M", "2": "F"}
    assert kinds["visa"]["date_format"] == "%d/%m/%Y"
    assert any(k != v for s in cfg["sources"] for k, v in s["columns"].items())
    assert cfg["residence"]["reference_dates"] == [dt.date(y, 12, 31) for y in range(2019, 2024)]
    assert cfg["residence"]["observed_until"] == END
    assert cfg["mse"]["lists"] == ["police", "ngo", "health", "labour"]
    assert cfg["mse"]["strata"] == ["sex"]
    # the template shipped in configs/ is what the generator writes
    template = Path(__file__).parents[1] / "configs" / "demo.yaml"
    assert yaml.safe_load(template.read_text()) == cfg
    load_config = pytest.importorskip("linkage.config").load_config
    loaded = load_config(out / "config.yaml")
    assert [s.name for s in loaded.sources] == [s["name"] for s in cfg["sources"]]
    assert loaded.residence.observed_until == END


def test_chunks_join_seamlessly(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "CHUNK", 700)
    out = tmp_path / "chunked"
    s = generate_world(out, persons=2000, seed=5)
    p = pd.read_parquet(out / "truth" / "persons.parquet")
    assert p["true_id"].tolist() == list(range(1, 2001))
    rec = pd.read_parquet(out / "truth" / "records.parquet")
    assert not rec.duplicated(["source", "record_id"]).any()
    assert len(rec) == s["total_rows"]
    assert set(p["mobility_type"]) == set(TYPE_NAMES)


def test_bad_arguments_are_one_line_errors(tmp_path):
    with pytest.raises(MiglinkError, match="country"):
        generate_world(tmp_path / "x", persons=100, country="ATL")
    with pytest.raises(MiglinkError, match="three years"):
        generate_world(tmp_path / "x", persons=100, start="2024-01-01", end="2024-12-31")
    assert not (tmp_path / "x").exists()


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400),
       start=st.sampled_from(["2015-06-30", "2018-01-01", "2020-02-29"]),
       years=st.integers(3, 8))
def test_lives_are_consistent_for_any_seed_size_and_period(seed, n, start, years):
    """Invariants of any simulated population: intervals never overlap (nothing had to be
    dropped), crossings alternate within the period, residents at the start leave first."""
    s = dt.date.fromisoformat(start)
    end = dt.date(s.year + years, 12, 31).isoformat()
    L = Lives(n, np.random.default_rng(seed), start, end).simulate()
    assert L.dropped_overlaps == 0
    st_ = L.stays
    assert (st_["a"] <= st_["b"]).all()
    nxt = st_.groupby("pid")["a"].shift(-1)
    assert (nxt.isna() | (nxt >= st_["b"])).all()
    c = L.crossings()
    assert c["date"].between(L.S, L.E).all()
    prev = c.groupby("pid")["direction"].shift()
    assert (prev.isna() | (prev != c["direction"])).all()
    first = c.groupby("pid")["direction"].first()
    init = L.persons.set_index("pid")["initial_status"].reindex(first.index)
    assert ((init == "resident") == (first == "out")).all()
    # visas cover the stays they were granted for: no visa ends before it starts
    v = L.visas
    assert ((v["valid_to"] < 0) | (v["valid_to"] > v["valid_from"])).all()


def test_another_country_of_measurement(tmp_path):
    out = tmp_path / "aus"
    generate_world(out, persons=300, seed=2, country="AUS")
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["country"] == "AUS"
    p = pd.read_parquet(out / "truth" / "persons.parquet")
    natives = p[p["mobility_type"] == "native_resident"]
    assert (natives["citizenship"] == "AUS").all()
    assert (p.loc[p["native_born"], "birth_country"] == "AUS").all()
    # foreigners are never nationals of the country itself
    assert (p.loc[p["mobility_type"] == "tourist", "citizenship"] != "AUS").all()


def test_true_lives_classify_as_their_mobility_type(world, truth):
    """The UN framework applied to the true lives (RESIDENCE.md 12/16 via the classifier):
    tourists, seasonal and cross-border workers never become residents; long-term immigrants
    and overstayers who stayed do; natives who never left stay residents."""
    residence = pytest.importorskip("integrators.residence")
    import duckdb
    con = duckdb.connect()
    con.register("c", truth["crossings"])
    con.register("p", truth["persons"])
    con.execute("CREATE TABLE crossings AS SELECT true_id AS person_id, crossing_date, "
                "direction, seq FROM c")
    con.execute("CREATE TABLE residence_persons AS SELECT true_id AS person_id, citizen, "
                "initial_status, permit_valid_until, native_born, birth_date, death_date FROM p")
    residence.classify(con, ["12/16"], [dt.date(2023, 12, 31)], END)
    r = con.execute("SELECT person_id AS true_id, resident FROM residence").df()
    r = r.merge(truth["persons"], on="true_id")
    res = r.groupby("mobility_type")["resident"].agg(lambda s: s.fillna(False).mean())
    for t in ("tourist", "business_visitor", "seasonal_worker", "cross_border_worker",
              "asylum_transit", "health_visitor", "training_visitor", "circular_mover"):
        assert res[t] == 0, t
    alive = r["death_date"].isna()
    assert r.loc[alive & (r["mobility_type"] == "native_resident"), "resident"].all()
    c = truth["crossings"]
    long_stay = c[c["direction"] == "in"].groupby("true_id")["crossing_date"].max()
    ov = r[(r["mobility_type"] == "overstayer")
           & r["true_id"].isin(long_stay[long_stay < dt.date(2022, 6, 1)].index)]
    left = c[c["direction"] == "out"]["true_id"].unique()
    assert ov.loc[~ov["true_id"].isin(left), "resident"].all() and len(ov) > 0
    assert res["immigrant_work"] > 0.5 and res["foreign_resident"] > 0.8


def test_arrival_permits_are_the_true_visa_in_force_at_each_arrival():
    """truth/crossings.parquet permit_valid_until: for each arrival, the latest valid_to among
    the person's true visas valid on the arrival day (checked row by row against the visas);
    none on departures; never the end of a visa granted after the arrival."""
    from linkage.synth.truth import arrival_permits, crossings_table
    L = Lives(600, np.random.default_rng(5), "2018-01-01", "2024-12-31").simulate()
    c, got = L.crossings(), arrival_permits(L)
    visas = {pid: g for pid, g in L.visas[L.visas["valid_to"] >= 0].groupby("pid")}
    n_covered = 0
    for (pid, d, direction), p in zip(c[["pid", "date", "direction"]].itertuples(index=False),
                                      got):
        g = visas.get(pid)
        ok = [] if g is None or direction == "out" else \
            g.loc[(g["valid_from"] <= d) & (d <= g["valid_to"]), "valid_to"].tolist()
        assert p == (max(ok) if ok else NONE), (pid, d, direction)
        n_covered += bool(ok)
    assert n_covered > 300                 # the check is not vacuous
    t = crossings_table(L, 0)
    assert t.loc[t["direction"] == "out", "permit_valid_until"].isna().all()
    # the person's latest visa end (persons.parquet) is later than many arrival permits
    latest = L.visas[L.visas["valid_to"] >= 0].groupby("pid")["valid_to"].max()
    arr = got[(c["direction"] == "in").to_numpy() & (got != NONE)]
    pids = c.loc[(c["direction"] == "in").to_numpy() & (got != NONE), "pid"]
    assert (arr <= latest.reindex(pids).to_numpy()).all()
    assert (arr < latest.reindex(pids).to_numpy()).sum() > 10


def test_truth_6_12_uses_the_permit_of_each_stay(world, truth):
    """6/12 on the true crossings with their per-arrival permits: tourists and business
    visitors (visitor visas of 90 days) are never resident and have no migration events;
    with one date per person (the latest visa end) the short trips of repeat visitors would
    flip them resident on each arrival (the defect this column removes)."""
    residence = pytest.importorskip("integrators.residence")
    import duckdb

    def events_by_type(per_arrival):
        con = duckdb.connect()
        con.register("c", truth["crossings"])
        con.register("p", truth["persons"])
        pv = ", permit_valid_until" if per_arrival else ""
        con.execute(f"CREATE TABLE crossings AS SELECT true_id AS person_id, crossing_date, "
                    f"direction, seq{pv} FROM c")
        con.execute("CREATE TABLE residence_persons AS SELECT true_id AS person_id, citizen, "
                    "initial_status, permit_valid_until, native_born, birth_date, death_date "
                    "FROM p")
        residence.classify(con, ["6/12"], [dt.date(2023, 12, 31)], END)
        return con.execute("""SELECT p.mobility_type, count(*) FROM migration_events e
                              JOIN p ON p.true_id = e.person_id GROUP BY 1""").fetchall()
    new, old = dict(events_by_type(True)), dict(events_by_type(False))
    for t in ("tourist", "business_visitor", "asylum_transit"):
        assert new.get(t, 0) == 0, t
    assert old.get("business_visitor", 0) > 0
    assert sum(new.values()) < 0.8 * sum(old.values())


def test_lists_capture_unequally_with_positive_dependence():
    """On 1,000 hidden persons: police and labour captures are positively dependent (odds
    ratio > 1.5), the NGO finds women more often, and capture rates differ between lists."""
    from linkage.synth import sources as srcs
    rng = np.random.default_rng(11)
    L = Lives(25_000, rng, "2018-01-01", "2024-12-31").simulate()
    R = srcs.Renderer(L, rng, Defects())
    lists = srcs.hidden_lists(L, R, rng, Defects())
    hid = np.flatnonzero(L.persons["hidden"].to_numpy())
    assert len(hid) == 1000
    cap = {k: np.isin(hid, pid) for k, (_, pid) in lists.items()}
    a, b = cap["police"], cap["labour"]
    odds = ((a & b).sum() * (~a & ~b).sum()) / ((a & ~b).sum() * (~a & b).sum())
    assert odds > 1.5
    female = L.persons["sex"].to_numpy()[hid] == "F"
    assert cap["ngo"][female].mean() > cap["ngo"][~female].mean() + 0.05
    rates = sorted(c.mean() for c in cap.values())
    assert rates[-1] - rates[0] > 0.05 and rates[0] > 0.1
