"""Capture histories from linked data.

A capture history is a person's 0/1 membership of each list (after linkage, one row per
person). MSE needs only the counts of each observed pattern (per stratum).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from linkage.errors import MiglinkError


def counts_from_histories(df: pd.DataFrame, lists: list[str],
                          strata: list[str] | None = None) -> pd.DataFrame:
    """Pattern counts (``lists`` columns, strata columns, ``count``) from one row per person.

    Rows on no list are dropped (they cannot have been observed by the lists)."""
    by = list(strata or [])
    missing = [c for c in list(lists) + by if c not in df.columns]
    if missing:
        raise MiglinkError("capture histories lack a column", column=missing[0])
    h = df[list(lists)].fillna(0).astype(bool).astype(np.int8)
    seen = h.to_numpy().any(axis=1)
    work = h[seen].copy()
    for b in by:
        work[b] = df.loc[seen, b].to_numpy()
    out = (work.groupby(list(lists) + by, dropna=False, sort=True).size()
           .rename("count").reset_index())
    return out


def histories_from_clusters(clusters: pd.DataFrame, lists: list[str],
                            person: str = "person_id", source: str = "source") -> pd.DataFrame:
    """One row per person with a 0/1 column per list from (source, record_id, person_id)."""
    sub = clusters[clusters[source].isin(lists)]
    wide = pd.crosstab(sub[person], sub[source]).clip(upper=1)
    for name in lists:
        if name not in wide.columns:
            wide[name] = 0
    return wide[list(lists)].reset_index()
