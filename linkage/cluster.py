"""Clustering of scored pairs into persons, and the stable ``person_id`` numbering.

Records join one person when a chain of links at ``match_probability ≥ threshold`` connects
them (connected components, scipy.sparse.csgraph). With ``one_per_person`` sources, at most
one record of each such source may sit in a person: Splink's single-best-links clustering
(mutually best links first, refusing any link that would put two records of a
duplicate-free source together) breaks the weakest links instead.

``person_id`` is 1..n in the order of each person's smallest ``(source, record_id)``
(docs/internals.md), so identical runs give identical ids.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (0..k-1) of nodes 0..n-1 joined by edges a[i]–b[i]."""
    g = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    return connected_components(g, directed=False)[1]


class Clusterer:
    """Cluster the nodes of ``nodes`` (rid, source) by the edges of ``edges``
    (rid_l, rid_r, match_probability) at ``threshold``.

    Attributes after :meth:`fit`: ``n_clusters_``, ``n_edges_used_``, ``method_``.
    Writes table ``out`` (rid, cluster_rid): every node with the smallest rid of its cluster.
    """

    def __init__(self, threshold: float = 0.9, one_per_person: list[str] | None = None):
        self.threshold = float(threshold)
        self.one_per_person = list(one_per_person or [])

    def fit(self, con, nodes: str, edges: str, out: str) -> "Clusterer":
        srcs = {r[0] for r in con.execute(f"SELECT DISTINCT source FROM {nodes}").fetchall()}
        constrained = [s for s in self.one_per_person if s in srcs]
        if constrained:
            self._one_per_person(con, nodes, edges, out, constrained)
            self.method_ = "single best links, one record per person from " + \
                ", ".join(constrained)
        else:
            self._components(con, nodes, edges, out)
            self.method_ = "connected components"
        self.n_clusters_ = con.execute(
            f"SELECT count(DISTINCT cluster_rid) FROM {out}").fetchall()[0][0]
        return self

    def _components(self, con, nodes, edges, out):
        rid = con.execute(f"SELECT rid FROM {nodes} ORDER BY rid").fetchnumpy()["rid"]
        e = con.execute(f"SELECT rid_l, rid_r FROM {edges} WHERE match_probability >= ?",
                        [self.threshold]).fetchnumpy()
        self.n_edges_used_ = len(e["rid_l"])
        a = np.searchsorted(rid, e["rid_l"])
        b = np.searchsorted(rid, e["rid_r"])
        lab = components(len(rid), a, b)
        # smallest rid of each component: rid is sorted, so the first occurrence of a label
        first = np.full(lab.max() + 1 if len(lab) else 0, -1, dtype=np.int64)
        order = np.arange(len(lab))[::-1]
        first[lab[order]] = order
        df = pd.DataFrame({"rid": rid, "cluster_rid": rid[first[lab]]})
        con.register("__ml_cc", df)
        con.execute(f"CREATE OR REPLACE TABLE {out} AS SELECT * FROM __ml_cc ORDER BY rid")
        con.unregister("__ml_cc")

    def _one_per_person(self, con, nodes, edges, out, constrained):
        from splink import DuckDBAPI
        from splink.internals.one_to_one_clustering import one_to_one_clustering

        db = DuckDBAPI(connection=con)
        # source names become identifiers inside Splink's SQL: use safe aliases
        srcs = sorted(r[0] for r in con.execute(
            f"SELECT DISTINCT source FROM {nodes}").fetchall())
        alias = {s: f"s{i}" for i, s in enumerate(srcs)}
        con.register("__ml_alias", pd.DataFrame({"source": list(alias),
                                                 "alias": list(alias.values())}))
        con.execute(f"""CREATE OR REPLACE TABLE __ml_oo_nodes AS
            SELECT n.rid AS node_id, a.alias AS source_dataset
            FROM {nodes} n JOIN __ml_alias a USING (source)""")
        con.execute(f"""CREATE OR REPLACE TABLE __ml_oo_edges AS
            SELECT e.rid_l AS node_id_l, e.rid_r AS node_id_r,
                   l.source_dataset AS source_dataset_l, r.source_dataset AS source_dataset_r,
                   e.match_probability
            FROM {edges} e JOIN __ml_oo_nodes l ON l.node_id = e.rid_l
            JOIN __ml_oo_nodes r ON r.node_id = e.rid_r
            WHERE e.match_probability >= {self.threshold!r}""")
        con.unregister("__ml_alias")
        self.n_edges_used_ = con.execute("SELECT count(*) FROM __ml_oo_edges").fetchall()[0][0]
        res = one_to_one_clustering(
            nodes_table=db.register("__ml_oo_nodes", table_name="__ml_oo_n"),
            edges_table=db.register("__ml_oo_edges", table_name="__ml_oo_e"),
            node_id_column_name="node_id", source_dataset_column_name="source_dataset",
            edge_id_column_name_left="node_id_l", edge_id_column_name_right="node_id_r",
            duplicate_free_datasets=[alias[c] for c in constrained], ties_method="lowest_id",
            db_api=db,
            threshold_match_probability=self.threshold)
        con.execute(f"""CREATE OR REPLACE TABLE {out} AS
            WITH c AS (SELECT node_id AS rid, cluster_id FROM {res.physical_name})
            SELECT rid, min(rid) OVER (PARTITION BY cluster_id) AS cluster_rid
            FROM c ORDER BY rid""")
        res.drop_table_from_database_and_remove_from_cache()
        con.execute("DROP TABLE IF EXISTS __ml_oo_nodes; DROP TABLE IF EXISTS __ml_oo_edges")


def number_persons(con, keys: str, rep_map: str, rep_clusters: str, out: str = "clusters"):
    """Write ``out`` (source, record_id, person_id) for every record of ``keys``.

    ``rep_map`` (rid, rep_rid) maps each record to its pre-group representative,
    ``rep_clusters`` (rid, cluster_rid) each representative to its cluster. person_id is the
    dense rank of the cluster's smallest rid — rid follows (source, record_id) order.
    """
    con.execute(f"""CREATE OR REPLACE TABLE {out} AS
        WITH m AS (
          SELECT k.rid, k.source, k.record_id, c.cluster_rid
          FROM {keys} k JOIN {rep_map} p ON p.rid = k.rid
          JOIN {rep_clusters} c ON c.rid = p.rep_rid),
        f AS (SELECT *, min(rid) OVER (PARTITION BY cluster_rid) AS first_rid FROM m)
        SELECT source, record_id, dense_rank() OVER (ORDER BY first_rid)::BIGINT AS person_id
        FROM f ORDER BY source, record_id""")
