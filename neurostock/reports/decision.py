"""The report's Decision page: what it reads (rpt_decision_thresholds,
rpt_decision_curves, rpt_population_shift, rpt_population_mix) and the one figure it
draws per score, the out-of-sample precision / keep-rate curve with its band."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import duckdb

from neurostock.reports import plots
from neurostock.reports.data import query_rows

TABLES = ("rpt_decision_thresholds", "rpt_decision_curves", "rpt_population_shift",
          "rpt_population_mix")


def load_decision(con: duckdb.DuckDBPyConnection) -> dict:
    """Everything the Decision page shows; empty when the warehouse predates it."""
    present = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where schema_name = 'main'").fetchall()}
    if not all(t in present for t in TABLES):
        return {"has_decision": False}
    curves = defaultdict(list)
    for row in query_rows(con, """
            select * from rpt_decision_curves where rule = 'precision'
            order by scorer_id, target_precision"""):
        curves[row["scorer_id"]].append(row)
    mix = defaultdict(lambda: defaultdict(dict))
    for row in query_rows(con, "select * from rpt_population_mix order by attribute, value"):
        mix[row["attribute"]][row["value"]][row["population"]] = row
    return {
        "has_decision": True,
        "decisions": query_rows(con, """
            select * from rpt_decision_thresholds
            order by coalesce(oos_precision, oos_precision_low) desc nulls last, scorer_id"""),
        "decision_curves": dict(curves),
        "population_shift": query_rows(con, """
            select * from rpt_population_shift order by psi desc nulls last, scorer_id"""),
        "population_mix": {attribute: dict(values) for attribute, values in mix.items()},
    }


def draw_decision(figures: plots.Figures, data: dict) -> None:
    """data['decision_figures']: scorer_id -> the figure's file name; data
    ['decision_lead_figure']: the top scores on one plot (absent: none to show)."""
    data["decision_figures"] = {}
    data["decision_lead"] = []
    if not data.get("has_decision"):
        return
    base = {d["scorer_id"]: d for d in data["decisions"]}
    lead = top_scores(data["decisions"], data["decision_curves"])
    data["decision_lead"] = lead
    if lead:
        curves = {s: data["decision_curves"][s] for s in lead}
        data["decision_lead_figure"] = figures.draw(
            "decision_overview", [lead, curves],
            lambda: decision_overview(lead, curves))
    for scorer_id, rows in data["decision_curves"].items():
        if scorer_id not in base:
            continue
        target = base[scorer_id]["target_precision"]
        data["decision_figures"][scorer_id] = figures.draw(
            "decision", [scorer_id, target, rows],
            lambda scorer_id=scorer_id, rows=rows, target=target:
            decision_curve(scorer_id, rows, target))


# Scores the Decision page's lead figure overlays.
TOP_SCORES = 4
_COLOURS = ("#2c7bb6", "#d7191c", "#1a9641", "#7b3294")


def top_scores(decisions: Sequence[dict], curves: dict) -> list[str]:
    """The scores the lead figure shows: valid ones with a full out-of-sample curve
    (every rated image scored: a point, not bounds), best out-of-sample precision at
    the target first (the table's order), random weights left out."""
    return [d["scorer_id"] for d in decisions
            if not d.get("is_random_init") and d["scorer_id"] in curves
            and any(r["oos_n_kept"] and r["oos_precision"] is not None
                    for r in curves[d["scorer_id"]])][:TOP_SCORES]


def decision_overview(scorers: Sequence[str], curves: dict):
    """Out-of-sample precision of sellable against the share of rated images kept, for
    the top scores on one plot, each with its 95% bootstrap band, and the base rate."""
    figure, axes = plots._figure(6.4, 3.6)
    for scorer_id, colour in zip(scorers, _COLOURS, strict=False):
        points = sorted((r for r in curves[scorer_id]
                         if r["oos_n_kept"] and r["oos_precision"] is not None),
                        key=lambda r: r["oos_keep_rate"])
        keep = [r["oos_keep_rate"] for r in points]
        axes.plot(keep, [r["oos_precision"] for r in points], color=colour, marker="o",
                  markersize=3, label=scorer_id)
        low = [r["oos_precision_ci_low"] for r in points]
        high = [r["oos_precision_ci_high"] for r in points]
        if all(v is not None for v in low + high):
            axes.fill_between(keep, low, high, color=colour, alpha=0.12)
    if scorers:
        axes.axhline(curves[scorers[0]][0]["base_rate"], color="#777777", linestyle=":",
                     linewidth=1, label="base rate")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("share of rated images kept (out of sample)")
    axes.set_ylabel("precision of sellable")
    axes.set_title("out of sample, 95% bands", fontsize=9)
    axes.legend(frameon=False, fontsize=7)
    return figure


def decision_curve(scorer_id: str, rows: Sequence[dict], target: float):
    """Out-of-sample precision of sellable against the share of rated images kept, one
    point per target precision, with the 95% band (or the coverage bounds), beside the
    in-sample curve (dashed, labelled) and the base rate."""
    figure, axes = plots._figure(4.8, 3.2)
    points = sorted((r for r in rows if r["oos_n_kept"]), key=lambda r: r["oos_keep_rate_low"])
    if points:
        keep = [r["oos_keep_rate_low"] for r in points]
        partial = points[0]["coverage"] < 1
        if partial:
            axes.fill_between(keep, [r["oos_precision_low"] for r in points],
                              [r["oos_precision_high"] for r in points], color="#fdae61",
                              alpha=0.5, label="bounds (unscored images)")
        else:
            axes.plot(keep, [r["oos_precision"] for r in points], color="#2c7bb6",
                      marker="o", markersize=3, label="out of sample")
        low = [r["oos_precision_ci_low"] for r in points]
        high = [r["oos_precision_ci_high"] for r in points]
        if all(v is not None for v in low + high):
            axes.fill_between(keep, low, high, color="#2c7bb6", alpha=0.15, label="95% band")
        chosen = [r for r in points if r["target_precision"] == target]
        for r in chosen:
            axes.plot([r["oos_keep_rate_low"]], [r["oos_precision_low"]], marker="*",
                      color="#d7191c", markersize=10, linestyle="none",
                      label=f"target {target:g}")
    inside = sorted((r for r in rows if r["in_sample_n_kept"]),
                    key=lambda r: r["in_sample_keep_rate_low"] or 0)
    if inside:
        axes.plot([r["in_sample_keep_rate_low"] for r in inside],
                  [r["in_sample_precision_low"] for r in inside], color="#777777",
                  linestyle="--", linewidth=1, label="in sample (optimistic)")
    if rows:
        axes.axhline(rows[0]["base_rate"], color="#777777", linestyle=":", linewidth=1,
                     label="base rate")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("share of rated images kept")
    axes.set_ylabel("precision of sellable")
    axes.set_title(scorer_id, fontsize=9)
    axes.legend(frameon=False, fontsize=6)
    return figure
