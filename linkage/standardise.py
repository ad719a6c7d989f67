"""Linkage keys: names folded and coded, birth-date parts, cleaned document numbers.

Reads the ``records`` table (docs/internals.md) and writes ``linkage_keys``, one row per
record, keyed by ``rid`` (1..n in ``(source, record_id)`` order, so identical inputs give
identical keys). Names are folded once per *distinct* string (names repeat a lot) and the
results are joined back in DuckDB; everything else is set-based SQL.

Folding follows the usual practice for administrative linkage of names across scripts
(Christen, *Data Matching*, 2012, ch. 3): transliteration to Latin (anyascii), case folding,
punctuation and MRZ filler (``<``) to spaces, removal of name particles (al, el, bin, van,
de, ...), tokenisation, an order-free token key for swapped/reordered names, and phonetic
codes from jellyfish (NYSIIS, Metaphone, Match Rating codex) plus a transliteration
skeleton (digraphs of competing romanisations folded — Wade-Giles ``ch`` / pinyin ``zh``,
``kh``/``h``, ``x``/``ks`` — then the Match Rating codex) so that Zhang/Chang agree.
"""

from __future__ import annotations

import re

import jellyfish
import pandas as pd
from anyascii import anyascii

#: Name particles dropped from names (as separate tokens; "al-Hassan" -> "hassan").
PARTICLES: frozenset[str] = frozenset({
    "al", "el", "bin", "ben", "ibn", "bint", "binti", "abu", "ould", "van", "von",
    "der", "den", "de", "da", "di", "du", "del", "della", "dela", "la", "le", "dos", "das",
    "do", "des", "ter", "ten",
})

#: Digraphs of competing romanisations, folded before the skeleton code (order matters).
_SKELETON_RULES: tuple[tuple[str, str], ...] = (
    ("tsch", "ch"), ("dzh", "j"), ("tch", "ch"), ("sch", "sh"), ("zh", "ch"), ("dj", "j"),
    ("kh", "h"), ("ph", "f"), ("ck", "k"), ("x", "ks"), ("q", "k"), ("w", "v"), ("y", "i"),
    ("ou", "u"), ("oo", "u"), ("ee", "i"),
)

_NON_ALPHA = re.compile(r"[^a-z ]+")
_APOSTROPHES = re.compile(r"['`\u2019\u02bc\u02bb]")


def fold_names(values: pd.Series) -> pd.Series:
    """Fold raw names to space-separated Latin lower-case tokens without particles.

    Vectorised over a Series of *distinct* names; NULL stays NULL, and a name that is
    nothing but particles (e.g. a family name "De") keeps its tokens.
    """
    s = values.astype("string")
    latin = s.map(lambda v: anyascii(v) if isinstance(v, str) else v, na_action="ignore")
    low = latin.str.lower().str.replace(_APOSTROPHES, "", regex=True)
    low = low.str.replace("<", " ", regex=False).str.replace(_NON_ALPHA, " ", regex=True)
    tokens = low.str.split()
    kept = tokens.map(lambda t: [w for w in t if w not in PARTICLES] or t
                      if isinstance(t, list) else t, na_action="ignore")
    out = kept.map(lambda t: " ".join(t) if isinstance(t, list) else t, na_action="ignore")
    out = out.where(out.str.len() > 0)
    return out.astype(object).where(out.notna(), None)


def skeleton(name: str) -> str:
    """Transliteration skeleton: romanisation digraphs folded, then Match Rating codex."""
    s = name.replace(" ", "")
    for a, b in _SKELETON_RULES:
        s = s.replace(a, b)
    s = re.sub(r"c(?=[aou])", "k", s)
    return jellyfish.match_rating_codex(s) if s else ""


def phonetic_codes(std: pd.Series) -> pd.DataFrame:
    """NYSIIS, Metaphone, Match Rating codex and skeleton of folded names (distinct values)."""
    compact = std.str.replace(" ", "", regex=False)
    ok = compact.notna() & (compact.str.len() > 0)
    cols = {}
    funcs = {"nysiis": jellyfish.nysiis, "metaphone": jellyfish.metaphone,
             "mrc": jellyfish.match_rating_codex, "skel": skeleton}
    vals = compact[ok].tolist()
    for name, f in funcs.items():
        col = pd.Series([None] * len(std), index=std.index, dtype=object)
        col[ok] = [f(v) for v in vals]
        cols[name] = col
    return pd.DataFrame(cols)


def split_full_names(full: pd.Series) -> pd.DataFrame:
    """Split single-field names into (given, family), raw text, on distinct values.

    ``FAMILY<<GIVEN`` (MRZ) and ``Family, Given`` put the family name first; otherwise the
    last word is the family name and the rest the given names. The order-free token key
    and the swap levels of the model absorb a wrong guess.
    """
    s = full.astype("string")
    mrz = s.str.contains("<<", regex=False, na=False)
    comma = s.str.contains(",", regex=False, na=False) & ~mrz
    given = pd.Series(pd.NA, index=s.index, dtype="string")
    family = pd.Series(pd.NA, index=s.index, dtype="string")
    p = s[mrz].str.split("<<", n=1, expand=True)
    if len(p):
        family[mrz], given[mrz] = p[0], p[1] if 1 in p else pd.NA
    p = s[comma].str.split(",", n=1, expand=True)
    if len(p):
        family[comma], given[comma] = p[0], p[1] if 1 in p else pd.NA
    rest = ~mrz & ~comma & s.notna()
    words = s[rest].str.strip().str.rsplit(n=1, expand=True)
    if len(words):
        if 1 in words:
            has_two = words[1].notna()
            family[rest] = words[1].where(has_two, words[0])
            given[rest] = words[0].where(has_two, pd.NA)
        else:
            family[rest] = words[0]
    out = pd.DataFrame({"full_name": full, "given_raw": given, "family_raw": family})
    return out.astype(object).where(out.notna(), None)


def _present(con, table: str, cols: list[str]) -> set[str]:
    have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
    cols = [c for c in cols if c in have]
    if not cols:
        return set()
    sel = ", ".join(f'count("{c}")' for c in cols)
    counts = con.execute(f"SELECT {sel} FROM {table}").fetchall()[0]
    return {c for c, n in zip(cols, counts) if n}


class Standardiser:
    """Build the ``linkage_keys`` table from ``records``.

    Attributes after :meth:`fit`: ``fields_`` (canonical fields with at least one value),
    ``n_records_``, ``n_distinct_names_``.
    """

    KEY_FIELDS = ("given_name", "family_name", "full_name", "birth_date", "birth_year", "sex",
                  "citizenship", "birth_country", "document_number", "document_country",
                  "address", "locality", "postcode", "region")

    def __init__(self, records: str = "records", out: str = "linkage_keys"):
        self.records, self.out = records, out

    def fit(self, con) -> "Standardiser":
        rec = self.records
        self.fields_ = _present(con, rec, list(self.KEY_FIELDS))
        have = {r[0] for r in con.execute(f"DESCRIBE {rec}").fetchall()}

        def col(c, typ="VARCHAR"):
            return f'r."{c}"' if c in have else f"CAST(NULL AS {typ})"

        # 1. split full names (distinct values only)
        full = con.execute(f"SELECT DISTINCT {col('full_name')} AS f FROM {rec} r "
                           f"WHERE {col('full_name')} IS NOT NULL").df()["f"]
        split = split_full_names(full) if len(full) else pd.DataFrame(
            {"full_name": pd.Series([], dtype=object), "given_raw": pd.Series([], dtype=object),
             "family_raw": pd.Series([], dtype=object)})
        con.register("__ml_split", split)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE __ml_names AS
            SELECT r.source, r.record_id,
                   COALESCE({col('given_name')},
                            CASE WHEN {col('family_name')} IS NULL THEN s.given_raw END) AS g,
                   COALESCE({col('family_name')},
                            CASE WHEN {col('given_name')} IS NULL THEN s.family_raw END) AS f
            FROM {rec} r LEFT JOIN __ml_split s ON s.full_name = {col('full_name')}
        """)
        con.unregister("__ml_split")
        # 2. fold and code each distinct raw name once
        raw = con.execute("SELECT g AS raw FROM __ml_names WHERE g IS NOT NULL UNION "
                          "SELECT f FROM __ml_names WHERE f IS NOT NULL").df()["raw"]
        std = fold_names(raw) if len(raw) else pd.Series([], dtype=object)
        names = pd.DataFrame({"raw": raw.astype(object), "std": std})
        self.n_distinct_names_ = len(names)
        con.register("__ml_fold", names)
        con.execute("CREATE OR REPLACE TEMP TABLE __ml_fold_t AS SELECT * FROM __ml_fold")
        con.unregister("__ml_fold")
        dstd = con.execute("SELECT DISTINCT std FROM __ml_fold_t WHERE std IS NOT NULL "
                           "ORDER BY std").df()["std"]
        codes = phonetic_codes(dstd.astype(object)) if len(dstd) else pd.DataFrame(
            {k: pd.Series([], dtype=object) for k in ("nysiis", "metaphone", "mrc", "skel")})
        codes.insert(0, "std", dstd.astype(object).values)
        con.register("__ml_codes", codes)
        con.execute("CREATE OR REPLACE TEMP TABLE __ml_codes_t AS SELECT * FROM __ml_codes")
        con.unregister("__ml_codes")

        def name_cols(p, src):
            return (f"{p}.std AS {src}_std, {p}c.nysiis AS {src}_nysiis, "
                    f"{p}c.metaphone AS {src}_metaphone, {p}c.mrc AS {src}_mrc, "
                    f"{p}c.skel AS {src}_skel")

        addr = ("NULLIF(trim(regexp_replace(lower(strip_accents({c})), '[^a-z0-9]+', ' ', 'g')),"
                " '')")
        con.execute(f"""
            CREATE OR REPLACE TABLE {self.out} AS
            WITH k AS (
              SELECT r.source, r.record_id,
                     {name_cols('gf', 'given')}, {name_cols('ff', 'family')},
                     COALESCE(EXTRACT(year FROM {col('birth_date', 'DATE')}),
                              {col('birth_year', 'INTEGER')})::INTEGER AS birth_y,
                     EXTRACT(month FROM {col('birth_date', 'DATE')})::INTEGER AS birth_m,
                     EXTRACT(day FROM {col('birth_date', 'DATE')})::INTEGER AS birth_d,
                     {col('birth_date', 'DATE')} AS birth_date,
                     {col('sex')} AS sex, {col('citizenship')} AS citizenship,
                     {col('birth_country')} AS birth_country,
                     NULLIF(regexp_replace(upper({col('document_number')}), '[^A-Z0-9]', '',
                            'g'), '') AS doc,
                     {col('document_country')} AS doc_country,
                     {addr.format(c=col('address'))} AS address_std,
                     {addr.format(c=col('locality'))} AS locality_std,
                     NULLIF(regexp_replace(upper({col('postcode')}), '[^A-Z0-9]', '', 'g'), '')
                         AS postcode_std,
                     {addr.format(c=col('region'))} AS region_std
              FROM {rec} r
              JOIN __ml_names n USING (source, record_id)
              LEFT JOIN __ml_fold_t gf ON gf.raw = n.g
              LEFT JOIN __ml_codes_t gfc ON gfc.std = gf.std
              LEFT JOIN __ml_fold_t ff ON ff.raw = n.f
              LEFT JOIN __ml_codes_t ffc ON ffc.std = ff.std
            )
            SELECT row_number() OVER (ORDER BY source, record_id)::BIGINT AS rid, *,
                   NULLIF(array_to_string(list_sort(list_distinct(
                       string_split(trim(coalesce(given_std, '') || ' ' ||
                                         coalesce(family_std, '')), ' '))), ' '), '')
                       AS name_key,
                   CASE WHEN given_std IS NOT NULL OR family_std IS NOT NULL
                        THEN list_sort(list_distinct(string_split(trim(coalesce(given_std, '')
                             || ' ' || coalesce(family_std, '')), ' ')))
                   END AS name_tokens
            FROM k ORDER BY rid
        """)
        con.execute("DROP TABLE IF EXISTS __ml_names; DROP TABLE IF EXISTS __ml_fold_t; "
                    "DROP TABLE IF EXISTS __ml_codes_t")
        self.n_records_ = con.execute(f"SELECT count(*) FROM {self.out}").fetchall()[0][0]
        return self


def build_linkage_keys(con, records: str = "records", out: str = "linkage_keys") -> Standardiser:
    """Write ``out`` (default ``linkage_keys``) from ``records``; returns the fitted object."""
    return Standardiser(records, out).fit(con)


__all__ = ["PARTICLES", "Standardiser", "build_linkage_keys", "fold_names", "phonetic_codes",
           "skeleton", "split_full_names"]
