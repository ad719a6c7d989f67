"""``miglink mse COUNTS --out FILE …`` (DESIGN.md, "Command line" and "MSE").

COUNTS is a CSV with one 0/1 column per list (the header is the list's name), a ``count``
column and optional strata columns (``--strata``); one row per observed capture pattern
(repeated patterns are summed). Every problem is a one-line error naming file, row (1-based
data row, header not counted) and column. The result is written atomically to ``--out``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from linkage.errors import MiglinkError
from linkage.io import write_json

from .estimate import estimate_counts

COUNT = "count"


def read_counts(path: str | Path, strata: list[str] | None = None):
    """Read and validate a COUNTS CSV; returns (frame with int lists and float count, lists)."""
    path = Path(path)
    name = str(path)
    if not path.exists():
        raise MiglinkError("file not found", file=name)
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MiglinkError(f"cannot read CSV: {' '.join(str(exc).split())}", file=name) from None
    df.columns = [str(c).strip() for c in df.columns]
    if COUNT not in df.columns:
        raise MiglinkError(f"no {COUNT!r} column (columns: {', '.join(df.columns)})", file=name)
    strata = list(strata or [])
    for s in strata:
        if s not in df.columns:
            raise MiglinkError("--strata names a column that is not in the file", file=name,
                               column=s)
        if s == COUNT:
            raise MiglinkError("the count column cannot be a stratum", file=name, column=s)
    lists = [c for c in df.columns if c != COUNT and c not in strata]
    if len(lists) < 2:
        raise MiglinkError(f"MSE needs at least 2 list columns, found {len(lists)}"
                           f"{' (' + ', '.join(lists) + ')' if lists else ''}", file=name)
    if len(set(lists)) != len(lists):
        raise MiglinkError("duplicate list column names", file=name)
    if df.empty:
        raise MiglinkError("no data rows", file=name)
    rows = np.arange(1, len(df) + 1)
    out = pd.DataFrame(index=df.index)
    for c in lists:
        v = df[c].str.strip()
        ok = v.isin(["0", "1"])
        if not ok.all():
            i = int(np.flatnonzero(~ok.to_numpy())[0])
            raise MiglinkError(f"value {df[c].iloc[i]!r} is not 0 or 1", file=name,
                               row=int(rows[i]), column=c)
        out[c] = (v == "1").astype(np.int64)
    cnt = pd.to_numeric(df[COUNT].str.strip(), errors="coerce")
    bad = cnt.isna() | ~np.isfinite(cnt) | (cnt != np.round(cnt))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise MiglinkError(f"count {df[COUNT].iloc[i]!r} is not a whole number", file=name,
                           row=int(rows[i]), column=COUNT)
    neg = cnt < 0
    if neg.any():
        i = int(np.flatnonzero(neg.to_numpy())[0])
        raise MiglinkError(f"count {df[COUNT].iloc[i]!r} is negative", file=name,
                           row=int(rows[i]), column=COUNT)
    zero_row = out[lists].sum(axis=1).to_numpy() == 0
    if zero_row.any():
        i = int(np.flatnonzero(zero_row)[0])
        raise MiglinkError("all list columns are 0: the unobserved pattern cannot be counted",
                           file=name, row=int(rows[i]), column=lists[0])
    out[COUNT] = cnt.astype(float)
    for s in strata:
        out[s] = df[s].str.strip()
    return out, lists


def mse_command(args) -> int:
    """Handler for ``miglink mse`` (arguments parsed in integrators/cli.py)."""
    df, lists = read_counts(args.counts, args.strata)
    options = dict(method=args.method or "stepwise", terms=args.terms, pthresh=args.pthresh,
                   max_order=args.max_order, ci=args.ci, ci_level=args.ci_level,
                   bootstrap=args.bootstrap, seed=args.seed)
    if (args.method == "bic") and not args.terms:
        from .design import count_hierarchical_models
        from .selection import MAX_MODELS
        n_models = count_hierarchical_models(len(lists), args.max_order, MAX_MODELS)
        if n_models and n_models > 1000:
            print(f"mse: bic over {n_models:,} hierarchical models"
                  f"{' per stratum' if args.strata else ''}…", file=sys.stderr)
    if args.ci == "bca":
        print(f"mse: bootstrap, {args.bootstrap} replicates with the selection repeated…",
              file=sys.stderr)
    result = estimate_counts(df, lists, strata=args.strata, source=str(args.counts), **options)
    write_json(args.out, result)
    def f(x):
        return "n/a" if x is None else f"{x:.1f}"
    print(f"mse: N = {f(result['estimate'])} ({result['ci_method']} "
          f"{result['ci_level']:.0%} interval {f(result['ci_low'])}–{f(result['ci_high'])}); "
          f"wrote {args.out}",
          file=sys.stderr)
    return 0
