"""The report's figures, drawn with matplotlib from rows the warehouse computed.

Every figure is a file named by a hash of its data and kind: a figure whose data
did not change is not drawn again (the second run of a report costs only HTML).
Line and bar charts are SVG; maps with thousands of points are PNG.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from neurostock.core.outputs import Outputs  # noqa: E402

# Rating 0-3 colours, worst to best (colour-blind safe).
RATING_COLOURS = ["#d7191c", "#fdae61", "#abd9e9", "#2c7bb6"]
PLOT_VERSION = "1"


class Figures:
    """Draws figures into `folder` of the report's outputs and remembers which files the
    report uses; a figure the last report recorded is not drawn again, and one no page
    uses any more is removed with the report's other stale files (Outputs.finish)."""

    def __init__(self, outputs: Outputs, folder: str = "plots"):
        self.outputs = outputs
        self.folder = folder
        self.used: set[str] = set()
        self.drawn = 0

    def draw(self, kind: str, data: object, painter: Callable[[], plt.Figure],
             suffix: str = "svg") -> str:
        """The figure's file name under the folder; `painter` runs only if it is new."""
        digest = hashlib.sha256(json.dumps([PLOT_VERSION, kind, data], default=str,
                                           sort_keys=True).encode()).hexdigest()[:16]
        name = f"{kind}-{digest}.{suffix}"
        self.used.add(name)
        relative = f"{self.folder}/{name}"
        if not self.outputs.reuse(relative):
            figure = painter()
            partial = self.outputs.temp_for(relative)
            try:
                figure.savefig(partial, format=suffix, bbox_inches="tight",
                               dpi=110 if suffix == "png" else None,
                               metadata={"Date": None} if suffix == "svg" else None)
            finally:
                plt.close(figure)
            self.outputs.place(relative, partial)
            self.drawn += 1
        return name


def _figure(width: float = 5.0, height: float = 3.0):
    figure, axes = plt.subplots(figsize=(width, height))
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def bar_chart(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str,
              colours: Sequence[str] | None = None) -> plt.Figure:
    figure, axes = _figure()
    axes.bar([str(label) for label in labels], values, color=colours or "#2c7bb6")
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)
    return figure


def months_chart(months: Sequence[str], images: Sequence[int], rated: Sequence[int]):
    figure, axes = _figure(6.5, 3.0)
    axes.bar(months, images, color="#cccccc", label="images")
    axes.bar(months, rated, color="#2c7bb6", label="rated (full_set)")
    axes.set_yscale("log")
    axes.set_title("Images per generation month")
    axes.legend(frameon=False)
    axes.tick_params(axis="x", labelrotation=45)
    return figure


def score_boxes(scorer_id: str, boxes: Sequence[dict]) -> plt.Figure:
    """Box plot of a score per rating from SQL's quartiles (whiskers: min and max)."""
    figure, axes = _figure(4.0, 2.8)
    stats = [{"label": str(b["rating"]), "whislo": b["min_score"], "q1": b["q1"],
              "med": b["median"], "q3": b["q3"], "whishi": b["max_score"],
              "mean": b["mean_score"]} for b in boxes]
    artists = axes.bxp(stats, showmeans=True, showfliers=False, patch_artist=True)
    for patch, box in zip(artists["boxes"], boxes, strict=True):
        patch.set_facecolor(RATING_COLOURS[int(box["rating"]) % 4])
    axes.set_xlabel("rating (0 worst - 3 best)")
    axes.set_title(scorer_id, fontsize=9)
    return figure


def threshold_curves(scorer_id: str, direction: str, points: Sequence[dict],
                     target: float) -> plt.Figure:
    """Keep rate, precision and recall of good against the threshold."""
    figure, axes = _figure(4.6, 3.0)
    xs = [p["threshold"] for p in points]
    for key, colour in (("keep_rate", "#777777"), ("precision", "#2c7bb6"),
                        ("recall", "#d7191c")):
        axes.plot(xs, [p[key] for p in points], color=colour, label=key.replace("_", " "))
    axes.axhline(target, color="#2c7bb6", linestyle=":", linewidth=1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel(f"threshold (keep score {'>=' if direction == 'higher' else '<='} t)")
    axes.set_title(scorer_id, fontsize=9)
    axes.legend(frameon=False, fontsize=7)
    return figure


def cluster_map(points: Sequence[dict], colour_by: str, title: str) -> plt.Figure:
    figure, axes = _figure(5.5, 5.0)
    axes.set_xticks([])
    axes.set_yticks([])
    xs = [p["x"] for p in points]
    ys = [p["y"] for p in points]
    size = max(3.0, 200.0 / max(1.0, len(points) ** 0.5))
    if colour_by == "rating":
        colours = [RATING_COLOURS[int(p["rating"])] for p in points]
        axes.scatter(xs, ys, c=colours, s=size, linewidths=0)
        for rating, colour in enumerate(RATING_COLOURS):
            axes.scatter([], [], c=colour, s=20, label=f"rating {rating}")
        axes.legend(frameon=False, fontsize=7, loc="best")
    else:
        clusters = [p["cluster_id"] for p in points]
        axes.scatter(xs, ys, c=clusters, cmap="tab20", s=size, linewidths=0)
        centres: dict[int, list[tuple[float, float]]] = {}
        for p in points:
            centres.setdefault(p["cluster_id"], []).append((p["x"], p["y"]))
        for cluster, members in centres.items():
            cx = sum(m[0] for m in members) / len(members)
            cy = sum(m[1] for m in members) / len(members)
            axes.annotate(str(cluster), (cx, cy), fontsize=9, weight="bold", ha="center")
    axes.set_title(title, fontsize=10)
    return figure


def rating_mix(clusters: Sequence[dict]) -> plt.Figure:
    """Stacked share of each rating per cluster."""
    figure, axes = _figure(max(4.0, 0.45 * len(clusters) + 1.5), 3.0)
    labels = [str(c["cluster_id"]) for c in clusters]
    bottom = [0.0] * len(clusters)
    for rating, colour in enumerate(RATING_COLOURS):
        shares = [(c[f"n_rating_{rating}"] / c["n_full_set"]) if c["n_full_set"] else 0.0
                  for c in clusters]
        axes.bar(labels, shares, bottom=bottom, color=colour, label=f"rating {rating}")
        bottom = [b + s for b, s in zip(bottom, shares, strict=True)]
    axes.set_xlabel("cluster")
    axes.set_ylabel("share of rated images")
    axes.legend(frameon=False, fontsize=7, bbox_to_anchor=(1, 1), loc="upper left")
    return figure


def keyword_groups(embedder_id: str, rows: Sequence[dict]) -> plt.Figure:
    """Mean group probability per rating, one group of bars per keyword group."""
    groups = sorted({r["keyword_group"] for r in rows})
    figure, axes = _figure(6.0, 3.0)
    width = 0.2
    for rating, colour in enumerate(RATING_COLOURS):
        values = {r["keyword_group"]: r["mean_probability"] for r in rows
                  if r["rating"] == rating}
        axes.bar([i + (rating - 1.5) * width for i in range(len(groups))],
                 [values.get(g, 0.0) for g in groups], width=width, color=colour,
                 label=f"rating {rating}")
    axes.set_xticks(range(len(groups)), groups, rotation=20)
    axes.set_ylabel("mean probability")
    axes.set_title(f"zero-shot keyword groups, {embedder_id}", fontsize=10)
    axes.legend(frameon=False, fontsize=7)
    return figure


def precision_by_keep_rate(curves: dict[str, Sequence[dict]]) -> plt.Figure:
    """Precision of good against the share of rated images kept, one line per score."""
    figure, axes = _figure(6.0, 4.0)
    for i, (scorer_id, points) in enumerate(curves.items()):
        ordered = sorted(points, key=lambda p: p["keep_rate"])
        axes.plot([p["keep_rate"] for p in ordered], [p["precision"] for p in ordered],
                  linewidth=2.2 if scorer_id.startswith("learned_") else 1.2,
                  color=None if not scorer_id.startswith("learned_") else "#000000",
                  label=scorer_id, zorder=3 if scorer_id.startswith("learned_") else 2,
                  linestyle="-" if i < 10 else "--")
    axes.set_xlabel("share of rated images kept")
    axes.set_ylabel("precision of good")
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.legend(frameon=False, fontsize=7, bbox_to_anchor=(1, 1), loc="upper left")
    return figure
