"""Small DuckDB helpers shared by every step: does a relation exist, what columns has it.

Names resolve as a query would resolve them (the search path: temporary, then main), so an
attached database with tables of the same name never answers for the run's own tables.
"""

from __future__ import annotations

import duckdb


def table_columns(con, relation: str) -> list[str]:
    """Column names of a table, view or relation expression (e.g. ``read_parquet('x')``);
    ``[]`` when it does not exist."""
    try:
        return [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error:
        return []


def has_table(con, relation: str) -> bool:
    """Whether ``relation`` can be read (a table, a view, or a relation expression)."""
    return bool(table_columns(con, relation))
