"""ingest(): table schemas, rejection rules, field issues, codes, countries, dates, bad files,
and the row-accounting invariant (input rows = records + rejected, for every source)."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linkage import schema
from linkage.config import load_config
from linkage.countries import SQL_KEY, create_lookup_table, to_alpha3
from linkage.errors import MiglinkError
from linkage.ingest import (EVENT_COLUMNS, RECORD_COLUMNS, _count_physical_rows, date_shape,
                            ingest)

BORDER_HEADER = ["cid", "first_name", "dob", "crossing_date", "direction", "nationality"]
BORDER_COLUMNS = {"given_name": "first_name", "birth_date": "dob",
                  "crossing_date": "crossing_date", "direction": "direction",
                  "citizenship": "nationality"}


def border(rows, **kw):
    return dict(dict(name="border", kind="border", id="cid", header=BORDER_HEADER, rows=rows,
                     columns=BORDER_COLUMNS), **kw)


def run(tmp_path, write_config, sources, **top):
    from conftest import run_ingest
    con, _cfg, counts = run_ingest(tmp_path, sources, **top)
    return con, counts


def rows(con, sql):
    return con.execute(sql).fetchall()


# ----------------------------------------------------------------------------- schemas
def test_table_schemas_match_internals(tmp_path, write_config):
    con, _ = run(tmp_path, write_config, [border([["1", "Ann", "1990-01-01", "2020-01-01",
                                                   "in", "NZ"]])])
    def cols(t):
        return [(n, ty) for n, ty, *_ in rows(con, f"DESCRIBE {t}")]
    assert cols("records")[:4] == [("source", "VARCHAR"), ("record_id", "VARCHAR"),
                                   ("kind", "VARCHAR"), ("row_number", "BIGINT")]
    assert [n for n, _ in cols("records")][4:4 + len(schema.PERSON_FIELDS)] == \
        list(schema.PERSON_FIELDS)
    assert set(n for n, _ in cols("records")) == {"source", "record_id", "kind",
                                                  "row_number"} | set(schema.ALL_FIELDS)
    assert cols("records") == list(RECORD_COLUMNS)
    types = dict(cols("records"))
    for f in schema.DATE_FIELDS:
        assert types[f] == "DATE"
    assert types["birth_year"] == types["year_of_arrival"] == "INTEGER"
    assert cols("events") == list(EVENT_COLUMNS)
    assert cols("rejected") == [("source", "VARCHAR"), ("row_number", "BIGINT"),
                                ("reason", "VARCHAR"), ("raw", "VARCHAR")]
    assert [n for n, _ in cols("field_issues")] == ["source", "record_id", "field",
                                                    "raw_value", "problem"]


def test_basic_border_ingest(tmp_path, write_config):
    con, counts = run(tmp_path, write_config, [border([
        ["1", " Ann ", "1990-01-31", "2020-01-01", "in", "New Zealand"],
        ["2", "", "", "2020-01-02", "OUT", "nz"],
    ])])
    assert counts == {"border": {"input_rows": 2, "accepted": 2, "rejected": 0,
                                 "field_issues": 0}}
    assert rows(con, "SELECT source, record_id, kind, row_number, given_name, birth_date, "
                     "crossing_date, direction, citizenship FROM records ORDER BY row_number") == [
        ("border", "1", "border", 1, "Ann", dt.date(1990, 1, 31), dt.date(2020, 1, 1), "in",
         "NZL"),
        ("border", "2", "border", 2, None, None, dt.date(2020, 1, 2), "out", "NZL")]
    assert rows(con, "SELECT record_id, event_date, event_type, event_seq, direction "
                     "FROM events ORDER BY event_seq") == [
        ("1", dt.date(2020, 1, 1), "crossing_in", 1, "in"),
        ("2", dt.date(2020, 1, 2), "crossing_out", 2, "out")]


# ----------------------------------------------------------------------------- rejection
def test_duplicate_and_missing_ids_rejected(tmp_path, write_config):
    con, counts = run(tmp_path, write_config, [border([
        ["1", "A", "", "2020-01-01", "in", ""],
        ["2", "B", "", "2020-01-01", "in", ""],
        ["2", "C", "", "2020-01-02", "out", ""],
        ["", "D", "", "2020-01-01", "in", ""],
        ["   ", "E", "", "2020-01-01", "in", ""],
        ["3", "F", "", "2020-01-01", "in", ""],
        ["2", "G", "", "2020-01-03", "in", ""],
    ])])
    assert counts["border"] == {"input_rows": 7, "accepted": 2, "rejected": 5,
                                "field_issues": 0}
    rej = rows(con, "SELECT row_number, split_part(reason, ':', 1) FROM rejected "
                    "ORDER BY row_number")
    assert rej == [(2, "duplicate_id"), (3, "duplicate_id"), (4, "missing_id"),
                   (5, "missing_id"), (7, "duplicate_id")]
    assert "3 rows" in rows(con, "SELECT reason FROM rejected WHERE row_number = 2")[0][0]
    assert json.loads(rows(con, "SELECT raw FROM rejected WHERE row_number = 3")[0][0]) == {
        "cid": "2", "first_name": "C", "dob": None, "crossing_date": "2020-01-02",
        "direction": "out", "nationality": None}
    assert rows(con, "SELECT record_id, row_number FROM records ORDER BY 2") == [
        ("1", 1), ("3", 6)]


def test_border_rows_without_readable_crossing_rejected(tmp_path, write_config):
    con, counts = run(tmp_path, write_config, [border([
        ["1", "A", "", "", "in", ""],
        ["2", "A", "", "2020-02-30", "in", ""],
        ["3", "A", "", "yesterday", "in", ""],
        ["4", "A", "", "2020-01-01", "", ""],
        ["5", "A", "", "2020-01-01", "sideways", ""],
        ["6", "A", "", "2020-01-01", "arrival", ""],
    ])])
    assert counts["border"]["rejected"] == 5 and counts["border"]["accepted"] == 1
    assert rows(con, "SELECT row_number, reason FROM rejected ORDER BY 1") == [
        (1, "unreadable_crossing_date: empty"),
        (2, "unreadable_crossing_date: cannot read 2020-02-30"),
        (3, "unreadable_crossing_date: cannot read yesterday"),
        (4, "unreadable_direction: empty"),
        (5, "unreadable_direction: cannot read sideways")]
    assert rows(con, "SELECT event_type FROM events") == [("crossing_in",)]


# ----------------------------------------------------------------------------- field issues
def test_unreadable_optional_values_become_null_with_issue(tmp_path, write_config):
    src = dict(name="reg", kind="register", id="id",
               header=["id", "birth_date", "birth_year", "sex", "birth_country",
                       "registration_date"],
               rows=[["r1", "1990-02-31", "1990", "F", "Atlantis", "2020-01-01"],
                     ["r2", "31.12.1990", "19x0", "female", "DE", "2020-1-1"],
                     ["r3", "1990-12-31", "1990.0", "2", "", "20200101"],
                     ["r4", "", "1990.5", "", "Deutschland", ""]])
    con, counts = run(tmp_path, write_config, [src])
    assert counts["reg"] == {"input_rows": 4, "accepted": 4, "rejected": 0, "field_issues": 8}
    got = set(rows(con, "SELECT record_id, field, raw_value, problem FROM field_issues"))
    assert got == {
        ("r1", "birth_date", "1990-02-31", "impossible date"),
        ("r1", "birth_country", "Atlantis", "unknown country"),
        ("r2", "birth_date", "31.12.1990", "unreadable date"),
        ("r2", "birth_year", "19x0", "unreadable number"),
        ("r3", "sex", "2", "unknown code"),
        ("r3", "registration_date", "20200101", "unreadable date"),
        ("r4", "birth_year", "1990.5", "unreadable number"),
        ("r4", "birth_country", "Deutschland", "unknown country"),
    }
    assert rows(con, "SELECT record_id, birth_date, birth_year, sex, birth_country, "
                     "registration_date FROM records ORDER BY row_number") == [
        ("r1", None, 1990, "F", None, dt.date(2020, 1, 1)),
        ("r2", None, None, "F", "DEU", dt.date(2020, 1, 1)),
        ("r3", dt.date(1990, 12, 31), 1990, None, None, None),
        ("r4", None, None, None, None, None)]


@pytest.mark.parametrize("fmt, value, expected, problem", [
    ("%d/%m/%Y", "05/01/1990", dt.date(1990, 1, 5), None),
    ("%d/%m/%Y", "5/1/1990", dt.date(1990, 1, 5), None),
    ("%d/%m/%Y", "31/02/1990", None, "impossible date"),
    ("%d/%m/%Y", "1990-01-05", None, "unreadable date"),
    ("%m/%d/%Y", "01/05/1990", dt.date(1990, 1, 5), None),
    ("%d.%m.%y", "05.01.90", dt.date(1990, 1, 5), None),
    ("%d %b %Y", "05 Jan 1990", dt.date(1990, 1, 5), None),
    ("%d %b %Y", "30 Feb 1990", None, "impossible date"),
    ("%Y%m%d", "19900105", dt.date(1990, 1, 5), None),
    (None, "1990-01-05", dt.date(1990, 1, 5), None),
    (None, "1990-01-05T10:30:00", dt.date(1990, 1, 5), None),
    (None, "1990-13-05", None, "impossible date"),
    (None, "05/01/1990", None, "unreadable date"),
])
def test_date_formats(tmp_path, write_config, fmt, value, expected, problem):
    src = dict(name="g", kind="generic", id="id", header=["id", "birth_date"],
               rows=[["1", value]])
    if fmt:
        src["date_format"] = fmt
    con, _ = run(tmp_path, write_config, [src])
    assert rows(con, "SELECT birth_date FROM records") == [(expected,)]
    assert rows(con, "SELECT problem FROM field_issues") == ([(problem,)] if problem else [])


def test_date_shape():
    import re
    assert re.fullmatch(date_shape("%d/%m/%Y"), "31/02/1990")
    assert not re.fullmatch(date_shape("%d/%m/%Y"), "1990-02-31")
    assert re.fullmatch(date_shape(None), "1990-02-31")


# ----------------------------------------------------------------------------- codes
def test_code_maps_and_builtin_defaults(tmp_path, write_config):
    src = dict(name="border", kind="border", id="id",
               header=["id", "sex", "crossing_date", "direction", "purpose", "port"],
               rows=[["1", "1", "2020-01-01", "A", "Holiday", "AKL"],
                     ["2", "2", "2020-01-01", "d", "work", "WLG"],
                     ["3", "female", "2020-01-01", "Arrival", "seasonal work", "X1"],
                     ["4", "9", "2020-01-01", "EXIT", "Study", ""],
                     ["5", "w", "2020-01-01", "dep", "", "akl"]],
               codes={"sex": {"1": "M", "2": "F", "9": None},
                      "direction": {"A": "in", "D": "out"},
                      "purpose": {"Holiday": "tourism"},
                      "port": {"AKL": "Auckland"}})
    con, counts = run(tmp_path, write_config, [src])
    assert rows(con, "SELECT sex, direction, purpose, port FROM records ORDER BY row_number") == [
        ("M", "in", "tourism", "Auckland"),
        ("F", "out", "work", "WLG"),
        ("F", "in", "seasonal_work", "X1"),
        (None, "out", "study", None),
        (None, "out", None, "Auckland")]
    # "9" is mapped to null on purpose (no issue); "w" is not a known code
    assert rows(con, "SELECT record_id, field, raw_value, problem FROM field_issues") == [
        ("5", "sex", "w", "unknown code")]


# ----------------------------------------------------------------------------- countries
@pytest.mark.parametrize("value, expected", [
    ("NZ", "NZL"), ("nzl", "NZL"), ("554", "NZL"), ("36", "AUS"), ("036", "AUS"),
    ("New Zealand", "NZL"), ("  new   zealand ", "NZL"), ("Côte d'Ivoire", "CIV"),
    ("COTE D’IVOIRE", "CIV"), ("Korea, Republic of", "KOR"), ("South Korea", "KOR"),
    ("North Korea", "PRK"), ("UK", "GBR"), ("United Kingdom", "GBR"), ("Russia", "RUS"),
    ("Russian Federation", "RUS"), ("Kosovo", "XKX"), ("Türkiye", "TUR"), ("Turkey", "TUR"),
    ("Bolivia", "BOL"), ("Iran", "IRN"), ("Viet Nam", "VNM"), ("Vietnam", "VNM"),
    ("Taiwan", "TWN"), ("USA", "USA"), ("United States of America", "USA"),
    ("Åland Islands", "ALA"), ("Narnia", None), ("", None), ("XX", None),
])
def test_country_normalisation(value, expected):
    assert to_alpha3(value) == expected


def test_country_lookup_table_agrees_with_python():
    con = duckdb.connect()
    create_lookup_table(con)
    values = ["NZ", "Côte d'Ivoire", "korea, republic of", "TÜRKIYE", "Kosovo", "554",
              "Saint Barthélemy", "Curaçao", "Réunion", "Narnia"]
    con.execute("CREATE TABLE v(x VARCHAR)")
    con.executemany("INSERT INTO v VALUES (?)", [[v] for v in values])
    got = dict(rows(con, f"SELECT x, alpha3 FROM v LEFT JOIN country_lookup "
                         f"ON key = {SQL_KEY.format(x='x')}"))
    assert got == {v: to_alpha3(v) for v in values}
    assert got["Curaçao"] == "CUW" and got["Narnia"] is None


def test_country_codes_then_normalisation(tmp_path, write_config):
    src = dict(name="g", kind="generic", id="id", header=["id", "citizenship"],
               rows=[["1", "K1"], ["2", "Samoa"], ["3", "??"]],
               codes={"citizenship": {"K1": "XKX", "??": None}})
    con, counts = run(tmp_path, write_config, [src])
    assert rows(con, "SELECT citizenship FROM records ORDER BY row_number") == [
        ("XKX",), ("WSM",), (None,)]
    assert counts["g"]["field_issues"] == 0


# ----------------------------------------------------------------------------- events
def test_events_of_every_kind_and_global_order(tmp_path, write_config):
    sources = [
        dict(name="visa", kind="visa", id="id",
             header=["id", "visa_category", "valid_from", "valid_to", "purpose"],
             rows=[["v1", "WORK", "2020-01-01", "2021-01-01", "work"],
                   ["v2", "VIS", "", "2021-06-01", "tourism"]]),
        dict(name="border", kind="border", id="id",
             header=["id", "crossing_date", "direction"],
             rows=[["b1", "2020-02-01", "in"], ["b2", "2020-01-01", "out"]]),
        dict(name="census", kind="census", id="id",
             header=["id", "census_date", "year_of_arrival"],
             rows=[["c1", "2023-03-07", "2019"]]),
        dict(name="reg", kind="register", id="id",
             header=["id", "registration_date", "deregistration_date"],
             rows=[["r1", "2020-01-05", "2022-01-05"]]),
        dict(name="list", kind="generic", id="id", header=["id", "given_name"],
             rows=[["g1", "Ann"]]),
    ]
    con, counts = run(tmp_path, write_config, sources)
    assert rows(con, "SELECT source, record_id, event_date, event_type, event_seq "
                     "FROM events ORDER BY event_seq") == [
        ("visa", "v1", dt.date(2020, 1, 1), "visa_start", 1),
        ("visa", "v1", dt.date(2021, 1, 1), "visa_end", 2),
        ("visa", "v2", dt.date(2021, 6, 1), "visa_end", 4),
        ("border", "b1", dt.date(2020, 2, 1), "crossing_in", 5),
        ("border", "b2", dt.date(2020, 1, 1), "crossing_out", 6),
        ("census", "c1", dt.date(2023, 3, 7), "census", 7),
        ("reg", "r1", dt.date(2020, 1, 5), "register_in", 8),
        ("reg", "r1", dt.date(2022, 1, 5), "register_out", 9)]
    assert rows(con, "SELECT visa_category, purpose, valid_from, valid_to FROM events "
                     "WHERE event_seq = 2") == [("WORK", "work", dt.date(2020, 1, 1),
                                                 dt.date(2021, 1, 1))]
    assert rows(con, "SELECT year_of_arrival FROM events WHERE event_type = 'census'") == [
        (2019,)]
    assert counts["list"]["accepted"] == 1


def test_reingest_replaces_tables(tmp_path, write_config):
    cfg = load_config(write_config(tmp_path, [border([["1", "A", "", "2020-01-01", "in",
                                                       ""]])]))
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    messages = []
    ingest(con, cfg, progress=messages.append)
    ingest(con, cfg)
    assert rows(con, "SELECT count(*) FROM records") == [(1,)]
    assert rows(con, "SELECT count(*) FROM events") == [(1,)]
    assert len(messages) == 1 and "border" in messages[0]
    tables = {t for (t,) in rows(con, "SELECT table_name FROM duckdb_tables()")}
    assert tables == {"records", "events", "rejected", "field_issues"}
    # the connection's setting is restored
    assert rows(con, "SELECT current_setting('preserve_insertion_order')") == [(False,)]


# ----------------------------------------------------------------------------- bad files
def _one(tmp_path, write_config, data: bytes, **kw):
    src = dict(dict(name="g", kind="generic", id="id", data=data,
                    columns={"given_name": "name"}), **kw)
    return run(tmp_path, write_config, [src])


def test_header_only_file_gives_zero_rows(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, b"id,name\n")
    assert counts["g"] == {"input_rows": 0, "accepted": 0, "rejected": 0, "field_issues": 0}


def test_header_without_line_end_gives_zero_rows(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, b"id,name")
    assert counts["g"]["input_rows"] == 0


def test_gzipped_csv(tmp_path, write_config):
    import gzip
    con, counts = _one(tmp_path, write_config, gzip.compress(b"id,name\n1,Ann\n2,Bob\n"),
                       path="g.csv.gz")
    assert rows(con, "SELECT record_id, given_name FROM records ORDER BY row_number") == [
        ("1", "Ann"), ("2", "Bob")]


def test_empty_file_is_a_one_line_error(tmp_path, write_config):
    with pytest.raises(MiglinkError, match=r"g\.csv: is empty"):
        _one(tmp_path, write_config, b"")


def test_binary_file_is_a_one_line_error(tmp_path, write_config):
    with pytest.raises(MiglinkError, match=r"g\.csv: is a binary file"):
        _one(tmp_path, write_config, bytes(range(256)) * 4)


def test_latin1_file_read_correctly(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, "id,name\n1,Jürgen\n2,Renée\n".encode("latin-1"))
    assert rows(con, "SELECT given_name FROM records ORDER BY row_number") == [
        ("Jürgen",), ("Renée",)]


def test_latin1_bytes_beyond_the_sniffed_sample(tmp_path, write_config):
    body = "".join(f"{i},Ann\n" for i in range(20000)) + "20000,Jürgen\n"
    con, counts = _one(tmp_path, write_config, ("id,name\n" + body).encode("latin-1"))
    assert counts["g"]["accepted"] == 20001 and counts["g"]["rejected"] == 0
    assert rows(con, "SELECT given_name FROM records WHERE record_id = '20000'") == [
        ("Jürgen",)]


def test_cp1252_file_read_correctly(tmp_path, write_config):
    data = "id,name\n1,O’Brien\n2,Zoë €\n".encode("cp1252")
    con, counts = _one(tmp_path, write_config, data)
    assert rows(con, "SELECT given_name FROM records ORDER BY row_number") == [
        ("O’Brien",), ("Zoë €",)]


def test_cp1252_bytes_beyond_the_sniffed_sample(tmp_path, write_config):
    body = "".join(f"{i},Ann\n" for i in range(20000)) + "20000,O’Brien\n"
    con, counts = _one(tmp_path, write_config, ("id,name\n" + body).encode("cp1252"))
    assert counts["g"]["accepted"] == 20001
    assert rows(con, "SELECT given_name FROM records WHERE record_id = '20000'") == [
        ("O’Brien",)]


def test_cr_only_line_ends(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, b"id,name\r1,Ann\r2,\"Lee, Bo\"\r3,x,y\r")
    assert counts["g"] == {"input_rows": 3, "accepted": 2, "rejected": 1, "field_issues": 0}
    assert rows(con, "SELECT record_id, row_number, given_name FROM records ORDER BY 2") == [
        ("1", 1, "Ann"), ("2", 2, "Lee, Bo")]


def test_cr_only_cp1252_beyond_the_sample(tmp_path, write_config):
    body = "".join(f"{i},Ann\r" for i in range(20000)) + "20000,O’Brien\r"
    con, counts = _one(tmp_path, write_config, ("id,name\r" + body).encode("cp1252"))
    assert counts["g"]["accepted"] == 20001
    assert rows(con, "SELECT given_name FROM records WHERE record_id = '20000'") == [
        ("O’Brien",)]


@pytest.mark.parametrize("data", [
    b"id,name\n1,Ann\r\n2,Bob\n3,Cy,x\r\n",
    b"id,name\r\n1,Ann\n\r\n2,Bob\r\n3,Cy,x\n",
    "id,name\r\n1,Ann\n2,O’Bob\r\n3,Cy,x\n".encode("cp1252"),
])
def test_mixed_lf_and_crlf_line_ends(tmp_path, write_config, data):
    con, counts = _one(tmp_path, write_config, data)
    assert counts["g"] == {"input_rows": 3, "accepted": 2, "rejected": 1, "field_issues": 0}
    assert rows(con, "SELECT record_id, row_number, given_name FROM records ORDER BY 2") == [
        ("1", 1, "Ann"), ("2", 2, "O’Bob" if b"\x92" in data else "Bob")]
    assert rows(con, "SELECT row_number FROM rejected") == [(3,)]


def test_corrupt_parquet_is_a_one_line_error(tmp_path, write_config):
    with pytest.raises(MiglinkError, match=r"g\.parquet.*cannot be read as Parquet"):
        _one(tmp_path, write_config, b"PAR1 not really", path="g.parquet")


def test_utf8_bom_header_still_maps(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, "\ufeffid,name\n1,Zoë\n".encode("utf-8"))
    assert rows(con, "SELECT record_id, given_name FROM records") == [("1", "Zoë")]


def test_utf16_file(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, "id,name\n1,Zoë\n".encode("utf-16"))
    assert rows(con, "SELECT record_id, given_name FROM records") == [("1", "Zoë")]


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_delimiters(tmp_path, write_config, delim):
    text = f"id{delim}name{delim}x\n1{delim}Ann, Lee{delim}\n"
    con, counts = _one(tmp_path, write_config, text.encode())
    assert rows(con, "SELECT record_id, given_name FROM records") == [("1", "Ann, Lee")]


def test_ragged_rows_rejected_rest_kept(tmp_path, write_config):
    data = b"id,name,x\n1,Ann,a\n2,Bob\n3,Cy,c,extra\n4,Dee,d\n5,Eve,e\n"
    con, counts = _one(tmp_path, write_config, data)
    assert counts["g"] == {"input_rows": 5, "accepted": 3, "rejected": 2, "field_issues": 0}
    assert rows(con, "SELECT row_number, split_part(reason, ':', 1), raw FROM rejected "
                     "ORDER BY 1") == [
        (2, "too_few_fields", '{"csv_line":"2,Bob"}'),
        (3, "too_many_fields", '{"csv_line":"3,Cy,c,extra"}')]
    assert rows(con, "SELECT record_id, row_number FROM records ORDER BY row_number") == [
        ("1", 1), ("4", 4), ("5", 5)]


def test_quoted_fields_with_newlines_and_delimiters(tmp_path, write_config):
    data = (b'id,name,x\n1,"Lee, Ann","multi\nline"\n"2","O""Brien",\n'
            b'3,"a\r\nb",x\n4,Dee,"tail"\n')
    con, counts = _one(tmp_path, write_config, data)
    assert counts["g"]["input_rows"] == 4 and counts["g"]["rejected"] == 0
    assert rows(con, "SELECT record_id, row_number, given_name FROM records "
                     "ORDER BY row_number") == [
        ("1", 1, "Lee, Ann"), ("2", 2, 'O"Brien'), ("3", 3, "a\r\nb"), ("4", 4, "Dee")]


def test_ragged_row_after_embedded_newline_numbers_records(tmp_path, write_config):
    data = b'id,name,x\n1,"multi\nline",a\n2,Bob\n3,Cy,c\n'
    con, counts = _one(tmp_path, write_config, data)
    assert rows(con, "SELECT row_number FROM rejected") == [(2,)]
    assert rows(con, "SELECT record_id, row_number FROM records ORDER BY 2") == [
        ("1", 1), ("3", 3)]


def test_unterminated_quote_is_rejected_not_lost(tmp_path, write_config):
    data = b'id,name,x\n1,Ann,a\n2,"Bob,b\n3,Cy,c\n'
    con, counts = _one(tmp_path, write_config, data)
    c = counts["g"]
    assert c["input_rows"] == c["accepted"] + c["rejected"] and c["accepted"] == 1
    assert rows(con, "SELECT split_part(reason, ':', 1) FROM rejected") == [("bad_quoting",)]


def test_blank_lines_are_not_rows(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, b"id,name\n1,Ann\n\n2,Bob\n\n")
    assert counts["g"]["input_rows"] == 2
    assert rows(con, "SELECT record_id, row_number FROM records ORDER BY 2") == [
        ("1", 1), ("2", 2)]


def test_blank_lines_before_a_rejected_row(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config,
                       b"id,name,x\n1,A,a\n\n\n2,B\n3,C,c\n\n4,D,d,dd\n5,E,e\n")
    assert counts["g"]["input_rows"] == 5
    assert rows(con, "SELECT row_number, split_part(reason, ':', 1) FROM rejected "
                     "ORDER BY 1") == [(2, "too_few_fields"), (4, "too_many_fields")]
    assert rows(con, "SELECT record_id, row_number FROM records ORDER BY 2") == [
        ("1", 1), ("3", 3), ("5", 5)]


def test_crlf_and_no_final_newline(tmp_path, write_config):
    con, counts = _one(tmp_path, write_config, b"id,name\r\n1,Ann\r\n2,Bob")
    assert rows(con, "SELECT record_id, given_name FROM records ORDER BY row_number") == [
        ("1", "Ann"), ("2", "Bob")]


def test_physical_row_count(tmp_path):
    p = tmp_path / "f.csv"
    p.write_bytes(b"h\n1\n\n2\r\n\r\n3")
    assert _count_physical_rows(p) == (3, False)
    p.write_bytes(b'h\n"1\n1"\n')
    assert _count_physical_rows(p) == (2, True)


def test_parquet_source(tmp_path, write_config):
    import pandas as pd
    pd.DataFrame({
        "id": [1, 2, 3],
        "dob": pd.to_datetime(["1990-01-05", None, "2000-02-29"]),
        "crossing_date": ["2020-01-01", "2020-01-02", "2020-02-30"],
        "direction": ["in", "out", "in"],
        "birth_year": [1990.0, None, 2000.0],
    }).to_parquet(tmp_path / "b.parquet")
    src = dict(name="b", kind="border", id="id", path="b.parquet",
               columns={"birth_date": "dob", "crossing_date": "crossing_date",
                        "direction": "direction", "birth_year": "birth_year"})
    con, counts = run(tmp_path, write_config, [src])
    assert counts["b"] == {"input_rows": 3, "accepted": 2, "rejected": 1, "field_issues": 0}
    assert rows(con, "SELECT record_id, row_number, birth_date, birth_year FROM records "
                     "ORDER BY 2") == [("1", 1, dt.date(1990, 1, 5), 1990),
                                       ("2", 2, None, None)]
    assert rows(con, "SELECT row_number, split_part(reason, ':', 1) FROM rejected") == [
        (3, "unreadable_crossing_date")]


# ----------------------------------------------------------------------------- invariant
_KINDS = {
    "good": lambda i: f"{i},Ann,1990-01-01,2020-01-01,in,NZ",
    "optional": lambda i: f"{i},Ann,1990-02-31,2020-01-01,out,Narnia",
    "no_id": lambda i: ",Ann,1990-01-01,2020-01-01,in,NZ",
    "dup": lambda i: "dup,Ann,1990-01-01,2020-01-01,in,NZ",
    "bad_date": lambda i: f"{i},Ann,1990-01-01,2020-02-31,in,NZ",
    "bad_dir": lambda i: f"{i},Ann,1990-01-01,2020-01-01,??,NZ",
    "short": lambda i: f"{i},Ann",
    "long": lambda i: f"{i},Ann,1990-01-01,2020-01-01,in,NZ,extra",
    "quoted": lambda i: f'{i},"Ann\nLee, Jr",1990-01-01,2020-01-01,in,"New Zealand"',
}


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(_KINDS)), max_size=30))
def test_row_accounting_invariant(tmp_path_factory, kinds):
    from conftest import write_config
    tmp_path = tmp_path_factory.mktemp("inv")
    lines = [_KINDS[k](i) for i, k in enumerate(kinds)]
    data = (",".join(BORDER_HEADER) + "\n" + "".join(line + "\n" for line in lines)).encode()
    cfg = load_config(write_config(tmp_path, [dict(name="border", kind="border", id="cid",
                                                   data=data, columns=BORDER_COLUMNS)]))
    con = duckdb.connect()
    c = ingest(con, cfg)["border"]
    n_dup = kinds.count("dup")
    expected_rejected = sum(k in ("no_id", "bad_date", "bad_dir", "short", "long")
                            for k in kinds) + (n_dup if n_dup > 1 else 0)
    assert c["input_rows"] == len(kinds) == c["accepted"] + c["rejected"]
    assert c["rejected"] == expected_rejected
    assert c["field_issues"] == 2 * kinds.count("optional")
    numbers = sorted(r for (r,) in rows(con, "SELECT row_number FROM records UNION ALL "
                                             "SELECT row_number FROM rejected"))
    assert numbers == list(range(1, len(kinds) + 1))
    # every accepted row keeps its own id: row_number -> id is the file's
    for rid, rn in rows(con, "SELECT record_id, row_number FROM records"):
        k = kinds[rn - 1]
        assert rid == ("dup" if k == "dup" else str(rn - 1))


def test_every_iso_country_round_trips():
    import pycountry
    con = duckdb.connect()
    create_lookup_table(con)
    table = dict(rows(con, "SELECT key, alpha3 FROM country_lookup"))
    for c in pycountry.countries:
        for value in (c.alpha_3, c.alpha_2, c.numeric, c.name, c.name.upper()):
            assert to_alpha3(value) == c.alpha_3, value
        assert table[c.alpha_2] == table[c.alpha_3] == c.alpha_3


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet='ab1,;"\n\r\té€ ', max_size=12), max_size=12))
def test_any_text_is_accounted_or_a_one_line_error(tmp_path_factory, lines):
    """Fuzz: whatever the body, ingestion either raises a one-line MiglinkError or accounts
    for every row (records + rejected = input rows, row numbers 1..n)."""
    from conftest import write_config
    tmp_path = tmp_path_factory.mktemp("fuzz")
    data = ("id,name,x\n" + "\n".join(lines)).encode("utf-8")
    try:
        cfg = load_config(write_config(tmp_path, [dict(name="g", kind="generic", id="id",
                                                       data=data)]))
        con = duckdb.connect()
        c = ingest(con, cfg)["g"]
    except MiglinkError as exc:
        assert "\n" not in str(exc)
        return
    assert c["input_rows"] == c["accepted"] + c["rejected"]
    numbers = sorted(r for (r,) in rows(con, "SELECT row_number FROM records UNION ALL "
                                             "SELECT row_number FROM rejected"))
    assert numbers == list(range(1, c["input_rows"] + 1))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200))
def test_any_bytes_are_accounted_or_a_one_line_error(tmp_path_factory, body):
    from conftest import write_config
    tmp_path = tmp_path_factory.mktemp("fuzzb")
    try:
        cfg = load_config(write_config(tmp_path, [dict(name="g", kind="generic", id="id",
                                                       data=b"id,name\n" + body)]))
        con = duckdb.connect()
        c = ingest(con, cfg)["g"]
    except MiglinkError as exc:
        assert "\n" not in str(exc)
        return
    assert c["input_rows"] == c["accepted"] + c["rejected"]
    numbers = sorted(r for (r,) in rows(con, "SELECT row_number FROM records UNION ALL "
                                             "SELECT row_number FROM rejected"))
    assert numbers == list(range(1, c["input_rows"] + 1))
