"""Population accounts for the four subpopulations, and their GLS reconciliation.

The UN revised framework (E/CN.3/2021/11, Annex II, "coherence between international
migration (flows) and immigrant population (stocks)") asks that the demographic components
of change be reconciled for native-born citizens, foreign-born citizens, native-born
foreign citizens and foreign-born foreign citizens (linkage.schema.SUBPOPULATIONS).  For
each group (and each combination of extra keys such as sex):

    closing_accounted = opening + births + immigration - deaths - emigration
                        + transitions_in - transitions_out
    residual          = closing_observed - closing_accounted

A transition (naturalisation, or loss of citizenship) moves people from ``group`` to
``to_group``.  Built from one linked dataset every residual is zero; a non-zero residual
measures how far the inputs disagree.

Reconciliation (Stone, Champernowne & Meade 1942, "The precision of national income
estimates", Rev. Econ. Stud. 9(2)): the weighted least-squares adjustment minimising
sum (x - x0)^2 / variance subject to A x = 0 (every account balanced) is

    x = x0 - V A' (A V A')^+ A x0,     V = diag(variances), 0 = fixed,

solved account block by account block (accounts only share variables through transitions
within one key combination) with a least-squares pseudo-inverse and one refinement step.

Command line (DESIGN.md): ``miglink accounts COMPONENTS --out DIR [--variances FILE]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix, issparse
from scipy.sparse.csgraph import connected_components

from linkage.errors import MiglinkError
from linkage.io import write_df_csv
from linkage.schema import SUBPOPULATIONS

COMPONENTS = ("opening", "births", "deaths", "immigration", "emigration", "transition",
              "closing")
BASE_COLUMNS = ("component", "group", "to_group", "value")
#: sign of each component in closing_accounted - closing_observed (= -residual)
_SIGN = {"opening": 1, "births": 1, "immigration": 1, "deaths": -1, "emigration": -1,
         "closing": -1}
ACCOUNT_COLUMNS = ("group", "opening", "births", "deaths", "immigration", "emigration",
                   "transitions_in", "transitions_out", "closing_accounted",
                   "closing_observed", "residual")


def _read_csv(path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise MiglinkError("file not found", file=str(path))
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            df = pd.read_parquet(p)
            df = df.astype(object).where(df.notna(), "").astype(str)
        else:
            df = pd.read_csv(p, dtype=str, keep_default_na=False, skipinitialspace=True,
                             encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise MiglinkError("file is empty", file=str(path)) from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        raise MiglinkError(f"cannot read CSV: {' '.join(str(exc).split())}",
                           file=str(path)) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df.apply(lambda s: s.str.strip())


def _numbers(df: pd.DataFrame, col: str, path) -> np.ndarray:
    vals = pd.to_numeric(df[col], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MiglinkError(f"{col} {df[col].iloc[i]!r} is not a number", file=str(path),
                           row=i + 1, column=col)
    neg = vals < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise MiglinkError(f"{col} {df[col].iloc[i]!r} is negative", file=str(path),
                           row=i + 1, column=col)
    return vals


def _with_to_group(df: pd.DataFrame, required, path) -> pd.DataFrame:
    """A copy of ``df`` with its required columns checked and ``to_group`` as text."""
    for col in required:
        if col not in df.columns:
            raise MiglinkError("required column is missing", file=str(path), column=col)
    df = df.copy()
    if "to_group" not in df.columns:
        df["to_group"] = ""
    df["to_group"] = df["to_group"].fillna("").astype(str)
    return df


def _check_vocabulary(df: pd.DataFrame, col: str, allowed, path) -> None:
    """One-line error naming the first row whose ``col`` is not in ``allowed``."""
    bad = ~df[col].isin(allowed)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MiglinkError(f"unknown {col} {df[col].iloc[i]!r} (expected one of "
                           f"{', '.join(allowed)})", file=str(path), row=i + 1, column=col)


def validate_components(df: pd.DataFrame, path="components") -> tuple[pd.DataFrame, list[str]]:
    """Check a components table; return it (value as float) and its extra key columns.

    Rows are numbered from 1 (header not counted) in the messages.
    """
    df = _with_to_group(df, ("component", "group", "value"), path)
    for col in ("component", "group"):
        df[col] = df[col].fillna("").astype(str)
    keys = [c for c in df.columns if c not in BASE_COLUMNS]
    _check_vocabulary(df, "component", COMPONENTS, path)
    _check_vocabulary(df, "group", SUBPOPULATIONS, path)
    is_tr = (df["component"] == "transition").to_numpy()
    to = df["to_group"].to_numpy()
    bad = is_tr & (to == "")
    if bad.any():
        raise MiglinkError("transition without to_group", file=str(path),
                           row=int(np.flatnonzero(bad)[0]) + 1, column="to_group")
    bad = is_tr & ~pd.Series(to).isin(SUBPOPULATIONS).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MiglinkError(f"unknown to_group {to[i]!r} (expected one of "
                           f"{', '.join(SUBPOPULATIONS)})", file=str(path), row=i + 1,
                           column="to_group")
    bad = is_tr & (to == df["group"].to_numpy())
    if bad.any():
        raise MiglinkError("transition from a group to itself", file=str(path),
                           row=int(np.flatnonzero(bad)[0]) + 1, column="to_group")
    bad = ~is_tr & (to != "")
    if bad.any():
        raise MiglinkError("to_group is only for a transition", file=str(path),
                           row=int(np.flatnonzero(bad)[0]) + 1, column="to_group")
    df["value"] = _numbers(df, "value", path)
    ident = ["component", "group", "to_group", *keys]
    dup = df.duplicated(ident, keep=False).to_numpy()
    if dup.any():
        rows = np.flatnonzero(dup)
        first = df.iloc[rows[0]][ident]
        same = rows[(df.iloc[rows][ident] == first).all(axis=1).to_numpy()]
        raise MiglinkError(f"duplicate of row {same[0] + 1} (same component, group, "
                           f"to_group and keys)", file=str(path), row=int(same[1]) + 1,
                           column="component")
    return df.reset_index(drop=True), keys


def _label(keys: list[str], kv: tuple, group: str) -> str:
    parts = [f"group={group}"] + [f"{k}={v}" for k, v in zip(keys, kv)]
    return ", ".join(parts)


class PopulationAccounts:
    """Accounts of the four subpopulations from a long components table.

    ``fit(df)`` takes columns component, group, to_group, value and any extra key columns
    (each combination of extra keys has its own accounts).  Results: ``accounts_`` (one
    row per key combination and group: extra keys, then ACCOUNT_COLUMNS; a missing
    component counts 0, a missing opening or closing leaves closing_observed/residual
    empty), ``keys_``, ``A_`` (sparse, balanced accounts x component rows, with
    ``A_ @ value == -residual``), ``constraint_labels_`` and ``data_`` (the validated rows).
    """

    def __init__(self, source: str = "components"):
        self.source = source

    def fit(self, df: pd.DataFrame) -> "PopulationAccounts":
        data, keys = validate_components(df, self.source)
        self.keys_, self.data_ = keys, data
        kcols = keys
        comp = data["component"].to_numpy()
        vals = data["value"].to_numpy(float)
        # one long table of (keys, group, column, amount)
        parts = []
        base = data[kcols].copy() if kcols else pd.DataFrame(index=data.index)
        nontr = comp != "transition"
        parts.append(base[nontr].assign(group=data["group"][nontr], col=comp[nontr],
                                        amount=vals[nontr]))
        tr = ~nontr
        parts.append(base[tr].assign(group=data["group"][tr], col="transitions_out",
                                     amount=vals[tr]))
        parts.append(base[tr].assign(group=data["to_group"][tr], col="transitions_in",
                                     amount=vals[tr]))
        long = pd.concat(parts, ignore_index=True)
        wide = long.pivot_table(index=[*kcols, "group"], columns="col", values="amount",
                                aggfunc="sum", observed=True)
        for c in ("opening", "births", "deaths", "immigration", "emigration",
                  "transitions_in", "transitions_out", "closing"):
            if c not in wide.columns:
                wide[c] = np.nan
        flows = ["births", "deaths", "immigration", "emigration", "transitions_in",
                 "transitions_out"]
        wide[flows] = wide[flows].fillna(0.0)
        acc = wide.reset_index()
        acc["group"] = pd.Categorical(acc["group"], categories=SUBPOPULATIONS, ordered=True)
        acc = acc.sort_values([*kcols, "group"], kind="stable").reset_index(drop=True)
        acc["group"] = acc["group"].astype(str)
        acc["closing_accounted"] = (acc["opening"] + acc["births"] + acc["immigration"]
                                    - acc["deaths"] - acc["emigration"]
                                    + acc["transitions_in"] - acc["transitions_out"])
        acc["closing_observed"] = acc["closing"]
        acc["residual"] = acc["closing_observed"] - acc["closing_accounted"]
        acc = acc[[*kcols, *ACCOUNT_COLUMNS]]
        self.accounts_ = acc
        # constraint matrix over the component rows, for balanced-checkable accounts
        ok = acc["closing_observed"].notna() & acc["opening"].notna()
        acc_keys = [tuple(r) for r in acc.loc[ok, [*kcols, "group"]].itertuples(index=False)]
        idx = acc.loc[ok, [*kcols, "group"]].reset_index(drop=True)
        idx["_acc"] = np.arange(len(idx))
        rows = np.arange(len(data))
        coef = pd.Series(comp).map(_SIGN).fillna(-1.0).to_numpy(float)  # transition: -1
        ri, ci, vv = [], [], []
        for gcol, sign in (("group", None), ("to_group", 1.0)):
            look = data[kcols].assign(group=data[gcol].to_numpy(), _row=rows)
            if gcol == "to_group":
                look = look[comp == "transition"]
            hit = look.merge(idx, on=[*kcols, "group"], how="inner")
            r = hit["_row"].to_numpy()
            ri.append(hit["_acc"].to_numpy())
            ci.append(r)
            vv.append(coef[r] if sign is None else np.full(len(r), sign))
        self.A_ = csr_matrix((np.concatenate(vv), (np.concatenate(ri), np.concatenate(ci))),
                             shape=(len(acc_keys), len(data)))
        self.constraint_labels_ = [_label(kcols, k[:-1], k[-1]) for k in acc_keys]
        self.constraint_keys_ = acc_keys
        return self


class GLSReconciliation:
    """Weighted least-squares reconciliation of values under linear constraints A x = 0.

    Minimises sum (x - x0)^2 / variance (variance 0 = fixed) subject to A x = 0:
    x = x0 - V A' (A V A')^+ A x0 (Stone, Champernowne & Meade 1942), per independent
    block of constraints.  ``fit(x0, variances, A, labels)`` sets ``reconciled_``,
    ``adjustment_`` and ``max_violation_`` (largest |A x| after reconciliation).  A
    constraint whose variables are all fixed and which does not hold, or any constraint
    left violated, is a MiglinkError naming it (its label).
    """

    def __init__(self, tol: float = 1e-9):
        self.tol = tol

    def fit(self, x0, variances, A, labels) -> "GLSReconciliation":
        x0 = np.asarray(x0, float)
        v = np.asarray(variances, float)
        A = A.tocsr() if issparse(A) else csr_matrix(np.asarray(A, float).reshape(-1, x0.size))
        scale = max(1.0, float(np.abs(x0).max()) if x0.size else 1.0)
        r0 = A @ x0
        n_free = abs(A) @ (v > 0).astype(float)
        bad = (n_free == 0) & (np.abs(r0) > self.tol * scale)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise MiglinkError(f"account {labels[i]} cannot be balanced: all its components "
                               f"are fixed (variance 0) and its residual is {-r0[i]:g}")
        x = x0.copy()
        n_c = A.shape[0]
        if n_c:
            # independent blocks: constraints connected through shared variables
            S = (abs(A) > 0).astype(float)
            nb, lab = connected_components(S @ S.T, directed=False)
            order = np.argsort(lab, kind="stable")
            bounds = np.searchsorted(lab[order], np.arange(nb + 1))
            for b in range(nb):  # per block of accounts (a few rows each), not per person
                rows = order[bounds[b]:bounds[b + 1]]
                sub = A[rows]
                cols = np.unique(sub.indices)
                Ab = sub[:, cols].toarray()
                Vb = v[cols]
                xb = x0[cols].copy()
                M = (Ab * Vb) @ Ab.T
                for _ in range(3):  # solve + iterative refinement
                    r = Ab @ xb
                    if np.abs(r).max() <= self.tol * scale * 1e-3:
                        break
                    lam = np.linalg.lstsq(M, r, rcond=None)[0]
                    xb = xb - Vb * (Ab.T @ lam)
                x[cols] = xb
        viol = np.abs(A @ x) if n_c else np.zeros(0)
        if viol.size and viol.max() > self.tol * scale:
            i = int(np.argmax(viol))
            raise MiglinkError(f"account {labels[i]} cannot be balanced with the given "
                               f"variances (the fixed components it shares with other "
                               f"accounts contradict each other); residual left "
                               f"{viol[i]:g}")
        self.reconciled_ = x
        self.adjustment_ = x - x0
        self.max_violation_ = float(viol.max()) if viol.size else 0.0
        return self


def reconcile(pa: PopulationAccounts, variances: pd.DataFrame,
              source: str = "variances") -> pd.DataFrame:
    """Reconciled components: the component rows with value, reconciled, adjustment."""
    data, keys = pa.data_, pa.keys_
    var = _with_to_group(variances, ("component", "group", "variance", *keys), source)
    var["variance"] = _numbers(var, "variance", source)
    ident = ["component", "group", "to_group", *keys]
    var["_vrow"] = np.arange(1, len(var) + 1)
    dup = var.duplicated(ident)
    if dup.any():
        raise MiglinkError("duplicate variance for the same component, group, to_group and "
                           "keys", file=str(source), row=int(np.flatnonzero(dup)[0]) + 1,
                           column="variance")
    left = data[ident].astype(str).assign(_crow=np.arange(1, len(data) + 1))
    m = left.merge(var[ident + ["variance", "_vrow"]].astype({k: str for k in ident}),
                   on=ident, how="outer", indicator=True)
    extra = m[m["_merge"] == "right_only"]
    if len(extra):
        r = int(extra["_vrow"].min())
        raise MiglinkError("variance for a component row that is not in the components "
                           "file", file=str(source), row=r, column="component")
    missing = m[m["_merge"] == "left_only"]
    if len(missing):
        r = int(missing["_crow"].min())
        row = data.iloc[r - 1]
        raise MiglinkError(f"no variance for components row {r} (component={row['component']}"
                           f", group={row['group']})", file=str(source), column="variance")
    m = m.sort_values("_crow")
    gls = GLSReconciliation().fit(data["value"].to_numpy(float), m["variance"].to_numpy(float),
                                  pa.A_, pa.constraint_labels_)
    out = data.copy()
    out["reconciled"] = gls.reconciled_
    out["adjustment"] = gls.adjustment_
    return out


def _intlike(df: pd.DataFrame, cols) -> pd.DataFrame:
    vals = df[list(cols)]
    finite = vals.to_numpy(float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0 or np.all(finite == np.round(finite)):
        df = df.copy()
        for c in cols:
            df[c] = df[c].round().astype("Int64")
    return df


def accounts_command(args) -> int:
    """``miglink accounts COMPONENTS --out DIR [--variances FILE]`` (DESIGN.md)."""
    src = args.components
    pa = PopulationAccounts(source=src).fit(_read_csv(src))
    out = Path(args.out)
    acc = _intlike(pa.accounts_, ACCOUNT_COLUMNS[1:])
    rec = None
    if getattr(args, "variances", None):
        rec = reconcile(pa, _read_csv(args.variances), source=args.variances)
    write_df_csv(out / "accounts.csv", acc)
    if rec is not None:
        cols = [c for c in pa.data_.columns if c != "value"] + ["value", "reconciled",
                                                                "adjustment"]
        write_df_csv(out / "reconciled.csv", rec[cols])
    n_bad = int((pa.accounts_["residual"].abs() > 1e-9).sum())
    neg = "" if rec is None else (
        f" ({int((rec['reconciled'] < 0).sum())} reconciled values are negative: weighted "
        f"least squares does not constrain signs; give them smaller variances)"
        if (rec["reconciled"] < 0).any() else "")
    print(f"accounts: {len(acc)} accounts, {n_bad} with a non-zero residual -> "
          f"{out / 'accounts.csv'}" + (f"; reconciled -> {out / 'reconciled.csv'}{neg}"
                                       if rec is not None else ""))
    return 0
