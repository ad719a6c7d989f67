"""Country values -> ISO 3166-1 alpha-3 (the code DESIGN.md requires for citizenship,
birth_country and document_country).

Accepted: alpha-3, alpha-2, numeric (with or without leading zeros), English short, official
and common names from pycountry (ISO 3166-1), plus common variants ISO lacks ("UK", "Russia",
"South Korea", "Kosovo" = XKX, the user-assigned code the EU and UN ECE use). Matching ignores
case, diacritics, punctuation and spacing. Ingestion joins a DuckDB table built from the same
list (:func:`create_lookup_table`), so normalisation is set-based.
"""

from __future__ import annotations

import functools
import re

import pycountry
from anyascii import anyascii

#: Variants pycountry does not know (value -> alpha-3). Keys are matched after normalisation.
VARIANTS: dict[str, str] = {
    "UK": "GBR", "U K": "GBR", "GREAT BRITAIN": "GBR", "BRITAIN": "GBR", "ENGLAND": "GBR",
    "SCOTLAND": "GBR", "WALES": "GBR", "NORTHERN IRELAND": "GBR", "UNITED KINGDOM": "GBR",
    "USA": "USA", "US": "USA", "U S A": "USA", "U S": "USA", "UNITED STATES": "USA",
    "AMERICA": "USA", "UNITED STATES OF AMERICA": "USA",
    "RUSSIA": "RUS", "SOUTH KOREA": "KOR", "KOREA SOUTH": "KOR", "REPUBLIC OF KOREA": "KOR",
    "KOREA REPUBLIC": "KOR", "NORTH KOREA": "PRK", "KOREA NORTH": "PRK", "DPRK": "PRK",
    "KOSOVO": "XKX", "XK": "XKX", "XKX": "XKX", "IRAN": "IRN", "SYRIA": "SYR",
    "VIETNAM": "VNM", "VIET NAM": "VNM", "LAOS": "LAO", "BOLIVIA": "BOL", "VENEZUELA": "VEN",
    "TANZANIA": "TZA", "MOLDOVA": "MDA", "CZECH REPUBLIC": "CZE", "CZECHIA": "CZE",
    "TURKEY": "TUR", "TURKIYE": "TUR", "IVORY COAST": "CIV", "COTE D IVOIRE": "CIV",
    "MACEDONIA": "MKD", "NORTH MACEDONIA": "MKD", "BURMA": "MMR", "CAPE VERDE": "CPV",
    "SWAZILAND": "SWZ", "HOLLAND": "NLD", "THE NETHERLANDS": "NLD", "DR CONGO": "COD",
    "DRC": "COD", "D R C": "COD", "CONGO KINSHASA": "COD", "DEMOCRATIC REPUBLIC OF CONGO": "COD",
    "DEMOCRATIC REPUBLIC OF THE CONGO": "COD", "CONGO BRAZZAVILLE": "COG",
    "REPUBLIC OF THE CONGO": "COG", "PALESTINE": "PSE", "VATICAN": "VAT",
    "VATICAN CITY": "VAT", "HOLY SEE": "VAT", "MICRONESIA": "FSM", "TAIWAN": "TWN",
    "BRUNEI": "BRN", "EAST TIMOR": "TLS", "UAE": "ARE", "EMIRATES": "ARE",
    "SAINT KITTS": "KNA", "ST KITTS AND NEVIS": "KNA", "ST LUCIA": "LCA",
    "ST VINCENT AND THE GRENADINES": "VCT", "CHINA PR": "CHN", "PRC": "CHN",
    "PEOPLE S REPUBLIC OF CHINA": "CHN", "HONG KONG": "HKG", "MACAU": "MAC", "MACAO": "MAC",
    "SOVIET UNION": None, "NZ": "NZL", "AOTEAROA": "NZL",
}
VARIANTS = {k: v for k, v in VARIANTS.items() if v is not None}

#: Codes accepted as alpha-3 beyond ISO 3166-1 (user-assigned codes in common use).
EXTRA_ALPHA3: frozenset[str] = frozenset({"XKX"})

_NON_ALNUM = re.compile(r"[^A-Z0-9]+")

#: The same normalisation in DuckDB SQL; ``{x}`` is the value expression.
SQL_KEY = ("nullif(trim(regexp_replace(upper(strip_accents(trim({x}))), "
           "'[^A-Z0-9]+', ' ', 'g')), '')")


def normalise_key(value: str) -> str:
    """Case-, diacritics- and punctuation-insensitive matching key ('Côte d'Ivoire' -> 'COTE D IVOIRE')."""
    return _NON_ALNUM.sub(" ", anyascii(str(value)).upper()).strip()


@functools.lru_cache(maxsize=1)
def _raw_names() -> tuple[tuple[str, str], ...]:
    """(raw value, alpha-3) in priority order: alpha-3, alpha-2, numeric, short name,
    official and common names, variants. An earlier entry wins a conflicting key."""
    tiers: list[list[tuple[str, str]]] = [[] for _ in range(6)]
    for c in pycountry.countries:
        a3 = c.alpha_3
        tiers[0].append((a3, a3))
        tiers[1].append((c.alpha_2, a3))
        tiers[2].append((c.numeric, a3))
        tiers[2].append((str(int(c.numeric)), a3))
        tiers[3].append((c.name, a3))
        for attr in ("official_name", "common_name"):
            name = getattr(c, attr, None)
            if name:
                tiers[4].append((name, a3))
    tiers[5].extend(VARIANTS.items())
    return tuple(p for tier in tiers for p in tier)


@functools.lru_cache(maxsize=1)
def lookup_pairs() -> tuple[tuple[str, str], ...]:
    """(normalised key, alpha-3) pairs, one per key (see :func:`_raw_names` for priority)."""
    out: dict[str, str] = {}
    for raw, a3 in _raw_names():
        for key in (normalise_key(raw), *sorted(_name_variants(raw))):
            if key:
                out.setdefault(key, a3)
    return tuple(sorted(out.items()))


def _name_variants(name: str) -> set[str]:
    """'Korea, Republic of' -> also 'REPUBLIC OF KOREA'; 'Bolivia, Plurinational State of'
    -> 'BOLIVIA'."""
    out = set()
    if "," in name:
        head, tail = (p.strip() for p in name.split(",", 1))
        out.add(normalise_key(f"{tail} {head}"))
        if tail.lower().endswith(" of"):
            out.add(normalise_key(head))
    if "(" in name:
        out.add(normalise_key(name.split("(", 1)[0]))
    return out


@functools.lru_cache(maxsize=1)
def _lookup() -> dict[str, str]:
    return dict(lookup_pairs())


def to_alpha3(value) -> str | None:
    """Alpha-3 code for one value, or None when it is not a recognisable country."""
    if value is None:
        return None
    return _lookup().get(normalise_key(value))


def is_alpha3(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code known to pycountry (or XKX, Kosovo)."""
    return code in EXTRA_ALPHA3 or pycountry.countries.get(alpha_3=code) is not None


def create_lookup_table(con, name: str = "country_lookup", temp: bool = False) -> str:
    """Create (or replace) a DuckDB table ``name(key VARCHAR PRIMARY KEY, alpha3 VARCHAR)``.

    Join it on ``key = SQL_KEY.format(x=<column>)``. Keys come from the Python normalisation
    and from DuckDB's own (``strip_accents``), so both spellings of a name match.
    """
    import pandas as pd
    py = pd.DataFrame(lookup_pairs(), columns=["key", "alpha3"])
    raw = pd.DataFrame(_raw_names(), columns=["raw", "alpha3"])
    raw["pri"] = range(len(raw))
    con.register("_country_py", py)
    con.register("_country_raw", raw)
    try:
        con.execute(f"""
            CREATE OR REPLACE {'TEMP ' if temp else ''}TABLE {name} AS
            WITH k AS (
                SELECT key, alpha3, -1 AS pri FROM _country_py
                UNION ALL
                SELECT {SQL_KEY.format(x='raw')}, alpha3, pri FROM _country_raw
            )
            SELECT key, arg_min(alpha3, pri) AS alpha3 FROM k WHERE key IS NOT NULL
            GROUP BY key ORDER BY key
        """)
    finally:
        con.unregister("_country_py")
        con.unregister("_country_raw")
    return name
