"""What the report reads: every query of the warehouse's rpt_, analysis and mart tables
the site's pages show (reports/site.py renders them). Read-only; nothing here writes.
"""

from __future__ import annotations

from collections import defaultdict

import duckdb

from neurostock.core.errors import NeurostockError

REQUIRED = ("rpt_overview", "rpt_rating_distribution", "rpt_rating_repeats", "rpt_experiments",
            "rpt_generation_months", "rpt_data_quality", "rpt_embedders", "rpt_score_agreement",
            "signal_summary", "rpt_score_by_rating", "rpt_score_thresholds",
            "rpt_threshold_suggestions", "rpt_keyword_groups_by_rating", "cluster_solutions",
            "cluster_map", "rpt_cluster_ratings", "rpt_cluster_examples", "rpt_image_pages",
            "rpt_image_scores", "rpt_image_neighbours", "rpt_learned_disagreements")

# Threshold curves are drawn from at most this many points per score.
CURVE_POINTS = 400


def query_rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    """The result of `sql` as one dict per row, keyed by column name."""
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def check_tables(con: duckdb.DuckDBPyConnection) -> None:
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main' "
        "union all select view_name from duckdb_views() where schema_name = 'main'").fetchall()}
    missing = [t for t in REQUIRED if t not in present]
    if missing:
        raise NeurostockError(f"the warehouse has no {', '.join(missing[:4])}"
                              f"{' …' if len(missing) > 4 else ''}: run `neurostock build` first")


def _decimate(points: list[dict], limit: int) -> list[dict]:
    if len(points) <= limit:
        return points
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def planted_sample(con: duckdb.DuckDBPyConnection) -> dict | None:
    """The shipped sample's own label (sampledata writes it into its SQLite file, ingest
    copies it to raw.neurostock_sample), or None for any other source. Read from raw on
    purpose: it describes the source itself, which no mart carries."""
    present = con.execute("select count(*) from duckdb_tables() where schema_name = 'raw' "
                          "and table_name = 'neurostock_sample'").fetchone()[0]
    if not present:
        return None
    found = query_rows(con, "select generator, rows, seed, planted_signals "
                            "from raw.neurostock_sample limit 1")
    return found[0] if found else None


def load(con: duckdb.DuckDBPyConnection) -> dict:
    """What the overview, scores, agreement, thresholds, keywords, learned, cluster and
    image pages show, from the rpt_ and mart tables (the Decision, Submission and
    Ratings pages read theirs in reports/decision.py, submission_page.py,
    ratings_page.py)."""
    data: dict = {}
    data["planted_sample"] = planted_sample(con)
    data["overview"] = (query_rows(con, "select * from rpt_overview") or [None])[0]
    data["rating_distribution"] = query_rows(con, "select * from rpt_rating_distribution")
    data["rating_repeats"] = query_rows(con, "select * from rpt_rating_repeats")
    data["experiments"] = query_rows(con, "select * from rpt_experiments")
    data["months"] = query_rows(con, "select * from rpt_generation_months")
    data["data_quality"] = query_rows(con, "select * from rpt_data_quality")
    data["embedders"] = query_rows(con, "select * from rpt_embedders")
    data["agreement"] = query_rows(con, """
        select * from rpt_score_agreement where subset = 'all'
        order by abs(spearman) desc nulls last, scorer_id""")
    data["agreement_subsets"] = query_rows(con, """
        select * from rpt_score_agreement where subset != 'all'
        order by scorer_id, subset_kind, subset""")
    data["invalid"] = query_rows(con, """
        select scorer_id, signal_kind, n, n_distinct, min_score, max_score, invalid_reason
        from signal_summary where not is_valid order by scorer_id""")
    data["learned"] = [a for a in data["agreement"] if a["scorer_id"].startswith("learned_")]
    data["outside"] = [a for a in data["agreement"]
                       if not a["scorer_id"].startswith("learned_")]
    disagreements: dict = defaultdict(lambda: defaultdict(list))
    for row in query_rows(con, "select * from rpt_learned_disagreements "
                               "order by scorer_id, side, position"):
        disagreements[row["scorer_id"]][row["side"]].append(row)
    data["disagreements"] = disagreements
    # The decision models' figures (learn/decision.py); absent from warehouses built before.
    built = {r[0] for r in con.execute("select table_name from duckdb_tables() "
                                       "where schema_name = 'main'").fetchall()}
    data["learned_decision"] = query_rows(con, "select * from rpt_learned_decision "
                                               "order by scorer_id") \
        if "rpt_learned_decision" in built else []

    def by_scorer(table: str, clauses: str = "") -> dict:
        """A learned-model mart's rows per scorer_id; {} where the warehouse was built
        before the mart existed."""
        grouped: dict = defaultdict(list)
        if table in built:
            for row in query_rows(con, f"select * from {table} {clauses}"):
                grouped[row["scorer_id"]].append(row)
        return dict(grouped)

    data["learned_blocks"] = by_scorer("rpt_learned_blocks")
    data["quality_blocks"] = by_scorer(
        "rpt_learned_quality_blocks",
        "order by scorer_id, split_order, delta_spearman desc nulls last, block")
    data["quality_splits"] = by_scorer(
        "rpt_learned_quality_splits",
        "where not is_shuffled order by scorer_id, split_order, position")
    data["learned_halves"] = by_scorer("rpt_learned_halves", "where not is_shuffled")
    data["learned_forward"] = by_scorer("rpt_learned_forward",
                                        "order by scorer_id, split_order, position")
    data["suggestions"] = query_rows(con, """
        select * from rpt_threshold_suggestions order by scorer_id""")
    boxes = defaultdict(list)
    for row in query_rows(con, "select * from rpt_score_by_rating order by scorer_id, rating"):
        boxes[row["scorer_id"]].append(row)
    data["boxes"] = boxes
    curves = defaultdict(list)
    for row in query_rows(con, "select scorer_id, threshold, keep_rate, precision, recall "
                               "from rpt_score_thresholds order by scorer_id, threshold"):
        curves[row["scorer_id"]].append(row)
    data["curves"] = {k: _decimate(v, CURVE_POINTS) for k, v in curves.items()}
    keywords = defaultdict(list)
    for row in query_rows(con, "select * from rpt_keyword_groups_by_rating"):
        keywords[row["embedder_id"]].append(row)
    data["keywords"] = dict(keywords)

    solutions = defaultdict(list)
    for row in query_rows(con, "select * exclude (centroids) from cluster_solutions "
                               "where is_default_input order by embedder_id, k"):
        solutions[row["embedder_id"]].append(row)
    data["solutions"] = solutions
    chosen = {eid: next((s for s in rows if s["is_chosen"]), None)
              for eid, rows in solutions.items()}
    data["clustered"] = [
        {"embedder_id": eid, "embedding_kind": s["embedding_kind"], "k": s["k"],
         "silhouette": s["silhouette"], "n_images": s["n_images"],
         "is_random_init": any(e["is_random_init"] for e in data["embedders"]
                               if e["embedder_id"] == eid)}
        for eid, s in sorted(chosen.items()) if s is not None]
    ratings = defaultdict(list)
    for row in query_rows(con, "select * from rpt_cluster_ratings "
                               "order by embedder_id, cluster_id"):
        ratings[row["embedder_id"]].append(row)
    data["cluster_ratings"] = ratings
    examples: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    rankings = defaultdict(list)
    for row in query_rows(con, "select * from rpt_cluster_examples "
                               "order by embedder_id, ranking, cluster_id, side, position"):
        bucket = examples[row["embedder_id"]][row["cluster_id"]][row["ranking"]]
        bucket.setdefault(row["side"], []).append(row)
        if row["ranking"] not in rankings[row["embedder_id"]]:
            rankings[row["embedder_id"]].append(row["ranking"])
    data["examples"] = examples
    data["rankings"] = {eid: sorted(r, key=lambda x: (x != "rating", x))
                        for eid, r in rankings.items()}
    points = defaultdict(list)
    for row in query_rows(con, """
            select m.embedder_id, m.x, m.y, f.rating, a.cluster_id
            from cluster_map m
            join full_set f using (image_id)
            left join cluster_assignments a
                on a.image_id = m.image_id and a.embedder_id = m.embedder_id and a.is_chosen_k
                and a.is_default_input
            order by m.embedder_id, m.image_id"""):
        points[row["embedder_id"]].append(row)
    data["map_points"] = points

    data["pages"] = query_rows(con, "select * from rpt_image_pages order by image_id")
    scores = defaultdict(list)
    for row in query_rows(con, "select * from rpt_image_scores order by image_id, scorer_id"):
        scores[row["image_id"]].append(row)
    data["image_scores"] = scores
    neighbours: dict = defaultdict(lambda: defaultdict(list))
    for row in query_rows(con, "select * from rpt_image_neighbours "
                               "order by image_id, embedder_id, rank"):
        neighbours[row["image_id"]][row["embedder_id"]].append(row)
    data["neighbours"] = neighbours
    data["prompts"] = {p["image_id"]: p["prompt"] for p in data["pages"]}
    return data
