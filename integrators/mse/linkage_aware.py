"""Linkage-aware MSE: carry record-linkage uncertainty into the interval.

Capture histories come from linking the lists; a wrong link merges two persons (too few
observed, too much overlap) and a missed link splits one (too many, too little overlap) —
both bias the overlap counts MSE relies on. Given the pairwise match probabilities between
list records, each draw accepts every candidate pair independently with its probability,
forms persons as connected components (scipy.sparse.csgraph), rebuilds the capture
histories, and re-runs the whole estimation (model choice included). As in multiple
imputation (Rubin 1987), the between-draw variance B of the estimates is added to the
within-linkage uncertainty: each half-width h of the interval of the base linkage (pairs with
probability ≥ ``threshold``) becomes sqrt(h² + z²(1 + 1/D)·B).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from linkage.errors import MiglinkError

from .design import CaptureTable
from .estimate import MSEstimator


class LinkedLists:
    """Records of the lists and scored candidate pairs between them.

    ``records``: columns ``list`` and ``record_id``; ``pairs``: ``list_l, record_id_l, list_r,
    record_id_r, match_probability`` (pairs within one list are allowed: duplicates).
    Records of other sources (``list`` not in ``lists``) are kept as bridges: two list
    records linked only through, say, a border record are one person in a draw that accepts
    both links; such records put nobody on a list themselves."""

    def __init__(self, records: pd.DataFrame, pairs: pd.DataFrame, lists: list[str]):
        self.lists = list(lists)
        rec = records.reset_index(drop=True)
        if not rec["list"].isin(self.lists).any():
            raise MiglinkError("linkage-aware MSE: no records on the lists")
        key = pd.MultiIndex.from_arrays([rec["list"].astype(str), rec["record_id"].astype(str)])
        if key.has_duplicates:
            raise MiglinkError("linkage-aware MSE: duplicate (list, record_id) in records")
        self.n_records = len(rec)
        self.list_code = pd.Categorical(rec["list"], categories=self.lists).codes.astype(np.int64)
        left = key.get_indexer(pd.MultiIndex.from_arrays(
            [pairs["list_l"].astype(str), pairs["record_id_l"].astype(str)]))
        right = key.get_indexer(pd.MultiIndex.from_arrays(
            [pairs["list_r"].astype(str), pairs["record_id_r"].astype(str)]))
        ok = (left >= 0) & (right >= 0)
        self.left, self.right = left[ok], right[ok]
        self.prob = np.clip(pairs["match_probability"].to_numpy(dtype=float)[ok], 0, 1)

    def table(self, accept: np.ndarray) -> CaptureTable:
        """Capture table when the pairs in ``accept`` (bool mask) are links."""
        n = self.n_records
        g = coo_matrix((np.ones(int(accept.sum())), (self.left[accept], self.right[accept])),
                       shape=(n, n))
        ncomp, comp = connected_components(g, directed=False)
        member = np.zeros((ncomp, len(self.lists)), dtype=bool)
        on_list = self.list_code >= 0   # bridges (-1) put nobody on a list
        member[comp[on_list], self.list_code[on_list]] = True
        bits = (member.astype(np.int64) << np.arange(len(self.lists))).sum(axis=1)
        y = np.bincount(bits, minlength=2 ** len(self.lists))[1:]
        return CaptureTable(self.lists, y)


def linkage_aware_estimate(records: pd.DataFrame, pairs: pd.DataFrame, lists: list[str], *,
                           draws: int = 100, threshold: float = 0.5, seed: int = 1,
                           **options) -> dict:
    """mse.json-shaped dict whose interval includes linkage uncertainty (see module doc).

    ``options`` go to :class:`MSEstimator` (method, terms, ci, ci_level, ...)."""
    if draws < 2:
        raise MiglinkError("linkage-aware MSE needs at least 2 draws")
    ll = LinkedLists(records, pairs, lists)
    base_est = MSEstimator(seed=seed, **options)
    base = dict(base_est.fit(ll.table(ll.prob >= threshold)).result_)
    rng = np.random.default_rng(seed)
    est = []
    point = MSEstimator(seed=seed, **{**options, "ci": "wald"})
    for _ in range(draws):
        accept = rng.random(len(ll.prob)) < ll.prob
        try:
            est.append(point.fit(ll.table(accept)).result_["estimate"])
        except MiglinkError:
            est.append(np.nan)
    est = np.asarray(est, dtype=float)
    good = est[np.isfinite(est)]
    B = float(np.var(good, ddof=1)) if len(good) > 1 else 0.0
    level = base["ci_level"]
    z = stats.norm.ppf(0.5 + level / 2)
    extra = z * z * (1 + 1 / draws) * B
    N = base["estimate"]
    lo0, hi0 = base["ci_low"], base["ci_high"]
    base["ci_low"] = max(0.0, N - np.sqrt((N - lo0) ** 2 + extra))
    base["ci_high"] = N + np.sqrt((hi0 - N) ** 2 + extra)
    base["se"] = float(np.sqrt(base["se"] ** 2 + (1 + 1 / draws) * B))
    base["ci_method"] = f"{base['ci_method']}+linkage"
    base["linkage"] = {
        "draws": draws, "failed_draws": int(np.sum(~np.isfinite(est))), "seed": seed,
        "threshold": threshold, "between_draw_sd": float(np.sqrt(B)),
        "draw_median": float(np.median(good)) if len(good) else None,
        "draw_quantiles": [float(q) for q in np.quantile(good, [0.025, 0.975])]
        if len(good) else None,
        "ci_low_given_linkage": lo0, "ci_high_given_linkage": hi0,
    }
    return base
