"""Defects of real administrative records, as parameters with defaults, and vectorised
functions that apply them.

The default rates are realistic but modest (a few per cent), so that a good linkage reaches
pairwise F1 >= 0.98 on the default world. ``crossing_missing`` is the one that bounds residence
accuracy: each lost crossing is imputed at the midpoint (RESIDENCE.md), and even with perfect
linkage the default world's status accuracy against the truth is about 99.0% at a 1% loss and
99.5% at 0.5% (the default), 100% at 0. Every rate is a probability per record (per
crossing for ``crossing_missing``/``crossing_duplicate``, per person where stated).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

#: "no date" in int-day arrays (dates before 1970 are negative, so not −1)
NONE = -(1 << 40)


@dataclass(frozen=True)
class Defects:
    """Error rates of the synthetic sources (all probabilities)."""
    typo: float = 0.02                 # one keyboard slip in a name (sub/del/transposition)
    swap_names: float = 0.01           # given and family name swapped
    variant: float = 0.08              # alternative spelling (Mohammed/Muhammad, Zhang/Chang, ...)
    dob_missing: float = 0.01          # birth date missing
    dob_day_month_swap: float = 0.005  # day and month swapped (when the day is <= 12)
    sex_missing: float = 0.005
    crossing_missing: float = 0.005    # a true crossing absent from the border file (see below)
    crossing_duplicate: float = 0.005  # a crossing recorded twice
    passport_renewal: float = 0.35     # per person: a new passport number during the period
    census_undercount_resident: float = 0.03
    census_undercount_visitor: float = 0.10
    census_undercount_hidden: float = 0.40
    census_age_only: float = 0.08      # census row with a birth year but no birth date
    register_lag_days: float = 30.0    # mean registration lag (exponential)
    register_deregistered: float = 0.35  # per emigrant: deregistered at all
    citizenship_as_name: float = 0.10  # visa rows giving a country name, not a code
    dob_unknown_day_month: float = 0.003  # visa birth dates written 00/00/YYYY (unreadable)

    def as_dict(self) -> dict:
        return asdict(self)


def chance(rng: np.random.Generator, p: float, n: int) -> np.ndarray:
    return rng.random(n) < p


def typos(values: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One keyboard error in each selected string (never in its first character): substitution,
    deletion or transposition of neighbours, in the case of the letter it replaces.

    Vectorised over a fixed-width UTF-32 code matrix; strings shorter than 3 are left alone.
    """
    out = values.copy()
    sel = np.flatnonzero(mask & pd.notna(values))
    if len(sel) == 0:
        return out
    s = np.asarray(values[sel].astype(str), dtype=str)
    lens = np.char.str_len(s)
    ok = lens >= 3
    sel, s, lens = sel[ok], s[ok], lens[ok]
    if len(sel) == 0:
        return out
    width = s.dtype.itemsize // 4
    m = s.view(np.uint32).reshape(len(s), width).copy()
    n = len(s)
    rows = np.arange(n)
    kind = rng.integers(0, 3, n)
    pos = 1 + (rng.random(n) * (lens - 2)).astype(np.int64)        # 1 .. len-2
    # substitution: a random letter of the same case
    letter = rng.integers(0, 26, n).astype(np.uint32)
    cur = m[rows, pos]
    # the case of the replaced letter; of the whole name when that is not a letter (D'Alia)
    lower_name = ((m >= 97) & (m <= 122)).any(axis=1)
    upper = np.where((cur >= 97) & (cur <= 122), False,
                     np.where((cur >= 65) & (cur <= 90), True, ~lower_name))
    newc = np.where(upper, 65 + letter, 97 + letter).astype(np.uint32)
    newc = np.where(newc == cur, np.where(upper, 65 + (letter + 1) % 26, 97 + (letter + 1) % 26),
                    newc).astype(np.uint32)
    same = m[rows, pos] == m[rows, np.minimum(pos + 1, width - 1)]
    sub = (kind == 0) | ((kind == 1) & same)      # swapping equal letters changes nothing
    m[rows[sub], pos[sub]] = newc[sub]
    # transposition of pos and pos+1
    tr = (kind == 1) & ~same
    a, b = m[rows[tr], pos[tr]].copy(), m[rows[tr], pos[tr] + 1].copy()
    m[rows[tr], pos[tr]], m[rows[tr], pos[tr] + 1] = b, a
    # deletion of pos: shift the tail left
    de = np.flatnonzero(kind == 2)
    if len(de):
        cols = np.arange(width)[None, :]
        src = cols + (cols >= pos[de, None])
        shifted = np.take_along_axis(m[de], np.minimum(src, width - 1), axis=1)
        shifted[src >= width] = 0
        m[de] = shifted
    out[sel] = m.view(f"<U{width}").ravel().astype(object)
    return out


def lengths(values: pa.Array) -> np.ndarray:
    """Character lengths of an Arrow string array (null -> 0)."""
    return pc.fill_null(pc.utf8_length(values), 0).to_numpy(zero_copy_only=False)


def truncate(values: pa.Array, width: np.ndarray | int) -> pa.Array:
    """Cut strings to ``width`` characters (MRZ name fields)."""
    w = np.broadcast_to(np.asarray(width), (len(values),))
    long = lengths(values) > w
    if not long.any():
        return values
    idx = np.flatnonzero(long)
    cut = [v[:k] for v, k in zip(values.take(pa.array(idx)).to_pylist(), w[idx])]  # the few long
    return pc.replace_with_mask(values, pa.array(long), pa.array(cut, type=pa.string()))


def typos_arrow(values: pa.Array, mask: np.ndarray, rng: np.random.Generator) -> pa.Array:
    """:func:`typos` on the selected rows of an Arrow string array."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return values
    sub = np.asarray(values.take(pa.array(idx)).to_numpy(zero_copy_only=False), dtype=object)
    new = typos(sub, np.ones(len(sub), bool), rng)
    return pc.replace_with_mask(values, pa.array(mask), pa.array(list(new), type=pa.string()))


def date_errors(days: np.ndarray, rng: np.random.Generator, missing: float,
                swap: float) -> np.ndarray:
    """Birth dates (int days since 1970-01-01, NONE = none) with some missing and some with day
    and month swapped (only where the swap gives another valid date)."""
    out = days.astype(np.int64).copy()
    n = len(out)
    cand = np.flatnonzero(chance(rng, swap, n) & (out != NONE))
    d = out[cand].astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    mo = (d.astype("datetime64[M]").astype(np.int64) % 12) + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    ok = (dd <= 12) & (dd != mo)
    out[cand[ok]] = _ymd(y[ok], dd[ok], mo[ok])
    out[chance(rng, missing, n)] = NONE
    return out


def _ymd(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since epoch of (year, month, day) arrays (valid dates)."""
    months = (y - 1970) * 12 + (m - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + d - 1
