"""The report's Ratings page: the learning curve, the rating queue's first images with
their reasons, ratings per source and annotator, and agreement between annotators.
Reads only rpt_ tables; a warehouse built before they existed has no Ratings page."""

from __future__ import annotations

import duckdb

from neurostock.core.outputs import Outputs
from neurostock.reports import plots
from neurostock.reports.data import query_rows
from neurostock.reports.thumbnails import ThumbnailJob, make_thumbnails

TABLES = ("rpt_rating_queue", "rpt_ratings_by_annotator", "rpt_annotator_agreement",
          "rpt_learning_curve", "pool", "image_ratings")
# The queue's first images the page shows, and where their thumbnails go.
QUEUE_SHOWN = 24
# The newest images rated in the app that the page lists.
LOCAL_SHOWN = 100
QUEUE_THUMBS = "ratings"


def load_ratings(con: duckdb.DuckDBPyConnection) -> dict | None:
    """What the page shows, or None when the warehouse has not built its tables."""
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if any(t not in present for t in TABLES):
        return None
    queue = query_rows(con, f"""
        select q.*, f.sha256 as file_sha256, f.resolved_path, b.prompt
        from rpt_rating_queue q
        left join files.images f using (image_id)
        left join pool b using (image_id)
        order by q.queue_rank limit {QUEUE_SHOWN}""")
    return {
        "queue": queue,
        "queue_size": con.execute("select count(*) from rpt_rating_queue").fetchone()[0],
        "by_annotator": query_rows(con, "select * from rpt_ratings_by_annotator"),
        "agreement": query_rows(con, "select * from rpt_annotator_agreement"),
        "curve": query_rows(con, "select * from rpt_learning_curve order by scorer_id, fraction"),
        # Optional: a warehouse built before `ratings simulate` existed has no table.
        "simulation": query_rows(con, "select * from rpt_queue_simulation "
                                      "order by scorer_id, round")
        if "rpt_queue_simulation" in present else [],
        # The images the app rated, newest first: what a `neurostock build` brought in.
        "local": query_rows(con, f"""
            select image_id, rating, rating_sources, n_local_ratings, n_source_ratings,
                   last_rated_at
            from image_ratings where n_local_ratings > 0
            order by last_rated_at desc nulls last, image_id limit {LOCAL_SHOWN}"""),
        "local_count": con.execute(
            "select count(*) from image_ratings where n_local_ratings > 0").fetchone()[0],
        "sources": query_rows(con, """
            select rating_source, sum(n_ratings) as n_ratings, count(*) as n_annotators
            from rpt_ratings_by_annotator group by rating_source order by rating_source"""),
    }


def draw_ratings(figures: plots.Figures, ratings: dict | None, outputs: Outputs,
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
    ratings["curve_measures"] = {sid: curve_measures(rows) for sid, rows in by_scorer.items()}
    ratings["measure_names"] = MEASURES
    simulated: dict[str, list[dict]] = {}
    for row in ratings["simulation"]:
        simulated.setdefault(row["scorer_id"], []).append(row)
    ratings["simulation_by_scorer"] = simulated
    ratings["simulation_figures"] = {
        sid: figures.draw("queue-simulation", rows,
                          lambda sid=sid, rows=rows: simulation_figure(sid, rows))
        for sid, rows in simulated.items()}
    jobs = [ThumbnailJob(q["file_sha256"], q["resolved_path"]) for q in ratings["queue"]
            if q["file_sha256"] and q["resolved_path"]]
    # Under ratings/ : thumbs/ holds the rated images' pages' thumbnails only.
    failed = make_thumbnails(jobs, outputs.root / QUEUE_THUMBS, workers=workers,
                             outputs=outputs)["failed"]
    return {q["image_id"]: q["file_sha256"] for q in ratings["queue"]
            if q["file_sha256"] and q["file_sha256"] not in failed}


MEASURES = {"spearman": "Spearman with the rating (full_set)",
            "auc_sellable": "AUC of sellable (every rated image)"}


def curve_measures(rows: list[dict]) -> list[str]:
    """The measures a scorer's curve has values for (auc_sellable: the decision model)."""
    return [m for m in MEASURES if any(r[f"{m}_mean"] is not None for r in rows)]


def learning_curve_figure(scorer_id: str, rows: list[dict]):
    """Per measure, one panel: the mean out-of-fold value per number of ratings, the
    min-max band of the repeats, the fitted a + b ln n, extended (dashed) to 1,000
    more ratings."""
    import matplotlib.pyplot as plt
    import numpy as np

    measures = curve_measures(rows)
    figure, panels = plt.subplots(1, len(measures), figsize=(5.5 * len(measures), 3.2),
                                  squeeze=False)
    n = np.array([r["n_ratings"] for r in rows], dtype=float)
    n_all = rows[0]["n_all"]
    for axes, m in zip(panels[0], measures, strict=True):
        axes.spines[["top", "right"]].set_visible(False)
        have = np.array([r[f"{m}_mean"] is not None for r in rows])
        values = {k: np.array([r[f"{m}_{k}"] for r in rows], dtype=float)[have]
                  for k in ("mean", "min", "max")}
        axes.fill_between(n[have], values["min"], values["max"], color="#9ecae1", alpha=0.6,
                          label="min-max of repeats")
        axes.plot(n[have], values["mean"], "o-", color="#08519c", label="mean, out of fold")
        a, b = rows[0][f"{m}_fit_a"], rows[0][f"{m}_fit_b"]
        if a is not None and b is not None:
            grid = np.linspace(n[have].min(), n_all, 50)
            axes.plot(grid, a + b * np.log(grid), color="#444444", linewidth=1,
                      label="fit a + b ln n")
            ahead = np.linspace(n_all, n_all + 1000, 20)
            axes.plot(ahead, np.minimum(1.0, a + b * np.log(ahead)), "--", color="#444444",
                      linewidth=1, label="extrapolated (+1,000; at most 1)")
        axes.set_xlabel("rated images used")
        axes.set_ylabel(MEASURES[m])
        axes.set_title(f"{scorer_id}: {m}")
        axes.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    return figure


def simulation_figure(scorer_id: str, rows: list[dict]):
    """Per measure, one panel: the queue's and random's mean over the seeds per number of
    ratings with their min-max bands, random's final figure (dashed) and where the
    queue's mean first reaches it."""
    import matplotlib.pyplot as plt
    import numpy as np

    measures = [m for m in MEASURES if any(r[f"queue_{m}"] is not None for r in rows)]
    figure, panels = plt.subplots(1, len(measures), figsize=(5.5 * len(measures), 3.2),
                                  squeeze=False)
    n = np.array([r["n_rated"] for r in rows], dtype=float)
    for axes, m in zip(panels[0], measures, strict=True):
        axes.spines[["top", "right"]].set_visible(False)
        for arm, colour in (("random", "#969696"), ("queue", "#08519c")):
            values = {k: np.array([r[f"{arm}_{m}{k}"] for r in rows], dtype=float)
                      for k in ("", "_min", "_max")}
            axes.fill_between(n, values["_min"], values["_max"], color=colour, alpha=0.2,
                              label=f"{arm}: min-max of seeds")
            axes.plot(n, values[""], "o-", color=colour, markersize=3,
                      label=f"{arm}: mean")
        final = rows[0][f"random_final_{m}"]
        if final is not None:
            axes.axhline(final, linestyle="--", color="#444444", linewidth=1,
                         label="random's final")
        reached = rows[0][f"queue_reaches_{m}_n"]
        if reached is not None:
            axes.axvline(reached, linestyle=":", color="#08519c", linewidth=1,
                         label="queue reaches it")
        axes.set_xlabel("rated images (start included)")
        axes.set_ylabel(MEASURES[m].split(" (")[0] + " (held-out test set)")
        axes.set_title(f"{scorer_id}: {m}")
        axes.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    return figure
