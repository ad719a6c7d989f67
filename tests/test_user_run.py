"""A user's own sources, as docs/user-guide.md walks through them: files with canonical or
usual headers (no `columns`), the source's own codes, no reference dates and no MSE lists
configured -> `miglink run` makes every output; `--steps` re-runs a part."""

import pandas as pd
import pytest
import yaml

from integrators.cli import main

pytestmark = pytest.mark.slow


def test_run_on_plain_user_files(tmp_path):
    # border file with the usual headers and the source's own codes for direction and sex
    pd.DataFrame({
        "crossing_id": [f"X{i}" for i in range(1, 9)],
        "first_name": ["Ana", "Ana", "Ana", "Ben", "Ben", "Chen", "Chen", "Ana"],
        "surname": ["Silva", "Silva", "Silva", "Okafor", "Okafor", "Wei", "Wei", "Silva"],
        "dob": ["1990-04-02"] * 3 + ["1985-11-30"] * 2 + ["1979-01-15"] * 2 + ["1990-04-02"],
        "sex": ["2", "2", "2", "1", "1", "1", "1", "2"],
        "nationality": ["Brazil", "BR", "BRA", "Nigeria", "NGA", "China", "CN", "Brazil"],
        "direction": ["A", "D", "A", "A", "D", "A", "D", "D"],
        "crossing_date": ["2019-03-01", "2019-04-01", "2020-01-10", "2019-06-01",
                          "2019-06-20", "2019-02-01", "2019-02-03", "2023-06-30"],
    }).to_csv(tmp_path / "border.csv", index=False)
    pd.DataFrame({
        "application_no": ["V1", "V2"],
        "given_name": ["Ana", "Ben"], "family_name": ["Silva", "Okafor"],
        "birth_date": ["1990-04-02", "1985-11-30"], "citizenship": ["BRA", "NGA"],
        "visa_category": ["work", "visitor"], "valid_from": ["2019-12-01", "2019-05-20"],
        "valid_to": ["2023-12-01", "2019-08-20"], "purpose": ["work", "tourism"],
    }).to_csv(tmp_path / "visa.csv", index=False)
    cfg = {"country": "NZL", "sources": [
        {"name": "border", "kind": "border", "path": "border.csv", "id": "crossing_id",
         "codes": {"sex": {"1": "M", "2": "F"}, "direction": {"A": "in", "D": "out"}}},
        {"name": "visa", "kind": "visa", "path": "visa.csv", "id": "application_no"}],
        "residence": {"observed_until": "2024-12-31"}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "config.yaml"), "--out", str(out)]) == 0

    clusters = pd.read_parquet(out / "clusters.parquet")
    assert clusters["person_id"].nunique() == 3          # Ana, Ben, Chen
    res = pd.read_parquet(out / "residence.parquet")
    # no reference dates configured: 31 December of each whole year of data, 2020..2024
    assert sorted(res["reference_date"].astype(str).unique())[0] == "2020-12-31"
    ana = clusters.loc[(clusters.source == "visa") & (clusters.record_id == "V1"),
                       "person_id"].item()
    # Ana arrived 2020-01-10 and stayed until 2023-06-30: resident at 2021-12-31 (12/16)
    mine = res[(res.person_id == ana) & (res.rule == "12/16")]
    r = mine.set_index(mine["reference_date"].astype(str))["status"]
    assert r["2021-12-31"] == "resident_present"
    assert r["2023-12-31"] == "not_present" or r["2023-12-31"] is None
    assert (out / "report.html").exists() and not (out / "mse.json").exists()

    # re-run the report alone from what the run left in OUT
    (out / "report.html").unlink()
    assert main(["run", str(tmp_path / "config.yaml"), "--out", str(out),
                 "--steps", "report"]) == 0
    assert (out / "report.html").exists()
