"""Shared test helpers (keep small). Helpers are plain functions exposed as fixtures so any
test module can use them without importing conftest:

- ``write_csv(path, header, rows, delimiter=",", encoding="utf-8") -> Path``
- ``write_config(tmp_path, sources, **top) -> Path``: writes ``config.yaml`` and, for each
  source dict with ``header``/``rows`` (or raw ``text``/``data`` bytes), its CSV file.
- ``run_ingest(tmp_path, sources, **top) -> (con, cfg, counts)``: the above, then
  ``load_config`` and ``ingest`` into a fresh in-memory DuckDB connection.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import os

import pytest
import yaml
from hypothesis import settings

# CI runs the property tests with a fixed seed (the same examples on every run), so a
# submission's result does not depend on the draw; locally they explore anew each run.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

SOURCE_FILE_KEYS = ("header", "rows", "text", "data", "delimiter", "encoding")


def write_csv(path, header, rows, delimiter=",", encoding="utf-8") -> Path:
    """Write a CSV (csv-module quoting, '\\n' line ends) and return its path."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    path = Path(path)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def write_config(tmp_path, sources, country="NZL", **top) -> Path:
    """Write ``tmp_path/config.yaml`` and the source files it names; return the config path.

    Each source is a config dict (name, kind, id, columns, codes, ...; ``path`` defaults to
    ``<name>.csv``) plus optionally how to write its file: ``header`` and ``rows`` (with
    ``delimiter``/``encoding``), or ``text`` (str, written as UTF-8) or ``data`` (bytes).
    """
    tmp_path = Path(tmp_path)
    entries = []
    for s in sources:
        s = dict(s)
        s.setdefault("path", f"{s['name']}.csv")
        file_spec = {k: s.pop(k) for k in SOURCE_FILE_KEYS if k in s}
        target = tmp_path / s["path"]
        if "data" in file_spec:
            target.write_bytes(file_spec["data"])
        elif "text" in file_spec:
            target.write_text(file_spec["text"], encoding="utf-8")
        elif "header" in file_spec:
            write_csv(target, file_spec["header"], file_spec.get("rows", []),
                      file_spec.get("delimiter", ","), file_spec.get("encoding", "utf-8"))
        entries.append(s)
    cfg = {"country": country, "sources": entries, **top}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def run_ingest(tmp_path, sources, **top):
    """Write the config and files, load and ingest them; return (con, cfg, counts)."""
    import duckdb

    from linkage.config import load_config
    from linkage.ingest import ingest
    cfg = load_config(write_config(tmp_path, sources, **top))
    con = duckdb.connect()
    return con, cfg, ingest(con, cfg)


@pytest.fixture(name="write_csv")
def _write_csv_fixture():
    return write_csv


@pytest.fixture(name="write_config")
def _write_config_fixture():
    return write_config


@pytest.fixture(name="run_ingest")
def _run_ingest_fixture():
    return run_ingest
