"""Benchmark of the synthetic world generator (linkage.synth.generate_world).

Run: ``/work/venv/bin/python tests/benchmarks/bench_synth.py [SIZES...]`` (default 100000;
add 1000000 for the full target: 1M persons in <= 5 minutes within 6 GiB).
Each size runs in a fresh subprocess so that its peak memory (max RSS) is its own; a 10,000
person baseline runs first and the figures are also given as a ratio of its rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile

CHILD = r"""
import json, resource, sys, tempfile, time
from linkage.synth import generate_world
n = int(sys.argv[1])
with tempfile.TemporaryDirectory() as d:
    t0 = time.perf_counter()
    s = generate_world(d + "/world", persons=n, seed=1)
    secs = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
print(json.dumps({"persons": n, "seconds": secs, "peak_gib": rss, "rows": s["total_rows"],
                  "crossings": s["crossings"]}))
"""


def run(n: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], capture_output=True, text=True,
                         check=True, cwd=tempfile.gettempdir())
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(sizes: list[int]) -> None:
    base = run(10_000)
    base_rate = base["persons"] / base["seconds"]
    print(f"baseline {base['persons']:>9,} persons: {base['seconds']:7.1f} s, "
          f"peak {base['peak_gib']:.2f} GiB, {base['rows']:,} source rows")
    for n in sizes:
        r = run(n)
        rate = r["persons"] / r["seconds"]
        print(f"{r['persons']:>18,} persons: {r['seconds']:7.1f} s, peak {r['peak_gib']:.2f} GiB, "
              f"{r['rows']:,} source rows ({r['rows'] / r['seconds']:,.0f} rows/s), "
              f"{r['crossings']:,} true crossings; rate x{rate / base_rate:.2f} of baseline")


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [100_000])
