"""Capture patterns, hierarchical log-linear terms and design matrices.

A table over K lists has the 2^K − 1 observable capture patterns (the all-zero pattern is the
dark figure). Pattern ``p`` (an integer) is on list ``k`` when bit ``k`` is set; cells are
ordered by that integer. A *term* is a sorted tuple of list indices (``(0, 1)`` is the
interaction of lists 1 and 2); a *model* is the hierarchical closure of its interaction terms
(order ≥ 2; main effects are always in). Conventions: shared/reference/mse/README.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations
import re

import numpy as np

from linkage.errors import MiglinkError

Term = tuple[int, ...]
Model = tuple[Term, ...]


def closure(terms) -> Model:
    """Hierarchical closure of interaction terms (every sub-term of order ≥ 2), sorted by
    order then lexicographically."""
    out: set[Term] = set()
    for t in terms:
        t = tuple(sorted(set(t)))
        for r in range(2, len(t) + 1):
            out.update(combinations(t, r))
    return tuple(sorted(out, key=lambda t: (len(t), t)))


def generators(model: Model) -> Model:
    """Maximal terms of a hierarchical model (its generating class, interactions only)."""
    s = [set(t) for t in model]
    gens = [t for t, st in zip(model, s) if not any(st < o for o in s)]
    return tuple(sorted(gens, key=lambda t: (-len(t), t)))


def is_hierarchical(model) -> bool:
    m = set(model)
    return all(sub in m for t in m for sub in combinations(t, len(t) - 1) if len(sub) >= 2)


def r_string(model: Model, k: int) -> str:
    """R-style generating class, e.g. ``[12,3]`` (1-based list numbers; main effects of lists
    in no interaction listed last)."""
    gens = generators(model)
    covered = {i for t in gens for i in t}
    parts = ["".join(str(i + 1) for i in t) for t in gens]
    parts += [str(i + 1) for i in range(k) if i not in covered]
    return "[" + ",".join(parts) + "]"


def parse_r_string(text: str, k: int) -> Model:
    """Parse ``[12,23]`` (1-based digits) into a model."""
    body = text.strip().strip("[]")
    terms = []
    for part in body.split(","):
        part = part.strip()
        if len(part) >= 2:
            terms.append(tuple(int(c) - 1 for c in part))
    return closure(terms)


def term_names(term: Term, lists) -> str:
    return ":".join(lists[i] for i in term)


@dataclass
class CaptureTable:
    """Counts of the 2^K − 1 observable capture patterns of K named lists.

    ``counts[c]`` is the number of persons with pattern ``c + 1`` (bit k = on list k)."""

    lists: list[str]
    counts: np.ndarray
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        self.lists = [str(x) for x in self.lists]
        self.counts = np.asarray(self.counts, dtype=float)
        k = len(self.lists)
        if k < 2:
            raise MiglinkError(f"MSE needs at least 2 lists, got {k}")
        if self.counts.shape != (2 ** k - 1,):
            raise ValueError("counts must have 2^K - 1 entries")

    @property
    def k(self) -> int:
        return len(self.lists)

    @property
    def n(self) -> float:
        return float(self.counts.sum())

    @cached_property
    def patterns(self) -> np.ndarray:
        """(2^K − 1) × K 0/1 matrix of the observable patterns."""
        return patterns(self.k)

    def with_counts(self, counts) -> "CaptureTable":
        """Same lists and cached design, new counts (for bootstrap replicates)."""
        t = CaptureTable.__new__(CaptureTable)
        t.lists, t.counts, t._cache = self.lists, np.asarray(counts, dtype=float), self._cache
        t.__dict__["patterns"] = self.patterns
        return t

    @classmethod
    def from_dict(cls, lists, counts: dict) -> "CaptureTable":
        """From ``{"0101": n, ...}`` where character k is membership of ``lists[k]``."""
        k = len(lists)
        y = np.zeros(2 ** k - 1)
        for key, v in counts.items():
            p = sum(1 << i for i, ch in enumerate(key) if ch == "1")
            if p == 0:
                raise ValueError("the all-zero pattern is unobserved")
            y[p - 1] += v
        return cls(list(lists), y)

    def term_column(self, term: Term) -> np.ndarray:
        """Boolean mask of the cells on every list of ``term`` (cached per K)."""
        return _term_column(self.k, term)

    def overlap(self, term: Term) -> float:
        """Number of observed persons on every list of ``term``."""
        return float(self.counts[self.term_column(term)].sum())

    def parse_terms(self, text: str, *, file: str | None = None) -> Model:
        """Parse ``"A:B,B:C"`` (list names) into a hierarchical model."""
        idx = {name: i for i, name in enumerate(self.lists)}
        terms = []
        for part in re.split(r"[,\s]+", text.strip()):
            if not part:
                continue
            names = part.split(":")
            missing = [n for n in names if n not in idx]
            if missing:
                raise MiglinkError(f"--terms names {missing[0]!r}, which is not a list "
                                   f"(lists: {', '.join(self.lists)})", file=file)
            t = tuple(sorted({idx[n] for n in names}))
            if len(t) >= 2:
                terms.append(t)
        return closure(terms)


_PATTERNS: dict[int, np.ndarray] = {}
#: design matrices kept per table (bootstrap replicates share one cache)
_CACHE_MAX = 4096


def patterns(k: int) -> np.ndarray:
    if k not in _PATTERNS:
        p = np.arange(1, 2 ** k)
        _PATTERNS[k] = ((p[:, None] >> np.arange(k)[None, :]) & 1).astype(np.int8)
    return _PATTERNS[k]


_COLUMNS: dict[tuple[int, Term], np.ndarray] = {}


def _term_column(k: int, term: Term) -> np.ndarray:
    col = _COLUMNS.get((k, term))
    if col is None:
        col = patterns(k)[:, list(term)].all(axis=1)
        col.setflags(write=False)
        _COLUMNS[(k, term)] = col
    return col


def all_pairs(k: int) -> list[Term]:
    return list(combinations(range(k), 2))


def design(table: CaptureTable, terms: Model, *, dark: bool = False) -> np.ndarray:
    """Design matrix [intercept, main effects, interaction terms] over all observable cells
    (and, with ``dark``, a last row for the all-zero pattern: intercept only). Cached."""
    key = ("X", terms, dark)
    X = table._cache.get(key)
    if X is None:
        P = table.patterns.astype(float)
        cols = [np.ones(len(P)), *P.T]
        cols += [P[:, list(t)].prod(axis=1) for t in terms]
        X = np.column_stack(cols)
        if dark:
            z = np.zeros((1, X.shape[1]))
            z[0, 0] = 1.0
            X = np.vstack([X, z])
        X.setflags(write=False)
        if len(table._cache) < _CACHE_MAX:
            table._cache[key] = X
    return X


def hierarchical_models(k: int, max_order: int, limit: int | None = None):
    """All hierarchical models on ``k`` lists whose terms have order ≤ ``max_order``, in a
    fixed order (fewer, earlier terms first per order). Raises ``OverflowError`` once more than
    ``limit`` models would be produced."""
    max_order = max(1, min(max_order, k))
    out: list[Model] = []
    by_order = {r: list(combinations(range(k), r)) for r in range(2, max_order + 1)}

    def rec(order: int, chosen: frozenset):
        if order > max_order:
            out.append(tuple(sorted(chosen, key=lambda t: (len(t), t))))
            if limit is not None and len(out) > limit:
                raise OverflowError(len(out))
            return
        cand = [t for t in by_order[order]
                if all(s in chosen for s in combinations(t, order - 1))] if order > 2 \
            else by_order[2]
        n = len(cand)
        for mask in range(2 ** n):
            sel = frozenset(cand[i] for i in range(n) if mask >> i & 1)
            rec(order + 1, chosen | sel)

    rec(2, frozenset())
    return out


def count_hierarchical_models(k: int, max_order: int, limit: int) -> int | None:
    """Number of models ``hierarchical_models`` would give, or None when above ``limit``."""
    if max_order <= 2:
        n = 2 ** (k * (k - 1) // 2)
        return n if n <= limit else None
    try:
        return len(hierarchical_models(k, max_order, limit))
    except OverflowError:
        return None
