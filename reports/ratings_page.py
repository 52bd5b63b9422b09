"""The report's Ratings page: the learning curve, the rating queue's first images with
their reasons, ratings per source and annotator, and agreement between annotators.
Reads only rpt_ tables; a warehouse built before they existed has no Ratings page."""

from __future__ import annotations

from pathlib import Path

import duckdb

from reports import plots
from reports.thumbnails import ThumbnailJob, make_thumbnails

TABLES = ("rpt_rating_queue", "rpt_ratings_by_annotator", "rpt_annotator_agreement",
          "rpt_learning_curve")
# The queue's first images the page shows, and where their thumbnails go.
QUEUE_SHOWN = 24
QUEUE_THUMBS = "ratings"


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def load_ratings(con: duckdb.DuckDBPyConnection) -> dict | None:
    """What the page shows, or None when the warehouse has not built its tables."""
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if any(t not in present for t in TABLES):
        return None
    queue = _rows(con, f"""
        select q.*, f.sha256 as file_sha256, f.resolved_path, b.prompt
        from rpt_rating_queue q
        left join files.images f using (image_id)
        left join big_set b using (image_id)
        order by q.queue_rank limit {QUEUE_SHOWN}""")
    return {
        "queue": queue,
        "queue_size": con.execute("select count(*) from rpt_rating_queue").fetchone()[0],
        "by_annotator": _rows(con, "select * from rpt_ratings_by_annotator"),
        "agreement": _rows(con, "select * from rpt_annotator_agreement"),
        "curve": _rows(con, "select * from rpt_learning_curve order by scorer_id, fraction"),
        "sources": _rows(con, """
            select rating_source, sum(n_ratings) as n_ratings, count(*) as n_annotators
            from rpt_ratings_by_annotator group by rating_source order by rating_source"""),
    }


def draw_ratings(figures: plots.Figures, ratings: dict | None, out: Path,
                 workers: int = 2) -> dict:
    """The learning-curve figures and the queue's thumbnails; {image_id: sha256} of
    the thumbnails made."""
    if ratings is None:
        return {}
    by_scorer: dict[str, list[dict]] = {}
    for row in ratings["curve"]:
        by_scorer.setdefault(row["scorer_id"], []).append(row)
    ratings["curve_figures"] = {
        sid: figures.draw("learning-curve", rows,
                          lambda sid=sid, rows=rows: learning_curve_figure(sid, rows))
        for sid, rows in by_scorer.items()}
    ratings["curve_by_scorer"] = by_scorer
    jobs = [ThumbnailJob(q["file_sha256"], q["resolved_path"]) for q in ratings["queue"]
            if q["file_sha256"] and q["resolved_path"]]
    # Under ratings/ : thumbs/ holds the rated images' pages' thumbnails only.
    failed = make_thumbnails(jobs, out / QUEUE_THUMBS, workers=workers)["failed"]
    return {q["image_id"]: q["file_sha256"] for q in ratings["queue"]
            if q["file_sha256"] and q["file_sha256"] not in failed}


def learning_curve_figure(scorer_id: str, rows: list[dict]):
    """Mean out-of-fold Spearman per number of ratings, min-max band, the fitted
    a + b ln n, extended (dashed) to 1,000 more ratings."""
    import numpy as np

    figure, axes = plots._figure(5.5, 3.2)
    n = np.array([r["n_ratings"] for r in rows], dtype=float)
    mean = np.array([r["spearman_mean"] for r in rows], dtype=float)
    low = np.array([r["spearman_min"] for r in rows], dtype=float)
    high = np.array([r["spearman_max"] for r in rows], dtype=float)
    axes.fill_between(n, low, high, color="#9ecae1", alpha=0.6, label="min-max of repeats")
    axes.plot(n, mean, "o-", color="#08519c", label="mean out-of-fold Spearman")
    a, b, n_all = rows[0]["fit_a"], rows[0]["fit_b"], rows[0]["n_all"]
    if a is not None and b is not None:
        grid = np.linspace(n.min(), n_all, 50)
        axes.plot(grid, a + b * np.log(grid), color="#444444", linewidth=1,
                  label="fit a + b ln n")
        ahead = np.linspace(n_all, n_all + 1000, 20)
        axes.plot(ahead, a + b * np.log(ahead), "--", color="#444444", linewidth=1,
                  label="extrapolated (+1,000)")
    axes.set_xlabel("rated images used")
    axes.set_ylabel("Spearman (out of fold)")
    axes.set_title(f"{scorer_id}: learning curve")
    axes.legend(fontsize=7, frameon=False)
    return figure
