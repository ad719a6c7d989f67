"""The ``miglink`` command line (DESIGN.md, "Command line").

This module only parses arguments and dispatches; each command's work lives in the module
named in its ``handler``. User errors (:class:`linkage.errors.MiglinkError`) become one line
on stderr and exit status 2; no traceback is shown unless ``MIGLINK_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from linkage.errors import MiglinkError

#: command -> "module:function" taking the parsed ``argparse.Namespace``; returns an exit code.
HANDLERS = {
    "demo": "integrators.pipeline:demo_command",
    "run": "integrators.pipeline:run_command",
    "link": "integrators.pipeline:link_command",
    "evaluate": "linkage.evaluate:evaluate_command",
    "residence": "integrators.residence:residence_command",
    "accounts": "integrators.accounts:accounts_command",
    "mse": "integrators.mse.command:mse_command",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="miglink",
        description="Link administrative migration sources and integrate them into "
                    "migration statistics (UN revised framework).")
    p.add_argument("--version", action="version", version="miglink 0.1.0")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="make a synthetic world and run the whole pipeline on it")
    d.add_argument("--out", required=True, help="output directory")
    d.add_argument("--persons", type=int, default=None,
                   help="number of persons in the synthetic world (default: the demo size)")
    d.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    d.add_argument("--steps", default=None, help="comma-separated steps to run (default: all)")

    r = sub.add_parser("run", help="run the whole pipeline on a config's sources")
    r.add_argument("config", help="YAML config")
    r.add_argument("--out", required=True, help="output directory")
    r.add_argument("--steps", default=None,
                   help="comma-separated steps to (re-)run from what DIR holds (default: all)")
    r.add_argument("--seed", type=int, default=None, help="random seed (default: config or 1)")

    k = sub.add_parser("link", help="ingestion and linkage only")
    k.add_argument("config", help="YAML config")
    k.add_argument("--out", required=True, help="output directory")
    k.add_argument("--seed", type=int, default=None, help="random seed (default: config or 1)")

    e = sub.add_parser("evaluate", help="pairwise and cluster precision, recall and F1")
    e.add_argument("--clusters", required=True, help="clusters file (source, record_id, person_id)")
    e.add_argument("--truth", required=True, help="truth file (source, record_id, true_id)")
    e.add_argument("--links", default=None, help="optional links file, to break errors down")
    e.add_argument("--out", default=None, help="optional JSON file for the figures")

    s = sub.add_parser("residence", help="classify already-linked crossings")
    s.add_argument("--crossings", required=True,
                   help="CSV/Parquet: person_id, crossing_date, direction (in|out) "
                        "[, permit_valid_until: end of the permit in force for the stay an "
                        "arrival begins]")
    s.add_argument("--persons", default=None,
                   help="CSV/Parquet: person_id, citizen, initial_status, permit_valid_until")
    s.add_argument("--rule", required=True, action="append", choices=["12/16", "6/12", "12/12"],
                   help="residence rule (repeat for several)")
    s.add_argument("--reference-date", required=True, action="append", dest="reference_dates",
                   metavar="D", help="reference date YYYY-MM-DD (repeat for several)")
    s.add_argument("--observed-until", default=None, metavar="D",
                   help="last day the data covers (default: the latest crossing)")
    s.add_argument("--out", required=True, help="output directory")

    a = sub.add_parser("accounts", help="population accounts from aggregates")
    a.add_argument("components", help="CSV: component, group, to_group, value [, keys...]")
    a.add_argument("--out", required=True, help="output directory")
    a.add_argument("--variances", default=None, help="CSV: the same keys plus variance")

    m = sub.add_parser("mse", help="multiple systems estimation from capture-pattern counts")
    m.add_argument("counts", help="CSV: one 0/1 column per list and a count column")
    m.add_argument("--out", required=True, help="output JSON file")
    g = m.add_mutually_exclusive_group()
    g.add_argument("--terms", default=None, help='fixed model, e.g. "A:B,B:C"')
    g.add_argument("--method", default=None,
                   choices=["stepwise", "aic-stepwise", "bic", "downhill", "main"],
                   help="model choice (default stepwise)")
    m.add_argument("--pthresh", type=float, default=None,
                   help="p-value threshold (stepwise 0.02, aic-stepwise 0.05)")
    m.add_argument("--max-order", type=int, default=2, help="bic/downhill: highest order (2)")
    m.add_argument("--ci", default="profile", choices=["profile", "wald", "bca"],
                   help="interval method (default profile)")
    m.add_argument("--ci-level", type=float, default=0.95, help="interval level (0.95)")
    m.add_argument("--bootstrap", type=int, default=1000, help="bca replicates (1000)")
    m.add_argument("--seed", type=int, default=1, help="bootstrap seed (1)")
    m.add_argument("--strata", nargs="+", default=None, metavar="COL",
                   help="stratify by these columns")
    return p


def _resolve(spec: str):
    module, func = spec.split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = os.environ.get("MIGLINK_DEBUG") == "1"
    try:
        handler = _resolve(HANDLERS[args.command])
        code = handler(args)
        return int(code or 0)
    except MiglinkError as exc:
        if debug:
            raise
        print(f"miglink: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("miglink: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: never a traceback
        if debug:
            raise
        msg = " ".join(f"{type(exc).__name__}: {exc}".split())
        print(f"miglink: internal error: {msg} (set MIGLINK_DEBUG=1 for details)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
