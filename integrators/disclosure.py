"""Statistical disclosure control for every published table.

Two methods, chosen by ``cfg.disclosure['method']``:

``suppress``
    Primary suppression of every cell with ``0 < value < threshold`` (a zero identifies
    nobody and is published, the usual convention of e.g. tau-ARGUS), then secondary
    (complementary) suppression so that no suppressed cell can be recovered exactly from
    the published cells and the table's additive relations (row and column totals,
    nested groups, accounting identities).  A table is described by its cell values ``x``
    and a matrix ``A`` of linear relations ``A @ x == 0``.  With the published cells known,
    a suppressed cell ``k`` is determined exactly iff every vector in the null space of
    ``A[:, S]`` (S = suppressed cells) is zero at ``k``; because only cells with a positive
    value are ever suppressed, any null-space direction can be followed a little both ways
    without a cell turning negative, so an undetermined cell stays undetermined under the
    non-negativity bounds as well.  The heuristic (deterministic): while some suppressed
    cell k is exposed (first in table order), solve the L1 problem "a direction d with
    A d = 0, d_k = 1, zero on zero or frozen cells, minimising sum (x_j + 1) |d_j| over
    published cells" (an LP, HiGHS) and suppress the published cells in d's support, the
    cheapest complement that leaves k undetermined (in 2-D: the cheapest cycle through k,
    the shortest-path heuristic of the SDC literature).  For a 2-D table
    with margins this implies the classic rule "every row and column with a suppressed cell
    has at least two".  Published cells that other tables share can be frozen.

``round``
    Unbiased random rounding to base ``b``: ``x = q*b + r`` becomes ``(q+1)*b`` with
    probability ``r/b`` and ``q*b`` otherwise (so E[rounded] = x); seeded, cell by cell
    (totals are rounded independently and need not add up).

``none``
    Publishes the counts as they are (for internal use only).

Tables never carry direct identifiers: :func:`check_no_identifiers` refuses names, birth
dates, document numbers, addresses and record or person ids as columns.
"""

from __future__ import annotations

import contextlib
import zlib
from typing import Callable, Sequence

import numpy as np
import pandas as pd
from scipy.linalg import eigh
from scipy.optimize import linprog

from linkage.errors import MiglinkError

METHODS = ("suppress", "round", "none")


def _one_blas_thread():
    """Small dense problems solved many times: one BLAS thread avoids oversubscription
    (much faster on a busy machine).  A no-op without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(1)

#: Columns that must never appear in a published table.
IDENTIFIER_COLUMNS = frozenset({
    "given_name", "family_name", "full_name", "birth_date", "document_number",
    "document_country", "address", "postcode", "person_id", "record_id", "true_id",
    "name", "dob",
})


def check_no_identifiers(df: pd.DataFrame, name: str = "table") -> None:
    """Raise MiglinkError when a published table carries a direct identifier column."""
    bad = sorted(set(map(str, df.columns)) & IDENTIFIER_COLUMNS)
    if bad:
        raise MiglinkError(f"table {name!r} would publish identifier column(s) "
                           f"{', '.join(bad)}; aggregate them away first")


def disclosure_settings(cfg) -> dict:
    """The ``disclosure`` settings of a config (or dict), validated, with defaults."""
    d = {"method": "suppress", "threshold": 5, "base": 3}
    src = getattr(cfg, "disclosure", cfg) if cfg is not None else None
    if isinstance(src, dict):
        d.update({k: v for k, v in src.items() if v is not None})
    if d["method"] not in METHODS:
        raise MiglinkError(f"disclosure method {d['method']!r} is not one of "
                           f"{', '.join(METHODS)}", column="disclosure.method")
    d["threshold"] = int(d["threshold"])
    d["base"] = int(d["base"])
    if d["base"] < 1:
        raise MiglinkError("disclosure base must be >= 1", column="disclosure.base")
    d["seed"] = int(getattr(cfg, "seed", 1) or 1) if cfg is not None else 1
    return d


def _solve_lp(c, A_eq, b_eq, upper):
    """min c'x s.t. A_eq x = b_eq, 0 <= x <= upper; the solution or None if infeasible.

    HiGHS through highspy (one thread, no scipy wrapper: ~3x faster for the many small
    LPs of secondary suppression), else scipy's linprog.
    """
    try:
        from highspy import _core as _hc
        h = _hc._Highs()
    except (ImportError, AttributeError):  # pragma: no cover - older/newer highspy
        res = linprog(c, A_eq=A_eq, b_eq=b_eq, bounds=list(zip(np.zeros(len(c)), upper)),
                      method="highs")
        return res.x if res.status == 0 else None
    from scipy.sparse import csc_matrix
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    M = csc_matrix(A_eq)
    lp = _hc.HighsLp()
    lp.num_col_, lp.num_row_ = A_eq.shape[1], A_eq.shape[0]
    lp.col_cost_ = np.asarray(c, float)
    lp.col_lower_ = np.zeros(A_eq.shape[1])
    lp.col_upper_ = np.where(np.isinf(upper), _hc.kHighsInf, upper)
    lp.row_lower_ = lp.row_upper_ = np.asarray(b_eq, float)
    lp.a_matrix_.format_ = _hc.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = M.indptr, M.indices, M.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = A_eq.shape[1], A_eq.shape[0]
    h.passModel(lp)
    h.run()
    if h.getModelStatus() != _hc.HighsModelStatus.kOptimal:
        return None
    return np.asarray(h.getSolution().col_value)


class CellSuppression:
    """Primary and secondary cell suppression for a table with linear relations.

    Parameters: ``threshold`` (cells with ``0 < x < threshold`` are sensitive).
    ``fit(values, A, frozen=None, forced=None, cost=None)``:
    ``A`` is ``(m, n)`` with ``A @ values == 0``; ``frozen`` cells keep their given state
    (published unless ``forced``) and are never chosen as complements (cells shared with
    another table already protected); ``forced`` cells are suppressed from the start;
    ``cost`` of suppressing each cell (default value + 1; raise it for totals).
    Results: ``suppressed_``, ``primary_``, ``secondary_`` (bool arrays) and
    ``unprotected_`` (indices of sensitive cells that could not be protected, e.g. when
    every other cell in their relations is zero; empty in normal tables).
    """

    def __init__(self, threshold: int = 5):
        self.threshold = threshold

    def _exposed(self, A: np.ndarray, S: np.ndarray) -> np.ndarray:
        """Indices (into the table) of suppressed cells determined by the relations."""
        idx = np.flatnonzero(S)
        if idx.size == 0:
            return idx
        sub = A[:, idx]
        sub = sub[np.any(sub != 0, axis=1)]
        if sub.shape[0] == 0:
            return np.empty(0, dtype=int)
        # null space of A_S from the eigenvectors of A_S' A_S with (numerically) zero
        # eigenvalues: cheaper than an SVD of A_S for tall relation matrices
        w, V = eigh(sub.T @ sub)
        N = V[:, w <= 1e-9 * max(1.0, float(w.max()))]
        if N.size == 0:
            return idx
        norms = np.sqrt((N * N).sum(axis=1))
        return idx[norms < 1e-7]

    def _complement(self, A, x, S, frozen, k, cost):
        """Cheapest set of published cells whose suppression leaves cell ``k`` undetermined.

        L1 problem (an LP): find d with A d = 0, d_k = 1, d_j = 0 on zero or frozen
        published cells, minimising sum cost_j |d_j| over published cells; the support of
        d among published cells is the complement.  Returns indices or None (infeasible).
        """
        n = x.size
        free = S | (~frozen & (x > 0))
        c = np.where(S, 0.0, cost)
        upper = np.where(free, np.inf, 0.0)
        A2 = np.hstack([A, -A])
        eq = np.zeros((1, 2 * n))
        eq[0, k], eq[0, n + k] = 1, -1
        d = _solve_lp(np.concatenate([c, c]), np.vstack([A2, eq]),
                      np.r_[np.zeros(len(A)), 1.0], np.concatenate([upper, upper]))
        if d is None:
            return None
        d = d[:n] - d[n:]
        return np.flatnonzero((np.abs(d) > 1e-9) & ~S)

    def fit(self, values, A, frozen=None, forced=None, cost=None) -> "CellSuppression":
        with _one_blas_thread():
            return self._fit(values, A, frozen, forced, cost)

    def _fit(self, values, A, frozen, forced, cost) -> "CellSuppression":
        x = np.asarray(values, dtype=float)
        A = np.asarray(A, dtype=float).reshape(-1, x.size)
        n = x.size
        frozen = np.zeros(n, bool) if frozen is None else np.asarray(frozen, bool)
        forced = np.zeros(n, bool) if forced is None else np.asarray(forced, bool)
        cost = x + 1.0 if cost is None else np.asarray(cost, float)
        primary = (x > 0) & (x < self.threshold) & ~frozen
        S = primary | forced
        unprotected: list[int] = []
        while True:
            exposed = [k for k in self._exposed(A, S) if k not in unprotected]
            if not exposed:
                break
            k = exposed[0]
            add = self._complement(A, x, S, frozen, k, cost)
            if add is None:
                unprotected.append(int(k))
                continue
            S[add] = True
        self.primary_ = primary | (forced & (x > 0) & (x < self.threshold))
        self.suppressed_ = S
        self.secondary_ = S & ~self.primary_
        self.unprotected_ = np.array(sorted(unprotected), dtype=int)
        return self


class RandomRounding:
    """Unbiased random rounding to multiples of ``base`` (seeded).

    ``x = q*base + r`` (0 <= r < base) is published as ``(q+1)*base`` with probability
    ``r/base``, else ``q*base``; multiples of ``base`` are unchanged.  ``fit_transform``
    returns the rounded values (float array; NaN stays NaN).
    """

    def __init__(self, base: int = 3, seed: int | Sequence[int] = 1):
        self.base = int(base)
        self.seed = seed

    def fit_transform(self, values) -> np.ndarray:
        x = np.asarray(values, dtype=float)
        rng = np.random.default_rng(self.seed)
        u = rng.random(x.shape)
        q = np.floor(x / self.base)
        r = x - q * self.base
        up = u < r / self.base
        self.rounded_ = (q + up) * self.base
        return self.rounded_


def margin_relations(n_rows: int, n_cols: int, row_totals: bool = True,
                     col_totals: bool = True) -> np.ndarray:
    """Relations of an ``(n_rows+1) x (n_cols+1)`` table whose last row/column are totals.

    Cells are numbered row-major over the full table including the total row and column
    (when absent, the corresponding row/column is still counted but left out of every
    relation).  Returns ``A`` with ``A @ cells == 0``.
    """
    R, C = n_rows + 1, n_cols + 1
    rows = []
    if row_totals:  # each row: interior sum - row total = 0
        for i in range(R if col_totals else n_rows):
            a = np.zeros(R * C)
            a[i * C: i * C + n_cols] = 1
            a[i * C + n_cols] = -1
            rows.append(a)
    if col_totals:
        for j in range(C if row_totals else n_cols):
            a = np.zeros(R * C)
            a[[i * C + j for i in range(n_rows)]] = 1
            a[n_rows * C + j] = -1
            rows.append(a)
    return np.array(rows).reshape(-1, R * C)


def protect_values(values, A, settings: dict, *, key: str = "", frozen=None,
                   forced=None) -> tuple[np.ndarray, np.ndarray]:
    """Apply the configured method to one table's cells.

    Returns ``(published, suppressed)``: published values (NaN where suppressed) and the
    suppression mask.  ``key`` names the table for the rounding seed, so the result does
    not depend on the order in which tables are processed.
    """
    x = np.asarray(values, dtype=float)
    method = settings["method"]
    if method == "suppress":
        fit = CellSuppression(settings["threshold"]).fit(x, A, frozen=frozen, forced=forced)
        out = np.where(fit.suppressed_, np.nan, x)
        return out, fit.suppressed_
    if method == "round":
        seed = [int(settings.get("seed", 1)), zlib.crc32(key.encode())]
        return RandomRounding(settings["base"], seed).fit_transform(x), np.zeros(x.size, bool)
    return x.copy(), np.zeros(x.size, bool)


def protect_frame(df: pd.DataFrame, settings: dict, *, by: Sequence[str],
                  relations: Callable[[pd.DataFrame], np.ndarray], value: str = "value",
                  name: str = "table") -> pd.DataFrame:
    """Protect a long table slice by slice.

    ``by``: the key columns that define independent slices; ``relations(slice)`` returns
    the relation matrix ``A`` over the slice's rows (in their order).  Adds a boolean
    column ``suppressed``; suppressed cells get a null ``value``.  Rounded values stay
    whole numbers.  Cells another table already published (the same count) are passed
    in the optional columns ``preset_suppressed`` (True/False, null = free) and
    ``preset_value`` (the published value): they keep that state and value and are never
    complements, so the two tables cannot be played against each other.
    """
    check_no_identifiers(df, name)
    df = df.reset_index(drop=True).copy()
    out = np.asarray(df[value], dtype=float).copy()
    sup = np.zeros(len(df), bool)
    has_preset = "preset_suppressed" in df.columns
    if has_preset:
        pre = df["preset_suppressed"]
        frozen_all = pre.notna().to_numpy()
        forced_all = (pre == True).to_numpy(dtype=bool)  # noqa: E712 (object column)
        pre_val = pd.to_numeric(df.get("preset_value"), errors="coerce").to_numpy(float) \
            if "preset_value" in df.columns else np.full(len(df), np.nan)
        df = df.drop(columns=[c for c in ("preset_suppressed", "preset_value")
                              if c in df.columns])
    if len(df):
        groups = (df.groupby(list(by), sort=True, dropna=False).indices if by
                  else {(): np.arange(len(df))})
        for gkey, idx in groups.items():
            idx = np.sort(idx)
            part = df.iloc[idx]
            A = relations(part) if settings["method"] == "suppress" else np.zeros((0, len(idx)))
            kw = {}
            if has_preset:
                kw = {"frozen": frozen_all[idx], "forced": forced_all[idx]}
            pub, s = protect_values(part[value].to_numpy(float), A, settings,
                                    key=f"{name}|{gkey}", **kw)
            out[idx] = pub
            sup[idx] = s
    if has_preset:  # shared cells: exactly as the other table published them
        keep = frozen_all & ~forced_all & ~np.isnan(pre_val)
        out[keep] = pre_val[keep]
        out[forced_all] = np.nan
        sup[forced_all] = True
    df[value] = pd.array(np.where(np.isnan(out), pd.NA, out), dtype="Float64")
    if settings["method"] != "none" and (df[value].dropna() % 1 == 0).all():
        df[value] = df[value].round().astype("Int64")
    df["suppressed"] = sup
    return df
