"""Clustering: connected components at the threshold, one-per-person, person numbering."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.cluster import Clusterer, components, number_persons


def _setup(nodes, edges):
    con = duckdb.connect()
    con.register("n_df", pd.DataFrame(nodes, columns=["rid", "source"]))
    con.execute("CREATE TABLE nodes AS SELECT rid::BIGINT AS rid, source FROM n_df")
    con.register("e_df", pd.DataFrame(edges, columns=["rid_l", "rid_r", "match_probability"]))
    con.execute("CREATE TABLE edges AS SELECT rid_l::BIGINT rid_l, rid_r::BIGINT rid_r, "
                "match_probability::DOUBLE match_probability FROM e_df")
    return con


def _clusters(con):
    return dict(con.execute("SELECT rid, cluster_rid FROM out").fetchall())


def test_components_at_threshold():
    con = _setup([(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c")],
                 [(1, 3, 0.95), (3, 4, 0.91), (4, 5, 0.89), (2, 5, 0.2)])
    c = Clusterer(threshold=0.9).fit(con, "nodes", "edges", "out")
    assert _clusters(con) == {1: 1, 2: 2, 3: 1, 4: 1, 5: 5}
    assert c.n_clusters_ == 3 and c.n_edges_used_ == 2
    Clusterer(threshold=0.85).fit(con, "nodes", "edges", "out")
    assert _clusters(con) == {1: 1, 2: 2, 3: 1, 4: 1, 5: 1}


def test_one_per_person_keeps_the_stronger_link():
    # register r1 (1) and r2 (2) both link to census record 3; r1 more strongly
    con = _setup([(1, "register"), (2, "register"), (3, "census")],
                 [(1, 3, 0.99), (2, 3, 0.95)])
    Clusterer(0.9, one_per_person=["register"]).fit(con, "nodes", "edges", "out")
    assert _clusters(con) == {1: 1, 2: 2, 3: 1}
    Clusterer(0.9).fit(con, "nodes", "edges", "out")
    assert _clusters(con) == {1: 1, 2: 1, 3: 1}


def test_source_names_that_are_not_identifiers():
    con = _setup([(1, "pop register"), (2, "pop register"), (3, "border-2024")],
                 [(1, 3, 0.99), (2, 3, 0.95)])
    Clusterer(0.9, one_per_person=["pop register"]).fit(con, "nodes", "edges", "out")
    assert _clusters(con) == {1: 1, 2: 2, 3: 1}


def test_person_ids_number_clusters_by_smallest_record():
    con = duckdb.connect()
    con.execute("""CREATE TABLE keys AS SELECT * FROM (VALUES
        (1, 'a', '1'), (2, 'a', '2'), (3, 'b', '1'), (4, 'b', '2')) t(rid, source, record_id)""")
    con.execute("CREATE TABLE rep_map AS SELECT * FROM (VALUES (1,1),(2,2),(3,3),(4,2)) "
                "t(rid, rep_rid)")
    con.execute("CREATE TABLE rep_cl AS SELECT * FROM (VALUES (1,1),(2,2),(3,2)) "
                "t(rid, cluster_rid)")
    number_persons(con, "keys", "rep_map", "rep_cl", "clusters")
    got = con.execute("SELECT source, record_id, person_id FROM clusters").fetchall()
    assert got == [("a", "1", 1), ("a", "2", 2), ("b", "1", 2), ("b", "2", 2)]


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 30).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)),
                         max_size=40))))
def test_components_agree_with_union_find(case):
    n, edges = case
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    lab = components(n, a, b)
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in edges:
        parent[find(x)] = find(y)
    for i in range(n):
        for j in range(n):
            assert (lab[i] == lab[j]) == (find(i) == find(j))
