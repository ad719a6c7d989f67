"""Test helper: build the ``records`` table (docs/internals.md schema) from small frames."""

from __future__ import annotations

import duckdb
import pandas as pd

from linkage.schema import DATE_FIELDS, INT_FIELDS, PERSON_FIELDS

EVENT_COLS = ("crossing_date", "valid_from", "valid_to", "census_date", "registration_date",
              "deregistration_date", "direction", "port", "purpose", "visa_category",
              "year_of_arrival")


def make_records(con: duckdb.DuckDBPyConnection, df: pd.DataFrame, table: str = "records"):
    """Create ``table`` with every column of the ``records`` schema from ``df``.

    ``df`` needs ``source`` and ``record_id``; other columns default to NULL, ``kind`` to
    ``generic`` and ``row_number`` to the row order within each source.
    """
    df = df.copy()
    df["record_id"] = df["record_id"].astype(str)
    if "kind" not in df:
        df["kind"] = "generic"
    if "row_number" not in df:
        df["row_number"] = df.groupby("source").cumcount() + 1
    cols = ["source", "record_id", "kind", "row_number", *PERSON_FIELDS, *EVENT_COLS]
    sel = []
    for c in cols:
        typ = ("DATE" if c in DATE_FIELDS else "INTEGER" if c in INT_FIELDS
               else "BIGINT" if c == "row_number" else "VARCHAR")
        sel.append(f'CAST("{c}" AS {typ}) AS "{c}"' if c in df else f'CAST(NULL AS {typ}) AS "{c}"')
    con.register("__records_df", df)
    con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT {', '.join(sel)} FROM __records_df")
    con.unregister("__records_df")
    return con


def test_make_records_has_the_records_schema():
    con = duckdb.connect()
    make_records(con, pd.DataFrame({"source": ["a", "a"], "record_id": [1, 2],
                                    "birth_date": ["1980-01-02", None]}))
    cols = dict(con.execute("SELECT column_name, column_type FROM "
                            "(DESCRIBE records)").fetchall())
    assert cols["birth_date"] == "DATE" and cols["birth_year"] == "INTEGER"
    assert cols["row_number"] == "BIGINT" and cols["given_name"] == "VARCHAR"
    assert con.execute("SELECT list(row_number ORDER BY record_id) FROM records"
                       ).fetchall()[0][0] == [1, 2]
