"""MSE end to end: model choice, estimate, interval, strata — the ``mse.json`` object.

``MSEstimator(method=..., ci=...).fit(table)`` gives ``result_`` (the dict written as
mse.json, DESIGN.md "MSE"). Strata are fitted separately; the total is the sum of the strata
estimates with the interval by the method's own rule for sums:
- ``profile`` and ``wald``: Wald on the sum, total ± z·sqrt(Σ se_s²), the lower limit kept ≥ n
  (the strata are independent; a profile likelihood of the sum would need a joint fit);
- ``bca``: BCa from the sums of stratified bootstrap replicates (replicate b of every stratum
  summed), acceleration from the jackknife of the total;
- ``lcmcr``: sums of posterior draws, equal-tailed credible interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from linkage.errors import EstimateDoesNotExist, MiglinkError

from .bootstrap import Bootstrap
from .design import CaptureTable, Model, term_names
from .intervals import ProfileLikelihood, wald_interval
from .selection import DEFAULT_PTHRESH, METHODS, Selection, fixed, select
from .twolist import TwoListEstimate

CI_METHODS = ("profile", "wald", "bca")


def _num(x):
    if x is None:
        return None
    x = float(x)
    return x if np.isfinite(x) else None


def _count(x: float):
    """Observed counts as int when whole (they are, unless a caller passes weights)."""
    return int(round(x)) if float(x).is_integer() else float(x)


class MSEstimator:
    """Log-linear MSE with model choice and an interval.

    Parameters mirror ``miglink mse``: ``method`` (one of ``METHODS``, or ``"lcmcr"`` for the
    Bayesian latent-class model), ``terms`` (a fixed model: "A:B,B:C" or a model tuple; wins
    over ``method``), ``pthresh``, ``max_order``, ``ci`` (profile | wald | bca), ``ci_level``,
    ``bootstrap`` (replicates), ``seed``. After ``fit(table)``: ``result_`` (mse.json dict),
    ``selection_``, ``bootstrap_`` (bca only)."""

    def __init__(self, method: str | None = "stepwise", terms=None, pthresh: float | None = None,
                 max_order: int = 2, ci: str = "profile", ci_level: float = 0.95,
                 bootstrap: int = 1000, seed: int = 1, lcmcr_options: dict | None = None):
        if terms is None and method not in METHODS + ("lcmcr",):
            raise MiglinkError(f"unknown MSE method {method!r} "
                               f"(one of {', '.join(METHODS + ('lcmcr',))})")
        if ci not in CI_METHODS:
            raise MiglinkError(f"unknown interval method {ci!r} (one of {', '.join(CI_METHODS)})")
        if not 0 < ci_level < 1:
            raise MiglinkError(f"--ci-level must be between 0 and 1, got {ci_level}")
        if max_order < 1:
            raise MiglinkError(f"--max-order must be at least 1, got {max_order}")
        if pthresh is not None and not 0 < pthresh < 1:
            raise MiglinkError(f"--pthresh must be between 0 and 1, got {pthresh}")
        if bootstrap < 10:
            raise MiglinkError(f"--bootstrap must be at least 10, got {bootstrap}")
        self.method = "fixed" if terms is not None else (method or "stepwise")
        self.terms, self.pthresh, self.max_order = terms, pthresh, max_order
        self.ci, self.ci_level, self.bootstrap, self.seed = ci, ci_level, bootstrap, seed
        self.lcmcr_options = lcmcr_options or {}
        self.source = None           # file name for error messages

    # -- selection ---------------------------------------------------------------------------
    def _model(self, table: CaptureTable) -> Model:
        if isinstance(self.terms, str):
            return table.parse_terms(self.terms, file=self.source)
        terms = list(self.terms)
        if all(isinstance(t, str) for t in terms):          # e.g. YAML ["A:B", "B:C"]
            return table.parse_terms(",".join(terms), file=self.source)
        return tuple(terms)

    def select(self, table: CaptureTable, record: bool = True) -> Selection:
        if self.method == "fixed":
            sel = fixed(table, self._model(table))
            if not sel.fit.ok:
                raise EstimateDoesNotExist(
                    f"model {sel.fit.r_string} ({', '.join(sel.fit.generating_class) or 'main'})"
                    f" has no estimate: {sel.fit.reason()}", file=self.source)
            return sel
        return select(table, self.method, pthresh=self.pthresh, max_order=self.max_order,
                      record=record)

    def _point(self, table: CaptureTable) -> float:
        return self.select(table, record=False).fit.estimate

    # -- fit ---------------------------------------------------------------------------------
    def fit(self, table: CaptureTable, rng: np.random.Generator | None = None) -> "MSEstimator":
        if self.method == "lcmcr":
            from .lcmcr import LCMCR
            m = LCMCR(seed=self.seed, **self.lcmcr_options).fit(table, level=self.ci_level)
            self.result_ = m.result()
            self.draws_ = m.draws_
            return self
        sel = self.select(table)
        f = sel.fit
        self.selection_ = sel
        out = {
            "lists": list(table.lists),
            "observed": _count(table.n),
            "method": self.method,
            "model": f.generating_class,
            "model_r": f.r_string,
            "neg_inf_terms": [term_names(t, table.lists) for t in f.neg_inf_terms],
            "estimate": _num(f.estimate),
            "se": _num(f.se),
            "unobserved": _num(f.unobserved),
        }
        if self.method in DEFAULT_PTHRESH:
            out["pthresh"] = self.pthresh if self.pthresh is not None else \
                DEFAULT_PTHRESH[self.method]
        if self.method in ("bic", "downhill"):
            out["max_order"] = self.max_order
        pl = ProfileLikelihood(f)
        if self.ci == "profile":
            lo, hi, nmax = pl.interval(self.ci_level)
            out["profile_max"] = _num(nmax)
        elif self.ci == "wald":
            lo, hi = wald_interval(f, self.ci_level)
        else:
            rng = rng if rng is not None else np.random.default_rng(self.seed)
            bs = Bootstrap(self._point, self.bootstrap, rng).run(table)
            lo, hi = bs.interval(f.estimate, self.ci_level)
            self.bootstrap_ = bs
            out["bootstrap"] = {"replicates": self.bootstrap, "seed": self.seed,
                                "failed": bs.failed_}
        out.update({
            "ci_low": _num(lo), "ci_high": _num(hi), "ci_method": self.ci,
            "ci_level": self.ci_level,
            "deviance": _num(f.deviance), "df": f.df, "aic": _num(f.aic), "bic": _num(f.bic),
        })
        if table.k == 2:
            c = table.counts                       # patterns 01 (list 1), 10 (list 2), 11
            out["two_list"] = TwoListEstimate(c[0], c[1], c[2], self.ci_level).as_dict()
        out["models"] = [m.summary() for m in sel.tried]
        self.result_ = out
        return self


def estimate_table(table: CaptureTable, **options) -> dict:
    """mse.json dict for one capture table (see ``MSEstimator`` for the options)."""
    return MSEstimator(**options).fit(table).result_


def estimate_strata(tables: dict, by: list[str], *, source: str | None = None,
                    **options) -> dict:
    """mse.json dict for stratified tables ``{(value, ...): CaptureTable}`` (sorted keys)."""
    keys = sorted(tables, key=lambda k: tuple(str(v) for v in k))
    est = MSEstimator(**options)
    est.source = source
    seeds = np.random.SeedSequence(est.seed).spawn(len(keys))
    per, fits = [], []
    for key, ss in zip(keys, seeds):
        e = MSEstimator(**options)
        e.source = source
        try:
            e.fit(tables[key], rng=np.random.default_rng(ss))
        except MiglinkError as exc:
            label = ", ".join(f"{b}={v}" for b, v in zip(by, key))
            raise type(exc)(f"stratum {label}: {exc}") from None
        r = dict(e.result_)
        r["stratum"] = {b: (v.item() if hasattr(v, "item") else v) for b, v in zip(by, key)}
        per.append(r)
        fits.append(e)
    lists = per[0]["lists"]
    n = sum(r["observed"] for r in per)
    total = sum(r["estimate"] for r in per)
    level = est.ci_level
    z = stats.norm.ppf(0.5 + level / 2)
    out = {"lists": lists, "observed": _count(n), "method": est.method, "strata_by": list(by),
           "model": None, "neg_inf_terms": [], "estimate": total}
    if est.method == "lcmcr":
        draws = np.sum([e.draws_ for e in fits], axis=0)
        lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
        se = float(np.std(draws, ddof=1))
        out["estimate"] = float(np.median(draws))
        out["rule_for_sum"] = "sum of posterior draws, equal-tailed credible interval"
    elif est.ci == "bca":
        reps = np.sum([e.bootstrap_.replicates_ for e in fits], axis=0)
        jack, w = [], []
        for e, r in zip(fits, per):
            jack.append(total - r["estimate"] + e.bootstrap_.jackknife_)
            w.append(e.bootstrap_.jack_weights_)
        from .intervals import bca_interval
        lo, hi = bca_interval(total, reps, np.concatenate(jack), np.concatenate(w), level)
        se = float(np.nanstd(reps, ddof=1))
        out["rule_for_sum"] = "BCa on the sums of stratified bootstrap replicates"
    else:
        se = float(np.sqrt(sum(r["se"] ** 2 for r in per)))
        lo, hi = max(n, total - z * se), total + z * se
        out["rule_for_sum"] = "Wald on the sum: total ± z·sqrt(sum of squared stratum SEs)"
    out.update({
        "se": _num(se), "unobserved": _num(out["estimate"] - n), "ci_low": _num(lo),
        "ci_high": _num(hi), "ci_method": est.ci if est.method != "lcmcr" else "posterior",
        "ci_level": level,
        "deviance": _num(sum(r["deviance"] or 0 for r in per)) if est.method != "lcmcr" else None,
        "df": sum(r["df"] or 0 for r in per) if est.method != "lcmcr" else None,
        "aic": _num(sum(r["aic"] or 0 for r in per)) if est.method != "lcmcr" else None,
        "bic": None, "models": [], "strata": per,
    })
    return out


def tables_from_counts(df: pd.DataFrame, lists: list[str], count: str = "count",
                       strata: list[str] | None = None) -> dict:
    """{stratum key tuple: CaptureTable} from a pattern-count frame (patterns summed)."""
    k = len(lists)
    bits = (df[lists].to_numpy(dtype=np.int64) << np.arange(k)).sum(axis=1)
    work = pd.DataFrame({"_p": bits, "_n": df[count].to_numpy(dtype=float)})
    by = list(strata or [])
    for b in by:
        work[b] = df[b].to_numpy()
    out = {}
    groups = work.groupby(by, sort=True, dropna=False) if by else [((), work)]
    for key, g in groups:
        y = np.bincount(g["_p"].to_numpy(), weights=g["_n"].to_numpy(), minlength=2 ** k)[1:]
        key = key if isinstance(key, tuple) else (key,)
        out[key] = CaptureTable(list(lists), y)
    return out


def estimate_counts(df: pd.DataFrame, lists: list[str], *, count: str = "count",
                    strata: list[str] | None = None, source: str | None = None,
                    **options) -> dict:
    """mse.json dict from a validated pattern-count frame."""
    tables = tables_from_counts(df, lists, count, strata)
    if strata:
        return estimate_strata(tables, list(strata), source=source, **options)
    est = MSEstimator(**options)
    est.source = source
    return est.fit(tables[()]).result_


def estimate_from_histories(df_histories: pd.DataFrame, lists: list[str],
                            strata: list[str] | None = None, method: str = "stepwise",
                            **options) -> dict:
    """Pipeline API: one row per person with a 0/1 column per list (persons on no list are
    ignored); returns the mse.json dict. ``method`` may also be ``"lcmcr"``."""
    from .histories import counts_from_histories
    counts = counts_from_histories(df_histories, lists, strata)
    return estimate_counts(counts, lists, strata=strata, method=method, **options)
