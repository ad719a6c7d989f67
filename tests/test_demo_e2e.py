"""End to end: `miglink demo` on a small world, then the DESIGN.md output contracts.

One demo run (module-scoped, 600 persons) is shared by the checks below.
"""

import json
import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

from integrators.cli import main

pytestmark = pytest.mark.slow

OUTPUT_COLUMNS = {
    "records.parquet": {"source", "record_id"},
    "rejected.parquet": {"source", "row_number", "reason", "raw"},
    "field_issues.parquet": {"source", "record_id", "field", "raw_value", "problem"},
    "links.parquet": {"source_l", "record_id_l", "source_r", "record_id_r", "match_weight",
                      "match_probability"},
    "clusters.parquet": {"source", "record_id", "person_id"},
    "persons.parquet": {"person_id", "sources", "n_records"},
    "events.parquet": {"person_id", "source", "record_id", "event_date", "event_type"},
    "stays.parquet": {"person_id", "start_date", "end_date", "start_observed", "end_observed"},
    "residence.parquet": {"person_id", "reference_date", "rule", "resident", "status",
                          "days_present", "provisional"},
    "migration_events.parquet": {"person_id", "rule", "event", "event_date", "decided_on",
                                 "returning_citizen", "native_born"},
    "mobility.parquet": {"person_id", "year", "mobility_type", "trips", "person_days"},
}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    code = main(["demo", "--out", str(out), "--persons", "600", "--seed", "7"])
    assert code == 0
    return out


def test_world_and_truth_written(demo):
    world = demo / "world"
    assert (world / "config.yaml").exists()
    for name in ("records.parquet", "residence.parquet", "migration_events.parquet",
                 "hidden_population.json"):
        assert (world / "truth" / name).exists(), name


@pytest.mark.parametrize("name", sorted(OUTPUT_COLUMNS))
def test_output_tables_have_contract_columns(demo, name):
    df = pd.read_parquet(demo / name)
    assert OUTPUT_COLUMNS[name] <= set(df.columns), name
    con = duckdb.connect(str(demo / "miglink.duckdb"), read_only=True)
    table = name.removesuffix(".parquet")
    assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == len(df)


def test_row_accounting_per_source(demo):
    """Input rows = records + rejected, for every source file of the world."""
    import yaml

    cfg = yaml.safe_load((demo / "world" / "config.yaml").read_text())
    records = pd.read_parquet(demo / "records.parquet")
    rejected = pd.read_parquet(demo / "rejected.parquet")
    truth = pd.read_parquet(demo / "world" / "truth" / "records.parquet")
    for src in cfg["sources"]:
        n_in = int((truth["source"] == src["name"]).sum())
        n_acc = int((records["source"] == src["name"]).sum())
        n_rej = int((rejected["source"] == src["name"]).sum())
        assert n_in == n_acc + n_rej, src["name"]


def test_every_record_has_one_person(demo):
    records = pd.read_parquet(demo / "records.parquet")
    clusters = pd.read_parquet(demo / "clusters.parquet")
    assert len(clusters) == len(records)
    assert not clusters.duplicated(["source", "record_id"]).any()
    persons = pd.read_parquet(demo / "persons.parquet")
    assert set(persons["person_id"]) == set(clusters["person_id"])


def test_report_and_mse_written(demo):
    html = (demo / "report.html").read_text()
    assert "<html" in html.lower()
    mse = json.loads((demo / "mse.json").read_text())
    assert mse["estimate"] >= mse["observed"]
    assert list((demo / "tables").glob("*.csv"))


def test_no_personal_data_in_report_or_tables(demo):
    """Names, dates of birth and document numbers never leave the microdata tables."""
    records = pd.read_parquet(demo / "records.parquet")
    secrets = set()
    for col in ("given_name", "family_name", "full_name", "document_number"):
        if col in records:
            secrets |= {str(v) for v in records[col].dropna() if len(str(v)) >= 5}
    if "birth_date" in records:
        # a baby born on a reference date shares that date with every table: not a leak
        cfg = yaml.safe_load((demo / "world" / "config.yaml").read_text())
        public = {str(d) for d in cfg["residence"]["reference_dates"]}
        public.add(str(cfg["residence"].get("observed_until")))
        secrets |= {str(v)[:10] for v in records["birth_date"].dropna()} - public
    texts = [(demo / "report.html").read_text()]
    texts += [p.read_text() for p in (demo / "tables").glob("*.csv")]
    blob = "\n".join(texts)
    leaked = sorted(s for s in secrets
                    if re.search(rf"(?<![\w-]){re.escape(s)}(?![\w-])", blob))
    assert not leaked, leaked[:10]


def test_demo_is_deterministic(demo, tmp_path):
    code = main(["run", str(demo / "world" / "config.yaml"), "--out", str(tmp_path),
                 "--steps", "ingest,link", "--seed", "7"])
    assert code == 0
    a = pd.read_parquet(demo / "clusters.parquet").sort_values(["source", "record_id"])
    b = pd.read_parquet(tmp_path / "clusters.parquet").sort_values(["source", "record_id"])
    assert a.reset_index(drop=True).equals(b.reset_index(drop=True))


def test_accounts_balance_exactly_on_the_demo(demo):
    """One linked dataset: opening + flows = closing for every published account cell."""
    acc = pd.read_csv(demo / "tables" / "accounts.csv")
    assert len(acc) > 0
    published = acc["residual"].dropna()
    assert len(published) > 0 and (published == 0).all()
