"""Published tables of temporary mobility and the service population.

``tables/mobility.csv`` — year x mobility type: persons, trips, person-days and days touched
(UN Annex I, "temporary mobility"; RESIDENCE.md "Temporary mobility").
``tables/service_population.csv`` — year x visa category (``resident`` for residents,
``none`` without a visa): persons, person-days, days touched and the average daily service
population = person-days / days in the year.

Disclosure control follows ``cfg.disclosure``: under ``suppress`` every measure of a cell
whose person count is under the threshold (and above zero) is withheld — the measures of a
cell reveal each other, and no totals are published beside these tables, so no secondary
suppression is needed; under ``round`` the counts are randomly rounded (seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from integrators.disclosure import RandomRounding, check_no_identifiers, disclosure_settings
from integrators.stocks import publish_table
from linkage.db import has_table

MOBILITY_MEASURES = ("persons", "trips", "person_days", "days_touched")
SERVICE_MEASURES = ("persons", "person_days", "days_touched", "average_daily")


def protect_cells(df: pd.DataFrame, keys: list[str], measures: tuple[str, ...],
                  settings: dict, name: str) -> pd.DataFrame:
    """Long table (keys, measure, value, suppressed) with the configured protection."""
    df = df.sort_values(keys).reset_index(drop=True)
    small = (df["persons"] > 0) & (df["persons"] < settings["threshold"])
    if settings["method"] == "round":
        rr = RandomRounding(settings["base"], [int(settings.get("seed", 1)), len(name)])
        for m in measures:
            if m != "average_daily":
                df[m] = rr.fit_transform(df[m].to_numpy(float)).astype("int64")
        if "average_daily" in measures:
            df["average_daily"] = df["person_days"] / df["days_in_year"]
        small[:] = False
    elif settings["method"] != "suppress":
        small[:] = False
    long = df.melt(id_vars=keys, value_vars=list(measures), var_name="measure",
                   value_name="value")
    sup = np.tile(small.to_numpy(), len(measures))
    long["value"] = long["value"].astype("Float64").mask(sup)
    long["suppressed"] = sup
    check_no_identifiers(long, name)
    return long


def build_mobility_tables(con, cfg, out_dir) -> list[Path]:
    """Write ``tables/mobility.csv`` and ``tables/service_population.csv`` (also in DuckDB
    as ``table_mobility`` and ``table_service_population``)."""
    settings = disclosure_settings(cfg)
    out_dir = Path(out_dir)
    paths = []
    if has_table(con, "mobility"):
        mob = con.execute("""
            SELECT year, mobility_type, count(*) AS persons, sum(trips) AS trips,
                   sum(person_days) AS person_days, sum(days_touched) AS days_touched
            FROM mobility GROUP BY ALL""").df()
        table = protect_cells(mob, ["year", "mobility_type"], MOBILITY_MEASURES, settings,
                              "mobility")
        paths.append(publish_table(con, table, "mobility", out_dir))
    if has_table(con, "service_population"):
        sp = con.execute("""
            SELECT year, visa_category AS category, persons, person_days, days_touched,
                   days_in_year, average_daily
            FROM service_population""").df()
        table = protect_cells(sp, ["year", "category"], SERVICE_MEASURES, settings,
                              "service_population")
        paths.append(publish_table(con, table.drop(columns=["days_in_year"], errors="ignore"),
                              "service_population", out_dir))
    return paths

