"""The administrative sources drawn from the true lives, each with the defects real sources
have (see :mod:`linkage.synth.defects`).

Every builder returns ``(table, true_pid)``: a DataFrame of the file's columns (strings,
Arrow-friendly dates as int days or None) and, per row, the person it describes. Column names
and codes deliberately differ between sources (the config maps them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from . import names as N
from .defects import NONE, Defects, chance, date_errors, lengths, truncate, typos_arrow
from .lives import PURPOSES, TYPE_NAMES, VISA_CATEGORIES, Lives, T

ALPHA3 = np.array(N.NATIONALITIES, dtype=object)
ALPHA2 = np.array([N.country_alpha2(c) for c in N.NATIONALITIES], dtype=object)
CNAME = np.array([N.country_name(c) for c in N.NATIONALITIES], dtype=object)
PORTS = ("AKL", "CHC", "WLG", "ZQN")
#: the visa file writes dates day first (the config's date_format for it)
VISA_DATE_FORMAT = "%d/%m/%Y"
LETTER_PAIRS = pa.array([chr(65 + i // 26) + chr(65 + i % 26) for i in range(676)])


def lut(values, idx, mask=None) -> pa.Array:
    """Arrow strings ``values[idx]`` (null where ``mask``): a C-level take, no Python objects."""
    return pc.take(pa.array(list(values), type=pa.string()),
                   pa.array(np.asarray(idx, dtype=np.int64), mask=mask))


def null_where(values: pa.Array, mask: np.ndarray) -> pa.Array:
    return pc.if_else(pa.array(np.asarray(mask, bool)), pa.scalar(None, pa.string()), values)


def passport_text(code: np.ndarray) -> pa.Array:
    """'AB1234567' from the int codes of :meth:`Lives._passports`."""
    code = np.asarray(code, dtype=np.int64)
    letters = pc.take(LETTER_PAIRS, pa.array(code // 10_000_000))
    digits = pc.utf8_lpad(pa.array(code % 10_000_000).cast(pa.string()), 7, "0")
    return pc.binary_join_element_wise(letters, digits, "")


def record_ids(prefix: str, first: int, k: int, digits: int) -> pa.Array:
    """'X0000000001'-style ids numbered from ``first``."""
    num = pc.utf8_lpad(pa.array(np.arange(first, first + k, dtype=np.int64)).cast(pa.string()),
                       digits, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), num, "")


class Renderer:
    """Identifying fields of records about persons, with one source's spelling and errors."""

    def __init__(self, lives: Lives, rng: np.random.Generator, defects: Defects):
        self.L, self.p, self.rng, self.d = lives, lives.persons, rng, defects

    def names(self, pid, scheme, fold=0.2, upper=0.0, middle=1.0, typo=None, swap=None,
              variant=None):
        rng, d, n = self.rng, self.d, len(pid)
        typo = d.typo if typo is None else typo
        swap = d.swap_names if swap is None else swap
        variant = d.variant if variant is None else variant
        f = chance(rng, fold, n)
        u = chance(rng, upper, n)
        g = N.render(self.p["given"].to_numpy()[pid], "given", scheme, chance(rng, variant, n),
                     f, u)
        mid_idx = self.p["middle"].to_numpy()[pid]
        mid_idx = np.where(chance(rng, middle, n), mid_idx, -1)
        mid = N.render(mid_idx, "given", scheme, np.zeros(n, bool), f, u)
        g = pc.binary_join_element_wise(g, mid, " ", null_handling="skip")
        fam = N.render(self.p["family"].to_numpy()[pid], "family", scheme,
                       chance(rng, variant, n), f, u)
        which = chance(rng, 0.5, n)
        t = chance(rng, typo, n)
        g = typos_arrow(g, t & which, rng)
        fam = typos_arrow(fam, t & ~which, rng)
        s = pa.array(chance(rng, swap, n))
        return pc.if_else(s, fam, g), pc.if_else(s, g, fam)

    def dob(self, pid, missing=None, swap=None):
        d = self.d
        return date_errors(self.p["birth"].to_numpy()[pid], self.rng,
                           d.dob_missing if missing is None else missing,
                           d.dob_day_month_swap if swap is None else swap)

    def sex(self, pid, codes=None):
        codes = codes or {"F": "F", "M": "M"}
        male = (self.p["sex"].to_numpy()[pid] == "M").astype(np.int64)
        return lut((codes["F"], codes["M"]), male,
                   mask=chance(self.rng, self.d.sex_missing, len(pid)))

    def citizen_at(self, pid, day):
        """Nationality code index of a person on a day (NZL after naturalisation)."""
        p = self.p
        nz = p["citizen_start"].to_numpy()[pid]
        nd = p["naturalisation"].to_numpy()[pid]
        nz = nz | ((nd >= 0) & (day >= nd))
        return np.where(nz, self.L.home, p["nat"].to_numpy()[pid]), nz

    def passport(self, pid, day):
        p = self.p
        _, nz = self.citizen_at(pid, day)
        nd = p["naturalisation"].to_numpy()[pid]
        natz = (nd >= 0) & (day >= nd)
        renewed = day >= p["renewal"].to_numpy()[pid]
        return passport_text(np.where(natz, p["passport_nz"].to_numpy()[pid],
                                      np.where(renewed, p["passport2"].to_numpy()[pid],
                                               p["passport1"].to_numpy()[pid])))


def _days(x):
    """int days (NONE = none) -> datetime64[D] with NaT."""
    x = np.asarray(x, dtype=np.int64)
    out = x.astype("datetime64[D]")
    out[x == NONE] = np.datetime64("NaT")
    return out


def border(L: Lives, R: Renderer, rng, d: Defects):
    """One row per recorded crossing, MRZ-style names, codes A/D and 1/2."""
    c = L.crossings()
    n = len(c)
    keep = ~chance(rng, d.crossing_missing, n)
    dup = chance(rng, d.crossing_duplicate, n) & keep
    rep = keep.astype(np.int64) + dup
    c = c.loc[np.repeat(np.arange(n), rep)].reset_index(drop=True)
    c = c.sort_values(["date", "pid", "seq"], kind="stable").reset_index(drop=True)
    pid = c["pid"].to_numpy()
    day = c["date"].to_numpy()
    k = len(c)
    g, f = R.names(pid, "icao", fold=1.0, upper=1.0, typo=d.typo * 0.25, swap=0.0,
                   variant=0.0)
    f = truncate(f, 30)
    flen = lengths(f)
    g = truncate(g, np.maximum(30 - flen - 1, 1))
    natc, nz = R.citizen_at(pid, day)
    purpose = null_where(lut(PURPOSES, c["purpose"].to_numpy()),
                         (c["direction"].to_numpy() == "out") | nz)
    port = lut(PORTS, np.searchsorted([0.7, 0.85, 0.95], rng.random(k)))
    t = dict({
        "crossing_id": None, "surname": f, "given_names": g,
        "dob": _days(R.dob(pid, missing=d.dob_missing * 0.2, swap=0.0)),
        "sex": R.sex(pid, {"M": "1", "F": "2"}),
        "passport_no": R.passport(pid, day), "nationality": lut(ALPHA3, natc),
        "direction": lut(("A", "D"), (c["direction"].to_numpy() == "out").astype(np.int64)),
        "crossing_date": _days(day), "port": port, "purpose": purpose,
    })
    return t, pid


def visa(L: Lives, R: Renderer, rng, d: Defects):
    """One row per visa grant; nationality as alpha-2, sometimes as a country name."""
    v = L.visas
    pid = v["pid"].to_numpy()
    vf = v["valid_from"].to_numpy()
    k = len(v)
    g, f = R.names(pid, "bgn", fold=0.3, upper=0.05)
    natc, _ = R.citizen_at(pid, vf)
    nat = pc.if_else(pa.array(chance(rng, d.citizenship_as_name, k)), lut(CNAME, natc),
                     lut(ALPHA2, natc))
    # birth dates as the clerks typed them: an unknown day and month is written 00/00/YYYY,
    # which no date format reads (ingestion keeps the row and reports the field)
    dob = _days(R.dob(pid))
    text = pc.strftime(pc.cast(pa.array(dob, type=pa.date32(), from_pandas=True),
                               pa.timestamp("s")), format=VISA_DATE_FORMAT)
    unknown = chance(rng, d.dob_unknown_day_month, k) & ~np.isnat(dob)
    if unknown.any():
        years = dob[unknown].astype("datetime64[Y]").astype(np.int64) + 1970
        text = pc.replace_with_mask(text, pa.array(unknown),
                                    pa.array([f"00/00/{y}" for y in years], pa.string()))
    t = dict({
        "application_no": None, "surname": f, "given_names": g,
        "date_of_birth": text, "gender": R.sex(pid, {"M": "male", "F": "female"}),
        "nationality": nat, "passport_number": R.passport(pid, vf),
        "visa_type": np.array(VISA_CATEGORIES, dtype=object)[v["category"].to_numpy()],
        "valid_from": _days(vf), "valid_to": _days(v["valid_to"].to_numpy()),
        "purpose": lut(PURPOSES, v["purpose"].to_numpy()),
    })
    return t, pid


def present_on(L: Lives, day: int) -> np.ndarray:
    """Persons present at the end of ``day`` (RESIDENCE.md), alive and born."""
    st = L.stays
    m = (st["a"].to_numpy() <= day) & (st["b"].to_numpy() > day)
    pid = np.unique(st["pid"].to_numpy()[m])
    alive = ((L.death[pid] < 0) | (L.death[pid] > day)) & (L.birth[pid] <= day)
    return pid[alive]


def arrival_year(L: Lives, pid: np.ndarray, day: int, rng) -> np.ndarray:
    """Year of the latest arrival on or before ``day``; for persons there since before the
    start, a year between their 18th birthday (or birth) and the start. −1 for natives."""
    st = L.stays
    m = (st["a"].to_numpy() <= day) & (st["a"].to_numpy() >= L.S)
    last = pd.Series(st["a"].to_numpy()[m]).groupby(st["pid"].to_numpy()[m]).max()
    a = last.reindex(pid).to_numpy()
    yr = np.full(len(pid), -1, dtype=np.int64)
    has = ~np.isnan(a)
    yr[has] = a[has].astype(np.int64).astype("datetime64[D]").astype("datetime64[Y]").astype(
        np.int64) + 1970
    by = L.birth[pid].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    lo = np.minimum(by + np.where(L.persons["mobility_type"].to_numpy()[pid] == "foreign_resident",
                                  18, 0), L.Y0 - 1)
    guess = lo + (rng.random(len(pid)) * (L.Y0 - lo)).astype(np.int64)
    yr[~has] = guess[~has]
    native = L.persons["native_born"].to_numpy()[pid]
    yr[native] = -1
    return yr


def census(L: Lives, R: Renderer, rng, d: Defects, day: int):
    """Everyone present on census night, less the undercount (highest for the hidden)."""
    pid = present_on(L, day)
    mt = L.mtype[pid]
    resident = np.isin(mt, [T[t] for t in ("native_resident", "birth", "emigrant_citizen",
                                           "returning_citizen", "foreign_resident",
                                           "immigrant_work", "immigrant_family", "student")])
    hidden = L.persons["hidden"].to_numpy()[pid]
    p_miss = np.where(hidden, d.census_undercount_hidden,
                      np.where(resident, d.census_undercount_resident,
                               d.census_undercount_visitor))
    pid = pid[rng.random(len(pid)) >= p_miss]
    k = len(pid)
    g, f = R.names(pid, "any", fold=0.2, upper=0.02, middle=0.5)
    dob = R.dob(pid)
    by = (L.birth[pid].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
          + 1970).astype(object)
    dob[chance(rng, d.census_age_only, k)] = NONE
    by[chance(rng, d.dob_missing * 0.5, k)] = None
    natc, _ = R.citizen_at(pid, np.full(k, day))
    yoa = arrival_year(L, pid, day, rng).astype(object)
    yoa[yoa == -1] = None
    t = dict({
        "person_no": None, "given_names": g, "surname": f, "dob": _days(dob), "birth_year": by,
        "sex": R.sex(pid), "citizenship": lut(ALPHA3, natc),
        "country_of_birth": lut(ALPHA3, L.persons["birth_country"].to_numpy()[pid]),
        "year_arrived": yoa, "census_night": _days(np.full(k, day)),
    })
    return t, pid


def register(L: Lives, R: Renderer, rng, d: Defects):
    """Residents' registrations with lags; deaths deregistered (with the date of death),
    most emigrants never. ``naturalised_on``, ``date_of_death`` and ``deregistration_reason``
    have no canonical field yet and are left unmapped in the config."""
    p = L.persons
    n = len(p)
    mt = L.mtype
    st = L.stays
    S, E = L.S, L.E
    lag = rng.exponential(d.register_lag_days, n).astype(np.int64)
    first_in = pd.Series(st["a"].to_numpy()).groupby(st["pid"].to_numpy()).min().reindex(
        np.arange(n)).to_numpy()
    res_iv = st[st["res"].to_numpy()]
    first_res_in = pd.Series(res_iv["a"].to_numpy()).groupby(res_iv["pid"].to_numpy()).min() \
        .reindex(np.arange(n)).to_numpy()
    native = p["native_born"].to_numpy()
    reg = np.full(n, NONE, dtype=np.int64)
    at_start = np.isin(mt, [T["native_resident"], T["emigrant_citizen"], T["foreign_resident"]])
    # residents since before the start: registered at birth (natives) or on some earlier day
    earlier = np.maximum(L.birth, S - 20 * 365) + (rng.random(n) * (
        S - np.maximum(L.birth, S - 20 * 365))).astype(np.int64)
    reg[at_start] = np.where(native, L.birth + np.minimum(lag, 60), earlier)[at_start]
    b = mt == T["birth"]
    reg[b] = (L.birth + np.minimum(lag, 120))[b]
    arrivers = np.isin(mt, [T["returning_citizen"], T["immigrant_work"], T["immigrant_family"]])
    arrivers |= (mt == T["student"]) & (rng.random(n) < 0.5)
    fa = np.where(np.isnan(first_res_in), first_in, first_res_in)
    ok = arrivers & ~np.isnan(fa)
    reg[ok] = fa[ok].astype(np.int64) + lag[ok]
    reg[(reg > E)] = NONE
    # deregistration: deaths (promptly), emigrants (only some, late)
    dereg = np.full(n, NONE, dtype=np.int64)
    dead = L.death >= 0
    dereg[dead] = L.death[dead] + (rng.random(dead.sum()) * 30).astype(np.int64)
    last_out = pd.Series(st["b"].to_numpy()).groupby(st["pid"].to_numpy()).max().reindex(
        np.arange(n)).to_numpy()
    gone = (reg != NONE) & ~dead & (last_out <= E)
    told = gone & (rng.random(n) < d.register_deregistered)
    dereg[told] = last_out[told].astype(np.int64) + (rng.random(told.sum()) * 180).astype(np.int64)
    dereg[dereg > E] = NONE
    pid = np.flatnonzero(reg != NONE)
    k = len(pid)
    g, f = R.names(pid, "any", fold=0.1)
    natc, _ = R.citizen_at(pid, np.full(k, E))
    nd = p["naturalisation"].to_numpy()[pid]
    t = dict({
        "reg_no": None, "first_name": g, "last_name": f, "date_of_birth": _days(R.dob(pid)),
        "sex": R.sex(pid), "citizenship": lut(ALPHA3, natc),
        "birth_country": lut(ALPHA3, p["birth_country"].to_numpy()[pid]),
        "registration_date": _days(reg[pid]), "deregistration_date": _days(dereg[pid]),
        "naturalised_on": _days(nd),
        "date_of_death": _days(np.where(dead[pid] & (L.death[pid] <= E), L.death[pid], NONE)),
        "deregistration_reason": np.where(dereg[pid] == NONE, None,
                                          np.where(dead[pid], "death", "emigration")),
    })
    return t, pid


#: Lists of the hidden population: (name, intercept, loading on the shared latent visibility,
#: extra log-odds for women). Police and labour inspection share a latent visibility (work in
#: the open economy): positively correlated captures, which a log-linear model needs a
#: police:labour term for; NGO and health captures are independent of it; the NGO finds
#: women more often (heterogeneity by sex, the config's MSE stratum).
LISTS = (("police", -0.8, 0.9, -0.3), ("ngo", -0.6, 0.0, 0.6), ("health", -1.1, 0.0, 0.2),
         ("labour", -1.1, 0.9, -0.5))


def hidden_lists(L: Lives, R: Renderer, rng, d: Defects):
    """Each list captures hidden persons with unequal, heterogeneous probabilities."""
    p = L.persons
    hid = np.flatnonzero(p["hidden"].to_numpy())
    z = rng.normal(0, 1, len(hid))
    female = p["sex"].to_numpy()[hid] == "F"
    out = {}
    for name, a, b, fw in LISTS:
        eta = a + b * z + fw * female
        pid = hid[rng.random(len(hid)) < 1 / (1 + np.exp(-eta))]
        natc = p["nat"].to_numpy()[pid]
        if name == "police":
            g, f = R.names(pid, "bgn", fold=0.6, upper=1.0, middle=0.3)
            t = dict({"case_no": None, "surname": f, "given_name": g,
                              "dob": _days(R.dob(pid, missing=0.1)), "sex": R.sex(pid),
                              "nationality": lut(ALPHA3, natc)})
        elif name == "ngo":
            g, f = R.names(pid, "bgn", fold=0.5, upper=0.1, middle=0.0)
            full = pc.binary_join_element_wise(g, f, " ", null_handling="skip")
            by = (L.birth[pid].astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64)
                  + 1970).astype(object)
            t = dict({"client_id": None, "name": full, "birth_year": by,
                              "gender": R.sex(pid), "country": lut(CNAME, natc)})
        elif name == "health":
            g, f = R.names(pid, "any", fold=0.3, middle=0.0)
            t = dict({"patient_id": None, "given_name": g, "family_name": f,
                              "dob": _days(R.dob(pid)), "sex": R.sex(pid),
                              "citizenship": lut(ALPHA3, natc)})
        else:
            g, f = R.names(pid, "bgn", fold=0.4, middle=0.5)
            t = dict({"worker_id": None, "first_name": g, "last_name": f,
                              "date_of_birth": _days(R.dob(pid, missing=0.05)),
                              "sex": R.sex(pid), "citizenship": lut(ALPHA3, natc)})
        out[name] = (t, pid)
    return out


#: source name -> (kind, id column, id prefix, id digits)
SOURCES = {
    "visa": ("visa", "application_no", "V", 9),
    "border": ("border", "crossing_id", "X", 10),
    "census": ("census", "person_no", "C", 8),
    "register": ("register", "reg_no", "R", 8),
    "police": ("generic", "case_no", "P", 7),
    "ngo": ("generic", "client_id", "N", 7),
    "health": ("generic", "patient_id", "H", 7),
    "labour": ("generic", "worker_id", "L", 7),
}
MOBILITY_TYPES = TYPE_NAMES
