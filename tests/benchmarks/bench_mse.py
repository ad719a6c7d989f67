"""MSE benchmarks (run on demand: python tests/benchmarks/bench_mse.py [--quick]).

1. SparseMSE stepwise on the UK 6-list table (target ≤ 2 s).
2. BCa bootstrap, 1,000 replicates with the stepwise selection repeated (target ≤ 30 s).
3. Interval coverage over many seeds on simulated heterogeneous lists (latent classes with
   list effects and a positive pairwise dependence), for stepwise/bic/main with profile
   intervals, and a few LCMCR runs. Prints coverage and median width.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

from integrators.mse.design import CaptureTable
from integrators.mse.estimate import estimate_table
from integrators.mse.lcmcr import LCMCR
from integrators.mse.selection import select

REF = Path("/work/shared/reference/mse/datasets.json")


def uk() -> CaptureTable:
    d = {x["name"]: x for x in json.loads(REF.read_text())}["UKdat"]
    return CaptureTable.from_dict(d["lists"], d["counts"])


def bench_stepwise(reps: int = 20):
    t = uk()
    t0 = time.perf_counter()
    for _ in range(reps):
        s = select(t.with_counts(t.counts), "stepwise")
    dt = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    s_main = select(t, "main")
    base = time.perf_counter() - t0
    print(f"stepwise UKdat (6 lists): {dt * 1000:.1f} ms per selection "
          f"(N = {s.fit.estimate:.1f}, {len(s.tried)} models); main-effects fit "
          f"{base * 1000:.2f} ms; ratio {dt / max(base, 1e-9):.1f}x")
    t0 = time.perf_counter()
    r = estimate_table(t)
    print(f"stepwise + profile interval, full mse.json: {time.perf_counter() - t0:.2f} s")
    return dt


def bench_bootstrap(B: int = 1000):
    out = {}
    for name, t in [("UKdat", uk()),
                    ("Korea", CaptureTable.from_dict(["b", "c", "d"], {
                        "001": 41, "010": 5, "100": 5, "101": 6, "110": 54, "111": 12}))]:
        t0 = time.perf_counter()
        r = estimate_table(t, ci="bca", bootstrap=B, seed=1)
        dt = time.perf_counter() - t0
        out[name] = dt
        print(f"BCa {B} replicates + jackknife, stepwise repeated, {name}: {dt:.1f} s "
              f"({B / dt:.0f} replicates/s); N = {r['estimate']:.1f} "
              f"[{r['ci_low']:.1f}, {r['ci_high']:.1f}], failed {r['bootstrap']['failed']}")
    return out


SCENARIOS = {
    "independent": dict(hetero=False, referral=0.0),
    "dependent 1->2": dict(hetero=False, referral=0.25),
    "heterogeneous+dep": dict(hetero=True, referral=0.25),
}


def simulate(N: int, rng: np.random.Generator, k: int = 4, hetero: bool = True,
             referral: float = 0.25) -> CaptureTable:
    """Simulated lists: list-specific capture rates; with ``hetero`` two latent classes (30%
    'visible' with 2.5x the capture probability); with ``referral`` a share of list-1 cases
    are passed to list 2 (positive pairwise dependence)."""
    base = np.array([0.12, 0.10, 0.15, 0.08, 0.11][:k])
    if hetero:
        visible = rng.random(N) < 0.3
        p = np.where(visible[:, None], np.minimum(base * 2.5, 0.9), base)
    else:
        p = np.broadcast_to(base * 1.45, (N, k))   # same mean rate as the mixture
    H = rng.random((N, k)) < p
    follow = rng.random(N) < referral
    H[:, 1] |= H[:, 0] & follow
    bits = (H.astype(np.int64) << np.arange(k)).sum(axis=1)
    return CaptureTable([f"L{i}" for i in range(k)], np.bincount(bits, minlength=2 ** k)[1:])


def _coverage(label, N, seeds, scen, **opts):
    cover, width, fails = 0, [], 0
    t0 = time.perf_counter()
    for s in range(seeds):
        t = simulate(N, np.random.default_rng(1000 + s), **scen)
        try:
            r = estimate_table(t, **opts)
        except Exception:                      # noqa: BLE001 - count and go on
            fails += 1
            continue
        cover += r["ci_low"] <= N <= r["ci_high"]
        width.append(r["ci_high"] - r["ci_low"])
    n_ok = seeds - fails
    print(f"  {label:28s}: {cover}/{n_ok} = {cover / max(n_ok, 1):.3f}, "
          f"median width {np.median(width):.0f}, {time.perf_counter() - t0:.1f} s")
    return cover / max(n_ok, 1)


def bench_coverage(seeds: int = 200, N: int = 2000, lcmcr_seeds: int = 20,
                   bca_seeds: int = 30):
    results = {}
    for name, scen in SCENARIOS.items():
        print(f"coverage of nominal 95% intervals, N = {N}, 4 lists, scenario {name}:")
        for method in ["stepwise", "bic", "main"]:
            results[(name, method)] = _coverage(f"{method} + profile", N, seeds, scen,
                                                method=method)
        results[(name, "bca")] = _coverage("stepwise + bca (200 reps)", N, bca_seeds, scen,
                                           method="stepwise", ci="bca", bootstrap=200)
        cover, width = 0, []
        t0 = time.perf_counter()
        for s in range(lcmcr_seeds):
            t = simulate(N, np.random.default_rng(1000 + s), **scen)
            m = LCMCR(burnin=1000, samples=2000, seed=s).fit(t)
            cover += m.ci_[0] <= N <= m.ci_[1]
            width.append(m.ci_[1] - m.ci_[0])
        results[(name, "lcmcr")] = cover / lcmcr_seeds
        print(f"  {'lcmcr credible':28s}: {cover}/{lcmcr_seeds} = {cover / lcmcr_seeds:.3f}, "
              f"median width {np.median(width):.0f}, {time.perf_counter() - t0:.1f} s")
    return results


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer seeds and replicates")
    a = ap.parse_args()
    bench_stepwise()
    bench_bootstrap(200 if a.quick else 1000)
    bench_coverage(30 if a.quick else 200, lcmcr_seeds=5 if a.quick else 10,
                   bca_seeds=5 if a.quick else 20)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MB")
