"""``miglink mse`` end to end: mse.json contract, refusals, input validation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from integrators.cli import main

KOREA = "b,c,d,count\n0,0,1,41\n0,1,0,5\n1,0,0,5\n1,0,1,6\n1,1,0,54\n1,1,1,12\n"
KEYS = {"lists", "observed", "method", "model", "neg_inf_terms", "estimate", "se", "unobserved",
        "ci_low", "ci_high", "ci_method", "ci_level", "deviance", "df", "aic", "bic", "models"}
MODEL_KEYS = {"terms", "estimate", "deviance", "df", "aic", "bic", "code"}


@pytest.fixture
def korea(tmp_path):
    p = tmp_path / "korea.csv"
    p.write_text(KOREA)
    return p


def run(capsys, *argv):
    code = main(["mse", *map(str, argv)])
    cap = capsys.readouterr()
    return code, cap.err


def test_default_stepwise_profile(korea, tmp_path, capsys):
    out = tmp_path / "mse.json"
    code, err = run(capsys, korea, "--out", out)
    assert code == 0
    r = json.loads(out.read_text())
    assert KEYS <= set(r)
    assert r["lists"] == ["b", "c", "d"] and r["observed"] == 123
    assert r["method"] == "stepwise" and r["model"] == ["b:c"]
    assert round(r["estimate"], 4) == 268.7778 and round(r["se"], 4) == 46.6558
    assert (round(r["ci_low"], 2), round(r["ci_high"], 2)) == (198.11, 392.52)
    assert r["ci_method"] == "profile" and r["ci_level"] == 0.95
    assert r["unobserved"] == pytest.approx(r["estimate"] - 123)
    assert all(MODEL_KEYS <= set(m) for m in r["models"])
    assert [m["terms"] for m in r["models"]] == [[], ["b:c"]]


def test_fixed_terms_bic_and_wald(korea, tmp_path, capsys):
    out = tmp_path / "f.json"
    assert run(capsys, korea, "--out", out, "--terms", "b:c,c:d", "--ci", "wald")[0] == 0
    r = json.loads(out.read_text())
    assert r["method"] == "fixed" and sorted(r["model"]) == ["b:c", "c:d"]
    assert (round(r["ci_low"], 2), round(r["ci_high"], 2)) == (133.03, 239.39)
    out2 = tmp_path / "b.json"
    assert run(capsys, korea, "--out", out2, "--method", "bic", "--ci-level", "0.8")[0] == 0
    r2 = json.loads(out2.read_text())
    assert round(r2["estimate"], 4) == 157.1667
    assert (round(r2["ci_low"], 1), round(r2["ci_high"], 1)) == (134.1, 189.5)
    assert len(r2["models"]) == 8
    assert sorted(m["code"] for m in r2["models"]) == [0] * 6 + [1, 1]


@pytest.mark.parametrize("terms,reason", [("b:c:d", "not identifiable"),
                                          ("b:c,b:d", "does not exist")])
def test_refusal_no_output(korea, tmp_path, capsys, terms, reason):
    out = tmp_path / "never.json"
    code, err = run(capsys, korea, "--out", out, "--terms", terms)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and reason in lines[0] and "korea.csv" in lines[0]
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [korea]           # no temporary left behind


@pytest.mark.parametrize("text,needle", [
    ("a,b,count\n1,0,3\n0,2,4\n", "row 2, column 'b'"),
    ("a,b,count\n1,0,3\n0,1,-4\n", "row 2, column 'count'"),
    ("a,b,count\n1,0,3\n0,0,4\n", "row 2"),
    ("a,count\n1,3\n", "at least 2 list"),
    ("a,b,n\n1,0,3\n", "'count'"),
    ("a,b,count\n1,0,x\n", "row 1, column 'count'"),
])
def test_validation_errors_one_line(tmp_path, capsys, text, needle):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    out = tmp_path / "o.json"
    code, err = run(capsys, p, "--out", out)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert needle in err and "bad.csv" in err
    assert not out.exists()


def test_strata_cli(tmp_path, capsys):
    body = KOREA.strip().splitlines()
    lines = ["sex," + body[0]] + [f"F,{r}" for r in body[1:]] + [f"M,{r}" for r in body[1:]]
    p = tmp_path / "s.csv"
    p.write_text("\n".join(lines) + "\n")
    out = tmp_path / "s.json"
    assert run(capsys, p, "--out", out, "--strata", "sex", "--method", "main")[0] == 0
    r = json.loads(out.read_text())
    assert [s["stratum"] for s in r["strata"]] == [{"sex": "F"}, {"sex": "M"}]
    assert r["estimate"] == pytest.approx(2 * r["strata"][0]["estimate"])
    assert r["lists"] == ["b", "c", "d"] and KEYS <= set(r["strata"][0])
    code, err = run(capsys, p, "--out", tmp_path / "x.json", "--strata", "age")
    assert code == 2 and "'age'" in err


def test_console_script_subprocess(korea, tmp_path):
    out = tmp_path / "m.json"
    proc = subprocess.run([sys.executable, "-m", "integrators.cli", "mse", str(korea), "--out",
                           str(out), "--terms", "b:c:d"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and not out.exists()
    proc = subprocess.run([sys.executable, "-m", "integrators.cli", "mse", str(korea), "--out",
                           str(out), "--ci", "bca", "--bootstrap", "100", "--seed", "2"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    r = json.loads(out.read_text())
    assert r["ci_method"] == "bca" and r["bootstrap"]["replicates"] == 100
