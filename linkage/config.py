"""Load and validate a miglink YAML config (DESIGN.md "Config"; API in docs/internals.md).

``load_config(path)`` returns a :class:`Config` with every default filled, or raises
:class:`~linkage.errors.MiglinkError` with one line naming the config file, the source and the
key or column at fault. Source files are checked here (they exist, their header holds every
mapped column) so that a bad config fails before any work starts.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import schema
from .errors import MiglinkError

TOP_KEYS = ("country", "sources", "linkage", "residence", "mse", "tables", "disclosure",
            "seed", "report")
SOURCE_KEYS = ("name", "kind", "path", "id", "date_format", "columns", "codes")
LINKAGE_KEYS = ("engine", "backend", "threshold", "blocking_rules", "comparisons", "pre_group",
                "one_per_person", "labels", "max_pairs", "em_blocking_rules", "clerical_band",
                "spark")
RESIDENCE_KEYS = ("rules", "reference_dates", "observed_until")
MSE_KEYS = ("lists", "strata", "method", "terms", "pthresh", "max_order", "ci", "ci_level",
            "bootstrap", "seed", "linkage_draws")
TABLES_KEYS = ("age_groups", "country_groups", "outcomes", "subgroups")
DISCLOSURE_KEYS = ("method", "threshold", "base")
REPORT_KEYS = ("title",)

ENGINES = ("splink", "recordlinkage")
BACKENDS = ("duckdb", "spark")
#: `miglink mse --method` choices, plus the Bayesian latent-class model (Manrique-Vallier
#: 2016) that the pipeline's MSE step offers beyond the command line
MSE_METHODS = ("stepwise", "aic-stepwise", "bic", "downhill", "main", "lcmcr")
MSE_CI = ("profile", "wald", "bca")

LINKAGE_DEFAULTS = {"engine": "splink", "backend": "duckdb", "threshold": 0.9}
DISCLOSURE_DEFAULTS = {"method": "suppress", "threshold": 5, "base": 3}
REPORT_DEFAULTS = {"title": "miglink report"}

#: Canonical values a code map may produce, per field.
CODE_VALUES: dict[str, frozenset[str]] = {
    "sex": schema.SEXES, "direction": schema.DIRECTIONS, "purpose": schema.PURPOSES,
}


@dataclass
class SourceConfig:
    """One entry of ``sources``: ``path`` is absolute, ``columns`` maps canonical -> column."""
    name: str
    kind: str
    path: Path
    id: str
    date_format: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    #: what :func:`linkage.ingest.inspect_file` found (format, encoding, delimiter, header)
    file: Any = field(default=None, repr=False, compare=False)

    @property
    def fields(self) -> tuple[str, ...]:
        """Canonical fields this kind may carry (person fields + its event fields)."""
        return schema.PERSON_FIELDS + schema.EVENT_FIELDS[self.kind]


@dataclass
class ResidenceConfig:
    rules: list[str] = field(default_factory=lambda: list(schema.RESIDENCE_RULES))
    reference_dates: list[dt.date] = field(default_factory=list)
    observed_until: dt.date | None = None


@dataclass
class Config:
    path: Path
    base_dir: Path
    country: str
    sources: list[SourceConfig]
    seed: int = 1
    linkage: dict = field(default_factory=lambda: dict(LINKAGE_DEFAULTS))
    residence: ResidenceConfig = field(default_factory=ResidenceConfig)
    mse: dict | None = None
    tables: dict = field(default_factory=dict)
    disclosure: dict = field(default_factory=lambda: dict(DISCLOSURE_DEFAULTS))
    report: dict = field(default_factory=lambda: dict(REPORT_DEFAULTS))

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)


# --------------------------------------------------------------------------- YAML loading
class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (YAML 1.2): codes such as ``NO`` (Norway)
    or ``y``/``n`` stay strings."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"))


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise MiglinkError("config file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MiglinkError(f"cannot read the config file ({exc})", file=path) from None
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise MiglinkError(f"{where}YAML syntax error: {exc.problem or exc.context}",
                           file=path) from None
    except yaml.YAMLError as exc:
        raise MiglinkError(f"YAML error: {exc}", file=path) from None


# --------------------------------------------------------------------------- validation
class _V:
    """Validation helpers that raise one-line errors naming the config file."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, msg: str, where: str | None = None):
        raise MiglinkError(f"{where}: {msg}" if where else msg, file=self.path)

    def mapping(self, value, where: str) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(f"must be a mapping (key: value), got {type(value).__name__}", where)
        return value

    def keys(self, d: dict, allowed: tuple[str, ...], where: str):
        for k in d:
            if k not in allowed:
                self.fail(f"unknown key {k!r} (allowed: {', '.join(allowed)})", where)

    def date(self, value, where: str) -> dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        self.fail(f"{value!r} is not a date (write YYYY-MM-DD)", where)


def _default_columns(kind: str) -> dict[str, list[str]]:
    from .resources import configs_dir
    path = configs_dir() / f"{kind}.yaml"
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader) or {}
    cols = data.get("columns") or {}
    return {f: ([c] if isinstance(c, str) else list(c)) for f, c in cols.items()}


def _check_date_format(v: _V, fmt, where: str) -> str:
    if not isinstance(fmt, str) or "%" not in fmt:
        v.fail(f"date_format {fmt!r} is not a strptime format such as '%d/%m/%Y'", where)
    import duckdb
    try:
        duckdb.connect().execute("SELECT try_strptime('2000-01-01', ?)", [fmt]).fetchone()
    except duckdb.Error as exc:
        v.fail(f"date_format {fmt!r} is not a valid strptime format "
               f"({str(exc).splitlines()[0]})", where)
    return fmt


def _source(v: _V, raw, i: int, base_dir: Path) -> SourceConfig:
    from .ingest import inspect_file

    where = f"sources[{i}]"
    if not isinstance(raw, dict):
        v.fail("must be a mapping with name, kind, path, id", where)
    name = raw.get("name")
    if name is not None:
        where = f"source {name!r}"
    v.keys(raw, SOURCE_KEYS, where)
    for k in ("name", "kind", "path", "id"):
        if raw.get(k) in (None, ""):
            v.fail(f"missing key {k!r}", where)
        if not isinstance(raw[k], (str, int)) or isinstance(raw[k], bool):
            v.fail(f"key {k!r} must be a string", where)
    name, kind, id_col = str(raw["name"]), str(raw["kind"]), str(raw["id"])
    if kind not in schema.KINDS:
        v.fail(f"unknown kind {kind!r} (allowed: {', '.join(schema.KINDS)})", where)
    path = Path(str(raw["path"])).expanduser()
    if not path.is_absolute():
        path = base_dir / path
    path = path.resolve()
    if not path.is_file():
        v.fail(f"key 'path': source file not found: {path}", where)
    date_format = raw.get("date_format")
    if date_format is not None:
        date_format = _check_date_format(v, date_format, where)

    allowed = schema.PERSON_FIELDS + schema.EVENT_FIELDS[kind]

    def check_field(f, key):
        if f not in schema.ALL_FIELDS:
            v.fail(f"{key}: unknown canonical field {f!r}", where)
        if f not in allowed:
            owners = [k for k, fs in schema.EVENT_FIELDS.items() if f in fs]
            v.fail(f"{key}: field {f!r} is an event field of kind {'/'.join(owners)}, "
                   f"not of kind {kind!r}", where)

    columns_raw = raw.get("columns")
    try:
        src = inspect_file(path)
    except MiglinkError as exc:
        v.fail(f"key 'path': {exc}", where)
    header = set(src.header)
    if columns_raw is None:
        columns = {}
        for f, candidates in _default_columns(kind).items():
            if f in allowed:
                hit = next((c for c in candidates if c in header), None)
                if hit is not None:
                    columns[f] = hit
    else:
        columns_raw = v.mapping(columns_raw, f"{where}: key 'columns'")
        columns = {}
        for f, col in columns_raw.items():
            check_field(f, "columns")
            if not isinstance(col, (str, int)) or isinstance(col, bool):
                v.fail(f"columns: {f!r} must name one column of the file", where)
            columns[str(f)] = str(col)
        for f, col in columns.items():
            if col not in header:
                v.fail(f"columns: {f!r} maps to column {col!r}, which is not in the header "
                       f"of {path.name} ({', '.join(src.header)})", where)
    if id_col not in header:
        v.fail(f"key 'id': column {id_col!r} is not in the header of {path.name} "
               f"({', '.join(src.header)})", where)
    for f in schema.REQUIRED_EVENT_FIELDS[kind]:
        if f not in columns:
            v.fail(f"columns: a {kind} source needs field {f!r} mapped (no column found)",
                   where)

    codes = {}
    for f, cmap in v.mapping(raw.get("codes"), f"{where}: key 'codes'").items():
        check_field(f, "codes")
        cmap = v.mapping(cmap, f"{where}: codes: {f}")
        out = {}
        for k, val in cmap.items():
            if val is None:
                val_s = None
            else:
                val_s = str(val)
                ok = CODE_VALUES.get(f)
                if ok is not None and val_s not in ok:
                    v.fail(f"codes: {f}: {k!r} maps to {val_s!r}, not one of "
                           f"{', '.join(sorted(ok))}", where)
                if f in schema.COUNTRY_FIELDS:
                    from .countries import to_alpha3
                    a3 = to_alpha3(val_s)
                    if a3 is None:
                        v.fail(f"codes: {f}: {k!r} maps to {val_s!r}, not a known country",
                               where)
                    val_s = a3
            out[str(k)] = val_s
        codes[str(f)] = out
    return SourceConfig(name=name, kind=kind, path=path, id=id_col, date_format=date_format,
                        columns=columns, codes=codes, file=src)


def _country(v: _V, value) -> str:
    from .countries import is_alpha3
    if not isinstance(value, str) or not is_alpha3(value.strip().upper()):
        v.fail(f"country {value!r} is not an ISO 3166-1 alpha-3 code (e.g. NZL)", "key 'country'")
    return value.strip().upper()


def load_config(path: str | Path) -> Config:
    """Read, validate and complete a config; raises MiglinkError (one line) on any problem."""
    path = Path(path).expanduser().resolve()
    v = _V(path)
    data = _read_yaml(path)
    if not isinstance(data, dict):
        v.fail("the config must be a YAML mapping with at least 'country' and 'sources'")
    v.keys(data, TOP_KEYS, "top level")
    base_dir = path.parent

    if "country" not in data:
        v.fail("missing key 'country' (the country of measurement, ISO alpha-3)", "top level")
    country = _country(v, data["country"])

    seed = data.get("seed", 1)
    if seed is None:
        seed = 1
    if not isinstance(seed, int) or isinstance(seed, bool):
        v.fail(f"seed {seed!r} must be a whole number", "key 'seed'")

    raw_sources = data.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        v.fail("'sources' must be a non-empty list", "key 'sources'")
    sources, seen = [], set()
    for i, raw in enumerate(raw_sources):
        if isinstance(raw, dict) and raw.get("name") is not None:
            name = str(raw["name"])
            if name in seen:
                v.fail(f"duplicate source name {name!r}", "key 'sources'")
            seen.add(name)
        sources.append(_source(v, raw, i, base_dir))

    # linkage
    lk = v.mapping(data.get("linkage"), "key 'linkage'")
    v.keys(lk, LINKAGE_KEYS, "linkage")
    linkage = {**LINKAGE_DEFAULTS, **{k: val for k, val in lk.items() if val is not None}}
    if linkage["engine"] not in ENGINES:
        v.fail(f"engine {linkage['engine']!r} is not one of {', '.join(ENGINES)}", "linkage")
    if linkage["backend"] not in BACKENDS:
        v.fail(f"backend {linkage['backend']!r} is not one of {', '.join(BACKENDS)}", "linkage")
    thr = linkage["threshold"]
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0 < thr < 1:
        v.fail(f"threshold {thr!r} must be a probability strictly between 0 and 1", "linkage")
    linkage["threshold"] = float(thr)

    # residence
    rs = v.mapping(data.get("residence"), "key 'residence'")
    v.keys(rs, RESIDENCE_KEYS, "residence")
    rules = rs.get("rules")
    if rules is None:
        rules = list(schema.RESIDENCE_RULES)
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not rules:
        v.fail("rules must be a list such as ['12/16', '6/12']", "residence")
    for r in rules:
        if str(r) not in schema.RESIDENCE_RULES:
            v.fail(f"unknown rule {r!r} (allowed: {', '.join(schema.RESIDENCE_RULES)}; "
                   "quote them in YAML)", "residence: rules")
    refs = rs.get("reference_dates") or []
    if not isinstance(refs, list):
        refs = [refs]
    reference_dates = sorted({v.date(d, "residence: reference_dates") for d in refs})
    ou = rs.get("observed_until")
    observed_until = None if ou is None else v.date(ou, "residence: observed_until")
    residence = ResidenceConfig([str(r) for r in rules], reference_dates, observed_until)

    # mse
    mse = None
    if data.get("mse") is not None:
        mse = dict(v.mapping(data["mse"], "key 'mse'"))
        v.keys(mse, MSE_KEYS, "mse")
        lists = mse.get("lists")
        if not isinstance(lists, list) or len(lists) < 2:
            v.fail("lists must name at least two sources of kind generic", "mse")
        by_name = {s.name: s for s in sources}
        for n in lists:
            if str(n) not in by_name:
                v.fail(f"lists: {n!r} is not a source of this config", "mse")
            if by_name[str(n)].kind != "generic":
                v.fail(f"lists: source {n!r} is of kind {by_name[str(n)].kind!r}, "
                       "not generic", "mse")
        if len(set(map(str, lists))) != len(lists):
            v.fail("lists: a source is named twice", "mse")
        mse["lists"] = [str(n) for n in lists]
        strata = mse.get("strata") or []
        if isinstance(strata, str):
            strata = [strata]
        for s in strata:
            if s not in schema.PERSON_FIELDS:
                v.fail(f"strata: {s!r} is not a canonical person field", "mse")
        mse["strata"] = list(strata)
        mse.setdefault("method", "stepwise")
        if mse["method"] not in MSE_METHODS:
            v.fail(f"method {mse['method']!r} is not one of {', '.join(MSE_METHODS)}", "mse")
        if mse.get("ci") is not None and mse["ci"] not in MSE_CI:
            v.fail(f"ci {mse['ci']!r} is not one of {', '.join(MSE_CI)}", "mse")

    tables = dict(v.mapping(data.get("tables"), "key 'tables'"))
    v.keys(tables, TABLES_KEYS, "tables")

    disc = v.mapping(data.get("disclosure"), "key 'disclosure'")
    v.keys(disc, DISCLOSURE_KEYS, "disclosure")
    disclosure = {**DISCLOSURE_DEFAULTS, **{k: val for k, val in disc.items() if val is not None}}
    for k in ("threshold", "base"):
        val = disclosure[k]
        if isinstance(val, bool) or not isinstance(val, int) or val < (0 if k == "threshold" else 1):
            v.fail(f"{k} {val!r} must be a whole number >= {0 if k == 'threshold' else 1}",
                   "disclosure")
    if not isinstance(disclosure["method"], str):
        v.fail(f"method {disclosure['method']!r} must be a string", "disclosure")

    rep = v.mapping(data.get("report"), "key 'report'")
    v.keys(rep, REPORT_KEYS, "report")
    report = {**REPORT_DEFAULTS, **{k: val for k, val in rep.items() if val is not None}}

    return Config(path=path, base_dir=base_dir, country=country, sources=sources, seed=seed,
                  linkage=linkage, residence=residence, mse=mse, tables=tables,
                  disclosure=disclosure, report=report)
