"""load_config: defaults, default column mappings and every one-line validation error."""

from __future__ import annotations

import datetime as dt

import pytest
import yaml

from linkage.config import load_config
from linkage.errors import MiglinkError
from linkage.resources import configs_dir

BORDER = dict(name="border", kind="border", id="cid",
              header=["cid", "first_name", "dob", "crossing_date", "direction"],
              rows=[["1", "Ann", "1990-01-01", "2020-01-01", "in"]],
              columns={"given_name": "first_name", "birth_date": "dob",
                       "crossing_date": "crossing_date", "direction": "direction"})
POLICE = dict(name="police", kind="generic", id="id", header=["id", "given_name", "sex"],
              rows=[["p1", "Ann", "F"]])
NGO = dict(POLICE, name="ngo")


def test_valid_config_fills_defaults(tmp_path, write_config):
    path = write_config(tmp_path, [BORDER], country="nzl",
                        residence={"reference_dates": ["2023-12-31", dt.date(2022, 12, 31)]})
    cfg = load_config(path)
    assert cfg.path == path.resolve() and cfg.base_dir == tmp_path.resolve()
    assert cfg.country == "NZL" and cfg.seed == 1
    assert cfg.linkage == {"engine": "splink", "backend": "duckdb", "threshold": 0.9}
    assert cfg.residence.rules == ["12/16", "6/12", "12/12"]
    assert cfg.residence.reference_dates == [dt.date(2022, 12, 31), dt.date(2023, 12, 31)]
    assert cfg.residence.observed_until is None
    assert cfg.disclosure == {"method": "suppress", "threshold": 5, "base": 3}
    assert cfg.mse is None and cfg.tables == {} and cfg.report["title"]
    s = cfg.source("border")
    assert s.path == (tmp_path / "border.csv").resolve() and s.path.is_absolute()
    assert s.kind == "border" and s.id == "cid" and s.date_format is None
    assert s.columns == BORDER["columns"] and s.codes == {}
    with pytest.raises(KeyError):
        cfg.source("nope")


def test_explicit_values_kept(tmp_path, write_config):
    path = write_config(tmp_path, [dict(BORDER, date_format="%d/%m/%Y",
                                        codes={"direction": {"A": "in", "D": "out"},
                                               "citizenship": {"NO": "NOR", "9": None}}),
                                   POLICE, NGO],
                        seed=7, linkage={"threshold": 0.8, "backend": "spark"},
                        residence={"rules": ["6/12"], "reference_dates": ["2023-06-30"],
                                   "observed_until": "2024-12-31"},
                        mse={"lists": ["police", "ngo"], "strata": ["sex"]},
                        disclosure={"threshold": 10})
    cfg = load_config(path)
    assert cfg.seed == 7
    assert cfg.linkage == {"engine": "splink", "backend": "spark", "threshold": 0.8}
    assert cfg.residence.rules == ["6/12"]
    assert cfg.residence.observed_until == dt.date(2024, 12, 31)
    assert cfg.mse["lists"] == ["police", "ngo"] and cfg.mse["method"] == "stepwise"
    assert cfg.disclosure == {"method": "suppress", "threshold": 10, "base": 3}
    s = cfg.source("border")
    assert s.date_format == "%d/%m/%Y"
    # YAML 1.1 would read NO as false: codes keep it as the string "NO"
    assert s.codes == {"direction": {"A": "in", "D": "out"},
                       "citizenship": {"NO": "NOR", "9": None}}


def test_yaml_no_is_not_false(tmp_path, write_config):
    path = write_config(tmp_path, [BORDER])
    text = path.read_text().replace("  id: cid", "  id: cid\n  codes: {citizenship: {NO: NOR, yes: NZL}}")
    path.write_text(text)
    assert load_config(path).source("border").codes["citizenship"] == {"NO": "NOR", "yes": "NZL"}


def test_default_mapping_keeps_only_columns_in_file(tmp_path, write_config):
    src = dict(name="b", kind="border", id="id",
               header=["id", "given_name", "surname", "birth_date", "crossing_date",
                       "direction", "nationality", "unrelated"], rows=[])
    cfg = load_config(write_config(tmp_path, [src]))
    assert cfg.source("b").columns == {
        "given_name": "given_name", "family_name": "surname", "birth_date": "birth_date",
        "citizenship": "nationality", "crossing_date": "crossing_date",
        "direction": "direction"}


def test_default_mapping_is_kind_specific(tmp_path, write_config):
    # a generic source never picks up event fields, even when the file has such a column
    src = dict(name="g", kind="generic", id="id", header=["id", "sex", "crossing_date"])
    assert load_config(write_config(tmp_path, [src])).source("g").columns == {"sex": "sex"}


def test_configs_dir_has_one_mapping_per_kind():
    from linkage import schema
    d = configs_dir()
    for kind in schema.KINDS:
        cols = yaml.safe_load((d / f"{kind}.yaml").read_text())["columns"]
        assert set(cols) == set(schema.PERSON_FIELDS) | set(schema.EVENT_FIELDS[kind])


def _error(tmp_path, write_config, sources, **top) -> str:
    path = write_config(tmp_path, sources, **top)
    with pytest.raises(MiglinkError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg and "config.yaml" in msg
    return msg


@pytest.mark.parametrize("sources, top, expected", [
    ([BORDER], {"colour": 1}, ["top level", "'colour'"]),
    ([dict(BORDER, colums={})], {}, ["source 'border'", "'colums'"]),
    ([BORDER], {"linkage": {"engin": "splink"}}, ["linkage", "'engin'"]),
    ([BORDER], {"residence": {"rule": ["6/12"]}}, ["residence", "'rule'"]),
    ([BORDER, POLICE, NGO], {"mse": {"lists": ["police", "ngo"], "metod": "bic"}},
     ["mse", "'metod'"]),
    ([BORDER], {"tables": {"age": 1}}, ["tables", "'age'"]),
    ([BORDER], {"disclosure": {"treshold": 3}}, ["disclosure", "'treshold'"]),
    ([BORDER], {"report": {"subtitle": "x"}}, ["report", "'subtitle'"]),
    ([dict(BORDER, columns={**BORDER["columns"], "nickname": "first_name"})], {},
     ["source 'border'", "unknown canonical field 'nickname'"]),
    ([dict(BORDER, columns={**BORDER["columns"], "valid_from": "dob"})], {},
     ["source 'border'", "'valid_from'", "kind visa"]),
    ([dict(BORDER, codes={"census_date": {"a": "b"}})], {},
     ["source 'border'", "codes", "'census_date'"]),
    ([dict(BORDER, columns={**BORDER["columns"], "family_name": "surname"})], {},
     ["source 'border'", "'family_name'", "'surname'", "not in the header"]),
    ([dict(BORDER, kind="airport")], {}, ["source 'border'", "unknown kind 'airport'"]),
    ([BORDER, dict(BORDER, path="other.csv")], {}, ["duplicate source name 'border'"]),
    ([{k: v for k, v in BORDER.items() if k != "id"}], {}, ["source 'border'", "'id'"]),
    ([dict(BORDER, id="crossing_id")], {}, ["source 'border'", "'crossing_id'", "header"]),
    ([BORDER], {"residence": {"rules": ["6/12", "9/12"]}}, ["residence", "'9/12'"]),
    ([BORDER], {"residence": {"reference_dates": ["2023-13-45"]}},
     ["reference_dates", "'2023-13-45'"]),
    ([BORDER], {"residence": {"observed_until": "soon"}}, ["observed_until", "'soon'"]),
    ([BORDER, POLICE], {"mse": {"lists": ["police", "church"]}}, ["mse", "'church'"]),
    ([BORDER, POLICE], {"mse": {"lists": ["police", "border"]}},
     ["mse", "'border'", "not generic"]),
    ([BORDER, POLICE, NGO], {"mse": {"lists": ["police", "ngo"], "strata": ["hair"]}},
     ["strata", "'hair'"]),
    ([BORDER, POLICE, NGO], {"mse": {"lists": ["police", "ngo"], "method": "magic"}},
     ["mse", "'magic'"]),
    ([BORDER], {"linkage": {"engine": "dedupe"}}, ["linkage", "'dedupe'"]),
    ([BORDER], {"linkage": {"backend": "polars"}}, ["linkage", "'polars'"]),
    ([BORDER], {"linkage": {"threshold": 1.5}}, ["linkage", "threshold 1.5"]),
    ([BORDER], {"linkage": {"threshold": "high"}}, ["linkage", "threshold 'high'"]),
    ([BORDER], {"seed": "one"}, ["seed", "'one'"]),
    ([BORDER], {"disclosure": {"threshold": -1}}, ["disclosure", "threshold -1"]),
    ([dict(BORDER, columns={"given_name": "first_name", "crossing_date": "crossing_date"})],
     {}, ["source 'border'", "'direction'"]),
    ([dict(BORDER, codes={"sex": {"1": "male"}})], {}, ["source 'border'", "sex", "'male'"]),
    ([dict(BORDER, codes={"direction": {"A": "arrive"}})], {},
     ["source 'border'", "direction", "'arrive'"]),
    ([dict(BORDER, codes={"citizenship": {"K": "Narnia"}})], {},
     ["source 'border'", "citizenship", "'Narnia'"]),
    ([dict(BORDER, date_format="dd/mm/yyyy")], {}, ["source 'border'", "'dd/mm/yyyy'"]),
    ([dict(BORDER, date_format="%Q/%m")], {}, ["source 'border'", "'%Q/%m'"]),
])
def test_config_errors(tmp_path, write_config, sources, top, expected):
    msg = _error(tmp_path, write_config, sources, **top)
    for part in expected:
        assert part in msg, (part, msg)


@pytest.mark.parametrize("country", ["NZ", "New Zealand", "ZZZ", 554, None])
def test_bad_country(tmp_path, write_config, country):
    msg = _error(tmp_path, write_config, [BORDER], country=country)
    assert "country" in msg


def test_missing_country(tmp_path, write_config):
    path = write_config(tmp_path, [BORDER])
    path.write_text(path.read_text().replace("country: NZL\n", ""))
    with pytest.raises(MiglinkError, match=r"config\.yaml: top level: missing key 'country'"):
        load_config(path)


def test_kosovo_is_a_valid_country(tmp_path, write_config):
    assert load_config(write_config(tmp_path, [BORDER], country="XKX")).country == "XKX"


def test_missing_source_file(tmp_path, write_config):
    src = {k: v for k, v in BORDER.items() if k not in ("header", "rows")}
    msg = _error(tmp_path, write_config, [dict(src, path="data/missing.csv")])
    assert "source 'border'" in msg and "'path'" in msg and "missing.csv" in msg


@pytest.mark.parametrize("data, expected", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary"),
    (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "Excel"),
])
def test_unreadable_source_files(tmp_path, write_config, data, expected):
    src = {k: v for k, v in BORDER.items() if k not in ("header", "rows")}
    msg = _error(tmp_path, write_config, [dict(src, data=data)])
    assert "source 'border'" in msg and "border.csv" in msg and expected in msg


def test_yaml_syntax_error_names_line(tmp_path, write_config):
    path = write_config(tmp_path, [BORDER])
    path.write_text(path.read_text() + "linkage: {engine: splink\nseed: [1\n")
    with pytest.raises(MiglinkError) as info:
        load_config(path)
    msg = str(info.value)
    assert "\n" not in msg and "config.yaml" in msg and "YAML syntax error" in msg
    assert "line " in msg


def test_missing_config_file(tmp_path):
    with pytest.raises(MiglinkError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_not_a_mapping(tmp_path):
    (tmp_path / "c.yaml").write_text("- just\n- a list\n")
    with pytest.raises(MiglinkError, match="c.yaml"):
        load_config(tmp_path / "c.yaml")


def test_header_checked_for_bom_latin1_semicolon_and_parquet(tmp_path, write_config):
    import pandas as pd
    (tmp_path / "bom.csv").write_bytes("\ufeffcid;prénom\n1;Zoë\n".encode("utf-8"))
    (tmp_path / "lat.csv").write_bytes("cid,prénom\n1,Zoë\n".encode("latin-1"))
    pd.DataFrame({"cid": ["1"], "prénom": ["Zoë"]}).to_parquet(tmp_path / "p.parquet")
    sources = [dict(name=n, kind="generic", id="cid", path=p, columns={"given_name": "prénom"})
               for n, p in (("bom", "bom.csv"), ("lat", "lat.csv"), ("pq", "p.parquet"))]
    cfg = load_config(write_config(tmp_path, sources))
    assert [s.columns for s in cfg.sources] == [{"given_name": "prénom"}] * 3
    assert cfg.source("bom").file.delimiter == ";"
    assert cfg.source("lat").file.encoding == "latin-1"
    assert cfg.source("pq").file.format == "parquet"
