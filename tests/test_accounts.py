"""Population accounts and GLS reconciliation, through `miglink accounts` end to end."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings, strategies as st

from integrators.accounts import GLSReconciliation, PopulationAccounts
from integrators.cli import main
from linkage.errors import MiglinkError

FBFC, FBC = "foreign_born_foreign_citizens", "foreign_born_citizens"
NBC = "native_born_citizens"

COMPONENTS = f"""component,group,to_group,value,sex
opening,{FBFC},,100,F
immigration,{FBFC},,20,F
emigration,{FBFC},,5,F
transition,{FBFC},{FBC},10,F
closing,{FBFC},,104,F
opening,{FBC},,50,F
closing,{FBC},,60,F
opening,{NBC},,30,M
births,{NBC},,4,M
deaths,{NBC},,2,M
closing,{NBC},,32,M
"""
VARIANCES = f"""component,group,to_group,sex,variance
opening,{FBFC},,F,0
immigration,{FBFC},,F,4
emigration,{FBFC},,F,1
transition,{FBFC},{FBC},F,0
closing,{FBFC},,F,9
opening,{FBC},,F,0
closing,{FBC},,F,0
opening,{NBC},,M,1
births,{NBC},,M,1
deaths,{NBC},,M,1
closing,{NBC},,M,1
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_accounts_and_reconciliation_end_to_end(tmp_path, capsys):
    comp = write(tmp_path, "c.csv", COMPONENTS)
    var = write(tmp_path, "v.csv", VARIANCES)
    out = tmp_path / "out"
    assert main(["accounts", comp, "--out", str(out), "--variances", var]) == 0
    acc = pd.read_csv(out / "accounts.csv")
    assert list(acc.columns) == ["sex", "group", "opening", "births", "deaths", "immigration",
                                 "emigration", "transitions_in", "transitions_out",
                                 "closing_accounted", "closing_observed", "residual"]
    f = acc.set_index(["sex", "group"])
    # FBFC, F: 100 + 20 - 5 - 10 = 105 accounted, 104 observed -> residual -1
    assert f.loc[("F", FBFC), "closing_accounted"] == 105
    assert f.loc[("F", FBFC), "residual"] == -1
    # FBC, F: 50 + 10 naturalised = 60 = observed
    assert f.loc[("F", FBC), "transitions_in"] == 10 and f.loc[("F", FBC), "residual"] == 0
    # NBC, M: 30 + 4 - 2 = 32
    assert f.loc[("M", NBC), "residual"] == 0
    rec = pd.read_csv(out / "reconciled.csv", keep_default_na=False)
    assert list(rec.columns) == ["component", "group", "to_group", "sex", "value",
                                 "reconciled", "adjustment"]
    # by hand: FBFC constraint 100 + imm - emi - 10 - close = 0 has A x0 = 1; the free
    # variables imm (var 4, coef +1), emi (1, -1), close (9, -1) give A V A' = 14, so
    # lambda = 1/14 and x = x0 - V A' lambda: imm 20 - 4/14, emi 5 + 1/14, close 104 + 9/14
    r = rec.set_index(["component", "group"])["reconciled"]
    assert r[("immigration", FBFC)] == pytest.approx(20 - 4 / 14, abs=1e-12)
    assert r[("emigration", FBFC)] == pytest.approx(5 + 1 / 14, abs=1e-12)
    assert r[("closing", FBFC)] == pytest.approx(104 + 9 / 14, abs=1e-12)
    assert r[("opening", FBFC)] == 100 and r[("transition", FBFC)] == 10
    assert r[("births", NBC)] == 4  # a balanced account is left as it is
    assert rec["adjustment"].to_numpy() == pytest.approx(rec["reconciled"] - rec["value"])
    # the reconciled components balance every account to 1e-9
    again = rec.assign(value=rec["reconciled"])[["component", "group", "to_group", "value",
                                                 "sex"]]
    pa = PopulationAccounts().fit(again.astype({"to_group": str}))
    assert np.abs(pa.accounts_["residual"]).max() < 1e-9
    assert "1 with a non-zero residual" in capsys.readouterr().out


def test_all_fixed_unbalanceable_account_is_one_line_error(tmp_path, capsys):
    comp = write(tmp_path, "c.csv", COMPONENTS)
    var = write(tmp_path, "v.csv", VARIANCES.replace(f"immigration,{FBFC},,F,4",
                                                     f"immigration,{FBFC},,F,0")
                .replace(f"emigration,{FBFC},,F,1", f"emigration,{FBFC},,F,0")
                .replace(f"closing,{FBFC},,F,9", f"closing,{FBFC},,F,0"))
    out = tmp_path / "out"
    assert main(["accounts", comp, "--out", str(out), "--variances", var]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("miglink: error: account group=foreign_born_foreign_citizens, sex=F")
    assert "all its components are fixed" in err
    assert not (out / "reconciled.csv").exists() and not (out / "accounts.csv").exists()


@pytest.mark.parametrize("line,expect", [
    (f"arrivals,{FBFC},,3,F", "row 12, column 'component': unknown component 'arrivals'"),
    ("births,aliens,,3,F", "row 12, column 'group': unknown group 'aliens'"),
    (f"births,{FBFC},,many,F", "row 12, column 'value': value 'many' is not a number"),
    (f"transition,{FBFC},,3,F", "row 12, column 'to_group': transition without to_group"),
    (f"transition,{FBFC},nobody,3,F", "row 12, column 'to_group': unknown to_group"),
    (f"births,{FBFC},{FBC},3,F", "row 12, column 'to_group': to_group is only for a"),
    (f"opening,{FBFC},,3,F", "row 12, column 'component': duplicate of row 1"),
])
def test_bad_input_one_line_errors(tmp_path, capsys, line, expect):
    comp = write(tmp_path, "c.csv", COMPONENTS + line + "\n")
    assert main(["accounts", comp, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"c.csv, {expect}" in err


def test_missing_column_and_variance_rows(tmp_path, capsys):
    comp = write(tmp_path, "c.csv", "component,group,value\nopening,native_born_citizens,\n")
    assert main(["accounts", comp, "--out", str(tmp_path / "o")]) == 2
    assert "row 1, column 'value': value '' is not a number" in capsys.readouterr().err
    comp = write(tmp_path, "c2.csv", "component,group\nopening,native_born_citizens\n")
    assert main(["accounts", comp, "--out", str(tmp_path / "o")]) == 2
    assert "column 'value': required column is missing" in capsys.readouterr().err
    comp = write(tmp_path, "c3.csv", COMPONENTS)
    var = write(tmp_path, "v3.csv", "\n".join(VARIANCES.splitlines()[:-1]) + "\n")
    assert main(["accounts", comp, "--out", str(tmp_path / "o"), "--variances", var]) == 2
    assert "no variance for components row 11" in capsys.readouterr().err


def test_consistent_accounts_have_zero_residual_and_gls_leaves_them():
    df = pd.DataFrame({
        "component": ["opening", "immigration", "transition", "closing", "opening", "closing"],
        "group": [FBFC, FBFC, FBFC, FBFC, FBC, FBC],
        "to_group": ["", "", FBC, "", "", ""],
        "value": [10, 3, 2, 11, 5, 7]})
    pa = PopulationAccounts().fit(df)
    assert pa.accounts_["residual"].tolist() == [0, 0]
    gls = GLSReconciliation().fit(df["value"], np.ones(6), pa.A_, pa.constraint_labels_)
    assert np.allclose(gls.adjustment_, 0)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000))
def test_gls_is_the_constrained_weighted_least_squares_optimum(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for sex in ("F", "M"):
        for g in (FBFC, FBC, NBC):
            for c in ("opening", "births", "deaths", "immigration", "emigration", "closing"):
                rows.append((c, g, "", float(rng.integers(0, 100)), sex))
        rows.append(("transition", FBFC, FBC, float(rng.integers(0, 20)), sex))
    df = pd.DataFrame(rows, columns=["component", "group", "to_group", "value", "sex"])
    var = rng.uniform(0.5, 10, len(df))
    var[rng.random(len(df)) < 0.3] = 0.0  # some fixed
    pa = PopulationAccounts().fit(df)
    A = pa.A_.toarray()
    try:
        gls = GLSReconciliation().fit(df["value"], var, A, pa.constraint_labels_)
    except MiglinkError as exc:  # only when some account really has nothing free
        free = (A != 0) & (var > 0)
        assert (~free.any(axis=1)).any() and "cannot be balanced" in str(exc)
        return
    x = gls.reconciled_
    assert np.abs(A @ x).max() < 1e-9
    assert np.all(gls.adjustment_[var == 0] == 0)
    # KKT: on free variables, adjustment / variance = -A' lambda for some lambda
    free = var > 0
    g = gls.adjustment_[free] / var[free]
    lam = np.linalg.lstsq(-A[:, free].T, g, rcond=None)[0]
    assert np.allclose(-A[:, free].T @ lam, g, atol=1e-8)


def test_contradictory_fixed_components_across_linked_accounts(tmp_path, capsys):
    # FBFC and FBC share only the transition; every other component is fixed.  FBFC needs
    # the transition to be 10 + 1 = 11 (residual -1), FBC needs it to be 10 - 2 = 8: no
    # single value balances both, so the error names an account that stays unbalanced.
    comp = write(tmp_path, "c.csv", COMPONENTS.replace(f"closing,{FBC},,60,F",
                                                       f"closing,{FBC},,58,F"))
    lines = VARIANCES.splitlines()
    lines = [ln.rsplit(",", 1)[0] + ",1" if "transition" in ln
             else ln if ln.startswith("component") or ",M," in ln
             else ln.rsplit(",", 1)[0] + ",0" for ln in lines]
    var = write(tmp_path, "v.csv", "\n".join(lines) + "\n")
    assert main(["accounts", comp, "--out", str(tmp_path / "o"), "--variances", var]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be balanced with the given variances" in err


def test_parquet_components_and_bom_csv(tmp_path):
    df = pd.read_csv(pd.io.common.StringIO(COMPONENTS), dtype=str, keep_default_na=False)
    df.to_parquet(tmp_path / "c.parquet")
    assert main(["accounts", str(tmp_path / "c.parquet"), "--out", str(tmp_path / "p")]) == 0
    (tmp_path / "bom.csv").write_text("\ufeff" + COMPONENTS, encoding="utf-8")
    assert main(["accounts", str(tmp_path / "bom.csv"), "--out", str(tmp_path / "b")]) == 0
    a = pd.read_csv(tmp_path / "p" / "accounts.csv")
    assert a.equals(pd.read_csv(tmp_path / "b" / "accounts.csv"))
    assert a["residual"].tolist() == [0, -1, 0]
