"""`miglink residence` end to end on CSV files, through integrators.cli.main."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from integrators.cli import main


def write(path, text):
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return str(path)


def test_residence_command_end_to_end(tmp_path, capsys):
    # p1: in 1 Jan 2021 and stays -> 12/16 immigration decided 31 Dec 2021 (365th day);
    #     citizen -> returning citizen.
    # p2: transit (in then out, same day, rows in that order) -> 0 days; p3: the same day in
    #     the other order (out then in: a day trip; first crossing out -> present before) ->
    #     present every day.
    c = write(tmp_path / "crossings.csv", """
person_id,crossing_date,direction
1,2021-01-01,in
2,2021-03-10,in
2,2021-03-10,out
3,2021-03-10,out
3,2021-03-10,IN
""")
    p = write(tmp_path / "persons.csv", """
person_id,citizen,initial_status,permit_valid_until
1,TRUE,,
2,false,non_resident,
3,,,
4,true,resident,
""")
    out = tmp_path / "out"
    rc = main(["residence", "--crossings", c, "--persons", p, "--rule", "12/16",
               "--rule", "6/12", "--reference-date", "2021-06-30",
               "--reference-date", "2022-01-01", "--observed-until", "2021-12-31",
               "--out", str(out)])
    assert rc == 0
    res = pd.read_parquet(out / "residence.parquet")
    ev = pd.read_parquet(out / "migration_events.parquet")
    assert list(res.columns) == ["person_id", "reference_date", "rule", "resident", "status",
                                 "days_present", "provisional"]
    assert len(res) == 4 * 2 * 2
    r = res.set_index(["person_id", "rule", res.reference_date.astype(str)])
    # 1 Jan..30 Jun 2021 = 181 days
    assert r.loc[(1, "12/16", "2021-06-30"), "status"] == "resident_present"
    assert r.loc[(1, "12/16", "2021-06-30"), "days_present"] == 181
    assert r.loc[(1, "6/12", "2021-06-30"), "status"] == "temporary_present"
    assert r.loc[(2, "6/12", "2021-06-30"), "days_present"] == 0
    assert r.loc[(3, "6/12", "2021-06-30"), "days_present"] == 365
    assert r.loc[(4, "12/16", "2021-06-30"), "status"] == "resident_present"
    # after observed_until: provisional, resident null
    after = res[res.reference_date == pd.Timestamp("2022-01-01")]
    assert (after.status == "provisional").all() and after.resident.isna().all()
    e = ev[(ev.person_id == 1) & (ev.rule == "12/16")]
    assert e[["event", "returning_citizen"]].values.tolist() == [["immigration", True]]
    assert str(e.decided_on.iloc[0])[:10] == "2021-12-31"
    assert "wrote 16 residence rows" in capsys.readouterr().out


@pytest.mark.parametrize("crossings, persons, expect", [
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n1,2021-13-01,out\n", None,
     "crossings.csv, row 2, column 'crossing_date'"),
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n1,2021-02-01,up\n", None,
     "crossings.csv, row 2, column 'direction'"),
    ("person_id,date,direction\n1,2021-01-01,in\n", None,
     "crossings.csv, column 'crossing_date': missing column"),
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n",
     "person_id,citizen\n1,true\n2,yes\n", "persons.csv, row 2, column 'citizen'"),
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n",
     "person_id,initial_status\n1,resident\n2,abroad\n",
     "persons.csv, row 2, column 'initial_status'"),
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n",
     "person_id,permit_valid_until\n1,soon\n", "persons.csv, row 1, column 'permit_valid_until'"),
    ("person_id,crossing_date,direction\n1,2021-01-01,in\n",
     "person_id,citizen\n1,true\n1,false\n", "persons.csv, row 2, column 'person_id'"),
    ("person_id,crossing_date,direction,permit_valid_until\n1,2021-01-01,in,\n"
     "1,2021-02-01,out,next year\n", None,
     "crossings.csv, row 2, column 'permit_valid_until'"),
])
def test_residence_command_errors(tmp_path, capsys, crossings, persons, expect):
    c = write(tmp_path / "crossings.csv", crossings)
    args = ["residence", "--crossings", c, "--rule", "6/12", "--reference-date", "2021-06-30",
            "--out", str(tmp_path / "out")]
    if persons:
        args += ["--persons", write(tmp_path / "persons.csv", persons)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and expect in err, err
    assert not (tmp_path / "out" / "residence.parquet").exists()


def test_residence_command_parquet_and_text_ids(tmp_path):
    pd.DataFrame({"person_id": ["a", "a", "b"],
                  "crossing_date": [dt.date(2021, 1, 1), dt.date(2021, 2, 1), dt.date(2021, 1, 5)],
                  "direction": ["in", "out", "in"]}).to_parquet(tmp_path / "c.parquet")
    rc = main(["residence", "--crossings", str(tmp_path / "c.parquet"), "--rule", "12/12",
               "--reference-date", "2021-01-31", "--out", str(tmp_path / "o")])
    assert rc == 0
    res = pd.read_parquet(tmp_path / "o" / "residence.parquet").set_index("person_id")
    # a: 1..31 Jan = 31 days; b: 5..31 Jan = 27 days (observed_until = latest crossing 1 Feb)
    assert res.loc["a", "days_present"] == 31 and res.loc["b", "days_present"] == 27


def test_bad_reference_date(tmp_path, capsys):
    c = write(tmp_path / "crossings.csv", "person_id,crossing_date,direction\n1,2021-01-01,in\n")
    assert main(["residence", "--crossings", c, "--rule", "6/12", "--reference-date", "31/12/2021",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--reference-date" in capsys.readouterr().err


def test_residence_command_permit_per_arrival(tmp_path):
    # The crossings carry the permit in force for each stay (empty = none); the persons file
    # still has one date per person, used only when the crossings lack the column.
    # Trip 1 (1-20 Mar 2019) visa-free, trip 2 from 1 Mar 2021 on a permit to 30 Aug 2021:
    # 30 Aug - 1 Mar + 1 = 183 -> resident on 10 Mar 2021 by permission, not on 10 Mar 2019.
    c = write(tmp_path / "crossings.csv", """
person_id,crossing_date,direction,permit_valid_until
1,2019-03-01,in,
1,2019-03-20,out,
1,2021-03-01,in,2021-08-30
""")
    p = write(tmp_path / "persons.csv", "person_id,permit_valid_until\n1,2024-12-31\n")
    args = ["residence", "--crossings", c, "--persons", p, "--rule", "6/12",
            "--reference-date", "2019-03-10", "--reference-date", "2021-03-10",
            "--observed-until", "2021-06-30"]
    assert main(args + ["--out", str(tmp_path / "o")]) == 0
    res = pd.read_parquet(tmp_path / "o" / "residence.parquet")
    assert res.sort_values("reference_date").status.tolist() == ["temporary_present",
                                                                "resident_present"]
    ev = pd.read_parquet(tmp_path / "o" / "migration_events.parquet")
    assert ev[["event"]].values.tolist() == [["immigration"]]
    assert str(ev.decided_on.iloc[0])[:10] == "2021-03-01"
    # the same crossings without the column: the person's date decides every stay
    c2 = write(tmp_path / "c2.csv", "person_id,crossing_date,direction\n1,2019-03-01,in\n"
                                    "1,2019-03-20,out\n1,2021-03-01,in\n")
    args[2] = c2
    assert main(args + ["--out", str(tmp_path / "o2")]) == 0
    res = pd.read_parquet(tmp_path / "o2" / "residence.parquet")
    assert res.status.tolist() == ["resident_present", "resident_present"]
