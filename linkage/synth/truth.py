"""The truth kept beside the synthetic sources (docs/internals.md, "The synthetic world on
disk"), and the world's ``config.yaml`` (DESIGN.md "Config").
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import yaml

from .defects import NONE
from .lives import Lives
from .names import NATIONALITIES
from .sources import VISA_DATE_FORMAT

ALPHA3 = np.array(NATIONALITIES, dtype=object)


def _dates(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    out = x.astype("datetime64[D]")
    out[x == NONE] = np.datetime64("NaT")
    return out


def persons_table(L: Lives, offset: int) -> pd.DataFrame:
    """truth/persons.parquet rows: one per person, ``true_id = offset + pid + 1``.

    ``citizen`` is citizenship of the country at the end of the period (naturalised persons
    included, ``naturalisation_date`` says when); ``citizenship`` the nationality held at the
    start. ``initial_status`` is the status at the start ('resident' for persons in the
    country as residents then, and for births). ``permit_valid_until`` is the latest visa
    ``valid_to`` (as micro-integration derives it), null without one.
    """
    p = L.persons
    v = L.visas
    vt = v.loc[v["valid_to"] >= 0].groupby("pid")["valid_to"].max()
    permit = vt.reindex(p["pid"]).fillna(NONE).to_numpy().astype(np.int64)
    nat = p["naturalisation"].to_numpy()
    return pd.DataFrame({
        "true_id": offset + p["pid"].to_numpy().astype(np.int64) + 1,
        "sex": p["sex"].to_numpy().astype(object),
        "birth_date": _dates(L.birth),
        "birth_country": ALPHA3[p["birth_country"].to_numpy()],
        "citizenship": ALPHA3[np.where(p["citizen_start"].to_numpy(), L.home,
                                       p["nat"].to_numpy())],
        "native_born": p["native_born"].to_numpy(),
        "citizen": p["citizen_start"].to_numpy() | (nat >= 0),
        "initial_status": p["initial_status"].to_numpy().astype(object),
        "permit_valid_until": _dates(permit),
        "death_date": _dates(L.death),
        "hidden": p["hidden"].to_numpy(),
        "mobility_type": p["mobility_type"].to_numpy().astype(object),
        "naturalisation_date": _dates(nat),
    })


def arrival_permits(L: Lives) -> np.ndarray:
    """Per true crossing (``L.crossings()`` order): the end of the permit in force for the stay
    an arrival begins -- the latest ``valid_to`` among the person's true visas valid on the
    arrival day (valid_from <= a <= valid_to; a resident visa has no end and gives none) --
    and NONE on departures and arrivals no visa covers (RESIDENCE.md "6/12", per arrival)."""
    c = L.crossings()
    v = L.visas
    v = v.loc[v["valid_to"] >= 0, ["pid", "valid_from", "valid_to"]]
    arr = pd.DataFrame({"pid": c["pid"].to_numpy(), "date": c["date"].to_numpy(),
                        "row": np.arange(len(c))})[(c["direction"] == "in").to_numpy()]
    m = arr.merge(v, on="pid", how="inner")
    m = m[(m["valid_from"] <= m["date"]) & (m["date"] <= m["valid_to"])]
    out = np.full(len(c), NONE, dtype=np.int64)
    best = m.groupby("row")["valid_to"].max()
    out[best.index.to_numpy()] = best.to_numpy()
    return out


def crossings_table(L: Lives, offset: int) -> pd.DataFrame:
    """truth/crossings.parquet rows: every true crossing, in order within each person, with
    ``permit_valid_until`` on arrivals (:func:`arrival_permits`)."""
    c = L.crossings()
    return pd.DataFrame({
        "true_id": offset + c["pid"].to_numpy().astype(np.int64) + 1,
        "crossing_date": _dates(c["date"].to_numpy()),
        "direction": c["direction"].to_numpy().astype(object),
        "seq": c["seq"].to_numpy().astype(np.int64),
        "permit_valid_until": _dates(arrival_permits(L)),
    })


def world_config(country: str, start: str, end: str, seed: int,
                 lists=("police", "ngo", "health", "labour")) -> dict:
    """The config that reads the world's files (paths relative to the config)."""
    y0, y1 = int(start[:4]), int(end[:4])
    refs = [dt.date(y, 12, 31) for y in range(y0 + 1, y1)]
    src = [
        {"name": "visa", "kind": "visa", "path": "visa.csv", "id": "application_no",
         "date_format": VISA_DATE_FORMAT,
         "columns": {"family_name": "surname", "given_name": "given_names",
                     "birth_date": "date_of_birth", "sex": "gender", "citizenship": "nationality",
                     "document_number": "passport_number", "visa_category": "visa_type",
                     "valid_from": "valid_from", "valid_to": "valid_to", "purpose": "purpose"},
         "codes": {"sex": {"female": "F", "male": "M"}}},
        {"name": "border", "kind": "border", "path": "border.csv", "id": "crossing_id",
         "columns": {"family_name": "surname", "given_name": "given_names", "birth_date": "dob",
                     "sex": "sex", "document_number": "passport_no", "citizenship": "nationality",
                     "direction": "direction", "crossing_date": "crossing_date", "port": "port",
                     "purpose": "purpose"},
         "codes": {"sex": {"1": "M", "2": "F"}, "direction": {"A": "in", "D": "out"}}},
        {"name": "census", "kind": "census", "path": "census.csv", "id": "person_no",
         "columns": {"given_name": "given_names", "family_name": "surname", "birth_date": "dob",
                     "birth_year": "birth_year", "sex": "sex", "citizenship": "citizenship",
                     "birth_country": "country_of_birth", "year_of_arrival": "year_arrived",
                     "census_date": "census_night"}},
        {"name": "register", "kind": "register", "path": "register.csv", "id": "reg_no",
         "columns": {"given_name": "first_name", "family_name": "last_name",
                     "birth_date": "date_of_birth", "sex": "sex", "citizenship": "citizenship",
                     "birth_country": "birth_country", "registration_date": "registration_date",
                     "deregistration_date": "deregistration_date",
                     "death_date": "date_of_death",
                     "naturalisation_date": "naturalised_on"}},
        {"name": "police", "kind": "generic", "path": "police.csv", "id": "case_no",
         "columns": {"family_name": "surname", "given_name": "given_name", "birth_date": "dob",
                     "sex": "sex", "citizenship": "nationality"}},
        {"name": "ngo", "kind": "generic", "path": "ngo.csv", "id": "client_id",
         "columns": {"full_name": "name", "birth_year": "birth_year", "sex": "gender",
                     "citizenship": "country"}},
        {"name": "health", "kind": "generic", "path": "health.csv", "id": "patient_id",
         "columns": {"given_name": "given_name", "family_name": "family_name",
                     "birth_date": "dob", "sex": "sex", "citizenship": "citizenship"}},
        {"name": "labour", "kind": "generic", "path": "labour.csv", "id": "worker_id",
         "columns": {"given_name": "first_name", "family_name": "last_name",
                     "birth_date": "date_of_birth", "sex": "sex", "citizenship": "citizenship"}},
    ]
    src = [s for s in src if s["kind"] != "generic" or s["name"] in lists]
    return {
        "country": country,
        "seed": seed,
        "sources": src,
        "linkage": {"engine": "splink", "backend": "duckdb", "threshold": 0.9},
        "residence": {"rules": ["12/16", "6/12", "12/12"], "reference_dates": refs,
                      "observed_until": dt.date.fromisoformat(end)},
        "mse": {"lists": list(lists), "strata": ["sex"], "method": "stepwise"},
    }


def config_yaml(cfg: dict, header: str = "") -> str:
    return header + yaml.safe_dump(cfg, sort_keys=False, default_flow_style=None, width=100)
