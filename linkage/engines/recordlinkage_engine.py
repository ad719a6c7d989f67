"""recordlinkage engine (``linkage.engine: recordlinkage``): in memory, same keys, same outputs.

Candidate pairs come from recordlinkage's ``Index`` blocking on the same keys as the Splink
model (every default rule is a conjunction of equalities, possibly across columns, as in
the given/family swap rule). ``Compare`` turns each pair into binary agreement features
(Jaro-Winkler ≥ 0.85 on folded names, phonetic and order-free name keys, exact birth-date
parts and the day/month swap, exact codes, document numbers). Without labels the
unsupervised ECM classifier (Fellegi-Sunter fitted by EM, de Bruin 2019, the
recordlinkage documentation) gives the match probability; with clerical labels a
``LogisticRegressionClassifier`` fitted on the labelled pairs does.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pandas as pd

from ..errors import MiglinkError
from ..model import ModelSpec

_EQ = re.compile(r"^\s*l\.(\w+)\s*=\s*r\.(\w+)\s*$")

#: feature name -> (kind, column); kinds: jw (≥0.85), exact
FEATURES: dict[str, tuple[str, str]] = {
    "given_jw": ("jw", "given_std"), "family_jw": ("jw", "family_std"),
    "given_phonetic": ("exact", "given_nysiis"), "family_phonetic": ("exact", "family_nysiis"),
    "name_key": ("exact", "name_key"),
    "birth_y": ("exact", "birth_y"), "birth_m": ("exact", "birth_m"),
    "birth_d": ("exact", "birth_d"), "sex": ("exact", "sex"),
    "citizenship": ("exact", "citizenship"), "birth_country": ("exact", "birth_country"),
    "document_number": ("exact", "doc"), "address": ("jw", "address_std"),
    "locality": ("jw", "locality_std"), "postcode": ("exact", "postcode_std"),
    "region": ("exact", "region_std"),
}


def parse_rule(rule: str) -> tuple[list[str], list[str]]:
    """``l.a = r.b AND l.c = r.d`` -> (["a", "c"], ["b", "d"]); anything else is an error."""
    left, right = [], []
    for part in re.split(r"\s+AND\s+", rule, flags=re.IGNORECASE):
        m = _EQ.match(part)
        if not m:
            raise MiglinkError(f"linkage.blocking_rules: {rule!r} — the recordlinkage engine "
                               "takes only equalities l.col = r.col joined by AND")
        left.append(m.group(1))
        right.append(m.group(2))
    return left, right


class RecordLinkageEngine:
    """Score pairs of ``table`` (rows of ``linkage_keys``) with recordlinkage.

    Attributes after :meth:`fit`: ``pairs_`` (MultiIndex of rid pairs), ``features_``,
    ``classifier_``, ``supervised_`` (bool), ``trained_``.
    """

    def __init__(self, spec: ModelSpec, seed: int = 1, jw_threshold: float = 0.85):
        self.spec, self.seed, self.jw_threshold = spec, seed, jw_threshold

    def _candidates(self, df: pd.DataFrame) -> pd.MultiIndex:
        import recordlinkage as rl

        parts = []
        for rule in self.spec.blocking_rules:
            left, right = parse_rule(rule)
            sub = df.dropna(subset=sorted(set(left) | set(right)))
            if len(sub) < 2:
                continue
            idx = rl.Index()
            if left == right:
                idx.block(left_on=left)
                pairs = idx.index(sub)
            else:
                idx.block(left_on=left, right_on=right)
                pairs = idx.index(sub, sub)
            a = pairs.get_level_values(0).to_numpy()
            b = pairs.get_level_values(1).to_numpy()
            keep = a != b
            parts.append(np.column_stack([np.minimum(a, b)[keep], np.maximum(a, b)[keep]]))
        if not parts:
            return pd.MultiIndex.from_arrays([[], []], names=["rid_l", "rid_r"])
        allp = np.unique(np.vstack(parts), axis=0)
        return pd.MultiIndex.from_arrays([allp[:, 0], allp[:, 1]], names=["rid_l", "rid_r"])

    def _features(self, df: pd.DataFrame, pairs: pd.MultiIndex) -> pd.DataFrame:
        import recordlinkage as rl

        cmp = rl.Compare()
        used = []
        for name, (kind, col) in FEATURES.items():
            if col not in df or df[col].isna().all():
                continue
            if kind == "jw":
                cmp.string(col, col, method="jarowinkler", threshold=self.jw_threshold,
                           label=name)
            else:
                cmp.exact(col, col, label=name)
            used.append(name)
        feats = cmp.compute(pairs, df) if len(pairs) else pd.DataFrame(
            columns=used, index=pairs)
        if {"birth_m", "birth_d"} <= set(feats.columns) and len(pairs):
            a = df.loc[pairs.get_level_values(0)]
            b = df.loc[pairs.get_level_values(1)]
            swap = ((a["birth_m"].to_numpy() == b["birth_d"].to_numpy())
                    & (a["birth_d"].to_numpy() == b["birth_m"].to_numpy())
                    & (a["birth_m"].to_numpy() != a["birth_d"].to_numpy()))
            feats["birth_swap"] = np.asarray(pd.array(swap, dtype="boolean").fillna(False),
                                             dtype=int)
        return feats.astype(int)

    def fit(self, con, table: str, labels: pd.DataFrame | None = None):
        import recordlinkage as rl

        df = con.execute(f"SELECT * EXCLUDE (name_tokens) FROM {table} ORDER BY rid").df()
        df = df.set_index("rid", drop=False)
        for c in ("birth_y", "birth_m", "birth_d"):
            if c in df:
                df[c] = df[c].astype("Int64").astype(object).where(df[c].notna(), None)
        self.pairs_ = self._candidates(df)
        self.features_ = self._features(df, self.pairs_)
        self.supervised_ = False
        self.trained_ = len(self.pairs_) > 0
        lab = None
        if labels is not None and len(labels):
            lab = labels.assign(a=np.minimum(labels.unique_id_l, labels.unique_id_r),
                                b=np.maximum(labels.unique_id_l, labels.unique_id_r))
        if lab is not None and lab["is_match"].nunique() == 2:
            idx = pd.MultiIndex.from_arrays([lab.a, lab.b])
            feats = self._features(df, idx)
            clf = rl.LogisticRegressionClassifier(C=100.0)
            clf.fit(feats, idx[lab["is_match"].to_numpy()])
            self.supervised_ = True
        else:
            clf = rl.ECMClassifier(binarize=None)
            if len(self.pairs_):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    clf.fit(self._training_features(df))
        self.classifier_ = clf
        return self

    def _training_features(self, df: pd.DataFrame) -> pd.DataFrame:
        """Blocked pairs plus as many random pairs (seeded): blocked pairs alone are
        mostly matches, and EM needs the non-matches to separate the two classes."""
        n = len(df)
        total = n * (n - 1) // 2
        k = int(min(total, max(len(self.pairs_), 2000)))
        rng = np.random.default_rng(self.seed)
        a = rng.integers(0, n, size=2 * k)
        b = rng.integers(0, n, size=2 * k)
        keep = a != b
        a, b = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
        rid = df["rid"].to_numpy()
        rnd = np.unique(np.column_stack([rid[a], rid[b]]), axis=0)[:k]
        idx = pd.MultiIndex.from_arrays([rnd[:, 0], rnd[:, 1]])
        feats = self._features(df, idx)
        return pd.concat([self.features_, feats], ignore_index=True)[self.features_.columns]

    def _prob(self, feats: pd.DataFrame) -> np.ndarray:
        """Match probability. ECM: the Fellegi-Sunter posterior from the fitted m, u and
        prior, with m and u kept inside [1e-6, 1 - 1e-6] (EM on separable data drives
        them to 0/1, which recordlinkage turns into NaN)."""
        clf = self.classifier_
        if self.supervised_:
            return np.clip(np.asarray(clf.prob(feats), dtype=float), 1e-12, 1 - 1e-12)
        eps = 1e-6
        prior = min(max(float(clf.p), eps), 1 - eps)
        logit = np.full(len(feats), math.log(prior / (1 - prior)))
        for f in feats.columns:
            m, u = clf.m_probs.get(f, {}), clf.u_probs.get(f, {})
            x = feats[f].to_numpy()
            for v in (0, 1):
                if v in m and v in u:
                    w = math.log(min(max(m[v], eps), 1 - eps) / min(max(u[v], eps), 1 - eps))
                    logit[x == v] += w
        return np.clip(1 / (1 + np.exp(-logit)), 1e-12, 1 - 1e-12)

    def predict(self, con, out: str, threshold: float = 0.0) -> int:
        if len(self.pairs_):
            p = self._prob(self.features_)
        else:
            p = np.array([], dtype=float)
        res = pd.DataFrame({"rid_l": self.pairs_.get_level_values(0).astype("int64"),
                            "rid_r": self.pairs_.get_level_values(1).astype("int64"),
                            "match_weight": np.log2(p / (1 - p)), "match_probability": p})
        for c in self.features_.columns:
            res[f"gamma_{c}"] = self.features_[c].to_numpy()
        res = res[res["match_probability"] >= threshold]
        con.register("__ml_rl_pred", res)
        con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM __ml_rl_pred "
                    "ORDER BY rid_l, rid_r")
        con.unregister("__ml_rl_pred")
        return len(res)

    def parameters(self) -> dict:
        clf = self.classifier_
        out = {"engine": "recordlinkage", "trained": self.trained_,
               "classifier": type(clf).__name__, "features": list(self.features_.columns)}
        if not self.supervised_ and self.trained_:
            out["probability_two_random_records_match"] = float(clf.p)
            m, u = clf.m_probs, clf.u_probs
            out["comparisons"] = [
                {"name": f, "levels": [
                    {"label": "agree" if v else "disagree",
                     "m_probability": float(m[f][v]), "u_probability": float(u[f][v]),
                     "match_weight": math.log2(m[f][v] / u[f][v])
                     if m[f][v] > 0 and u[f][v] > 0 else None}
                    for v in sorted(m[f])]} for f in m]
        elif self.supervised_:
            out["coefficients"] = dict(zip(self.features_.columns,
                                           map(float, clf.coefficients)))
            out["intercept"] = float(np.ravel([clf.intercept])[0])
        return out

    def artifacts(self) -> dict:
        return {}

    def comparison_levels(self) -> dict[str, dict[int, str]]:
        return {c: {1: "agree", 0: "disagree"} for c in self.features_.columns}
