"""Person histories: the ``events`` table with ``person_id``, ordered per person.

After linkage every event carries the ``person_id`` of its record, and the table is
ordered by ``person_id, event_date, event_seq`` (docs/internals.md, "Tables"): the order in
which the residence rules (RESIDENCE.md) read a person's crossings — same-day crossings in
their source row order.
"""

from __future__ import annotations

from .db import has_table as _exists


def attach_person_ids(con, clusters: str = "clusters", events: str = "events") -> int:
    """Add (or refresh) ``person_id`` on ``events`` from ``clusters``; returns row count.

    Does nothing (returns 0) when there is no ``events`` table.
    """
    if not _exists(con, events):
        return 0
    cols = [r[0] for r in con.execute(f"DESCRIBE {events}").fetchall()]
    excl = " EXCLUDE (person_id)" if "person_id" in cols else ""
    order = ", ".join(c for c in ("event_date", "event_seq") if c in cols)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE __ml_events AS
        SELECT e.*{excl}, c.person_id FROM {events} e
        LEFT JOIN {clusters} c USING (source, record_id)
        ORDER BY c.person_id{', ' + order if order else ''}""")
    con.execute(f"CREATE OR REPLACE TABLE {events} AS SELECT * FROM __ml_events")
    con.execute("DROP TABLE __ml_events")
    return con.execute(f"SELECT count(*) FROM {events}").fetchall()[0][0]
