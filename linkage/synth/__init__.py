"""A synthetic migration world with its truth (``miglink demo``).

``generate_world(out_dir, persons, seed)`` simulates the lives of a population
(:mod:`.lives`), draws the administrative sources from them with realistic defects
(:mod:`.sources`, :mod:`.defects`, names from :mod:`.names`) and writes exactly the layout of
docs/internals.md "The synthetic world on disk": the source files, ``config.yaml`` and
``truth/`` (records, persons, crossings, hidden_population.json).

Persons are simulated in chunks of :data:`CHUNK` with one random stream per chunk
(``SeedSequence([seed, chunk])``), so memory stays flat from 1,000 to 1,000,000 persons and
the same seed gives byte-identical files.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import MiglinkError
from ..io import atomic_path, write_json, write_text
from . import sources as srcs
from .defects import Defects
from .lives import TYPE_NAMES, Lives, to_days
from .names import NATIONALITIES
from .truth import config_yaml, crossings_table, persons_table, world_config

__all__ = ["generate_world", "Defects", "TYPE_NAMES", "CHUNK"]

CHUNK = 100_000
LISTS = ("police", "ngo", "health", "labour")
#: census night (a date inside the period; the 2023 census of New Zealand was on 7 March)
CENSUS_MONTH_DAY = "03-07"

_DATE_COLS = {"dob", "date_of_birth", "valid_from", "valid_to", "crossing_date", "census_night",
              "registration_date", "deregistration_date", "naturalised_on",
              "date_of_death"}
_INT_COLS = {"birth_year", "year_arrived"}


def _arrow(table: dict, date_format: str | None) -> pa.Table:
    """Arrow table of a source's columns (dates as date32 or formatted text)."""
    cols, fields = [], []
    for name, v in table.items():
        if isinstance(v, pa.Array):
            cols.append(v.cast(pa.string()))
            fields.append(pa.field(name, pa.string()))
            continue
        v = np.asarray(v)
        if name in _DATE_COLS:
            arr = pa.array(v.astype("datetime64[D]"), type=pa.date32(), from_pandas=True)
            if date_format:
                arr = pc.strftime(pc.cast(arr, pa.timestamp("s")), format=date_format)
            typ = pa.string() if date_format else pa.date32()
        elif name in _INT_COLS:
            arr = pa.array(pd.array(v, dtype="Int64"), type=pa.int64())
            typ = pa.int64()
        else:
            arr = pa.array(v, type=pa.string(), from_pandas=True)
            typ = pa.string()
        cols.append(arr)
        fields.append(pa.field(name, typ))
    return pa.Table.from_arrays(cols, schema=pa.schema(fields))


class _Writers:
    """Append-only writers for every output file, each renamed into place on success."""

    def __init__(self, stack: contextlib.ExitStack, world: Path):
        self.stack, self.world = stack, world
        self.csv: dict[str, pacsv.CSVWriter] = {}
        self.pq: dict[str, pq.ParquetWriter] = {}

    def write_csv(self, name: str, table: pa.Table):
        if name not in self.csv:
            tmp = self.stack.enter_context(atomic_path(self.world / f"{name}.csv", ".csv"))
            self.csv[name] = pacsv.CSVWriter(
                str(tmp), table.schema, write_options=pacsv.WriteOptions(quoting_style="needed"))
            self.stack.callback(self.csv[name].close)
        self.csv[name].write_table(table)

    def write_parquet(self, name: str, df, schema: pa.Schema):
        table = df if isinstance(df, pa.Table) else pa.Table.from_pandas(
            df, schema=schema, preserve_index=False)
        if name not in self.pq:
            tmp = self.stack.enter_context(atomic_path(self.world / "truth" / f"{name}.parquet",
                                                       ".parquet"))
            self.pq[name] = pq.ParquetWriter(str(tmp), schema)
            self.stack.callback(self.pq[name].close)
        self.pq[name].write_table(table)


PERSONS_SCHEMA = pa.schema([
    ("true_id", pa.int64()), ("sex", pa.string()), ("birth_date", pa.date32()),
    ("birth_country", pa.string()), ("citizenship", pa.string()), ("native_born", pa.bool_()),
    ("citizen", pa.bool_()), ("initial_status", pa.string()),
    ("permit_valid_until", pa.date32()), ("death_date", pa.date32()), ("hidden", pa.bool_()),
    ("mobility_type", pa.string()), ("naturalisation_date", pa.date32())])
CROSSINGS_SCHEMA = pa.schema([("true_id", pa.int64()), ("crossing_date", pa.date32()),
                              ("direction", pa.string()), ("seq", pa.int64()),
                              ("permit_valid_until", pa.date32())])
RECORDS_SCHEMA = pa.schema([("source", pa.string()), ("record_id", pa.string()),
                            ("true_id", pa.int64())])


def generate_world(out_dir, persons: int = 2000, seed: int = 1, start: str = "2018-01-01",
                   end: str = "2024-12-31", country: str = "NZL",
                   defects: Defects | None = None, lists=LISTS, progress=None) -> dict:
    """Write a synthetic world of ``persons`` persons to ``out_dir`` and return a summary.

    The sources (visa, border, census, register and the lists of the hidden population) are
    drawn from the true lives with the defects in ``defects`` (defaults: :class:`Defects`).
    Deterministic for a seed: the same arguments give byte-identical files.
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    country = str(country).upper()
    if country not in NATIONALITIES:
        raise MiglinkError(f"country {country!r} is not one of the synthetic world's "
                           f"({', '.join(NATIONALITIES)})", column="country")
    if persons < 1:
        raise MiglinkError("persons must be at least 1", column="persons")
    try:
        S, E = to_days(start), to_days(end)
    except ValueError as exc:
        raise MiglinkError(f"start/end must be ISO dates: {exc}", column="start") from None
    if E - S < 3 * 365:
        raise MiglinkError("the period must cover at least three years", column="end")
    lists = tuple(lists)
    if not set(lists) <= set(LISTS) or len(lists) < 2:
        raise MiglinkError(f"lists must be two or more of {', '.join(LISTS)}", column="lists")
    defects = defects or Defects()
    census_day = to_days(f"{int(end[:4]) - 1}-{CENSUS_MONTH_DAY}")
    cfg = world_config(country, start, end, seed, lists)
    fmt = {s["name"]: s.get("date_format") for s in cfg["sources"]}
    id_col = {name: v[1] for name, v in srcs.SOURCES.items()}
    counters = {name: 0 for name in srcs.SOURCES}
    hidden = {"F": 0, "M": 0}
    n_crossings = 0
    with contextlib.ExitStack() as stack:
        w = _Writers(stack, out)
        for ci, c0 in enumerate(range(0, persons, CHUNK)):
            n = min(CHUNK, persons - c0)
            rng = np.random.default_rng(np.random.SeedSequence([seed, ci]))
            L = Lives(n, rng, start, end, renewal=defects.passport_renewal,
                      country=country).simulate()
            R = srcs.Renderer(L, rng, defects)
            built = {"visa": srcs.visa(L, R, rng, defects),
                     "border": srcs.border(L, R, rng, defects),
                     "census": srcs.census(L, R, rng, defects, census_day),
                     "register": srcs.register(L, R, rng, defects)}
            built.update({k: v for k, v in srcs.hidden_lists(L, R, rng, defects).items()
                          if k in lists})
            for name in (s["name"] for s in cfg["sources"]):
                table, pid = built[name]
                prefix, digits = srcs.SOURCES[name][2], srcs.SOURCES[name][3]
                k = len(pid)
                ids = srcs.record_ids(prefix, counters[name] + 1, k, digits)
                counters[name] += k
                table[id_col[name]] = ids
                w.write_csv(name, _arrow(table, fmt[name]))
                w.write_parquet("records", pa.table({
                    "source": pa.array(np.full(k, name, dtype=object), pa.string()),
                    "record_id": ids,
                    "true_id": pa.array(c0 + pid.astype(np.int64) + 1)}, schema=RECORDS_SCHEMA),
                    RECORDS_SCHEMA)
            w.write_parquet("persons", persons_table(L, c0), PERSONS_SCHEMA)
            cr = crossings_table(L, c0)
            n_crossings += len(cr)
            w.write_parquet("crossings", cr, CROSSINGS_SCHEMA)
            hid = L.persons.loc[L.persons["hidden"], "sex"].value_counts()
            for sx in hidden:
                hidden[sx] += int(hid.get(sx, 0))
            if progress:
                progress(min(c0 + CHUNK, persons), persons)
    truth = {"total": hidden["F"] + hidden["M"], "strata": {"sex": dict(hidden)}}
    write_json(out / "truth" / "hidden_population.json", truth)
    write_text(out / "config.yaml", config_yaml(
        cfg, f"# miglink synthetic world: {persons} persons, seed {seed}, "
             f"{start} .. {end} (linkage.synth.generate_world)\n"))
    return {"persons": persons, "seed": seed, "path": str(out), "rows": dict(counters),
            "total_rows": int(sum(counters.values())), "crossings": n_crossings,
            "hidden_population": truth, "census_date": str(np.datetime64(census_day, "D")),
            "seconds": round(time.perf_counter() - t0, 3)}
