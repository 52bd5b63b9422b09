"""`neurostock report --out DIR`: a static, offline site of the warehouse's findings.

Pages are rendered with Jinja2 (autoescaping on: prompts, names and paths are
untrusted text) from mart, analysis and rpt_ tables; templates compute nothing.
Everything a page needs is written under DIR (style, script, figures,
thumbnails); images are shown as thumbnails made inside DIR, never linked from
where the originals live.

This module renders and writes (Jinja2, figures, thumbnails, the caches that let a
second run redo only what changed); reports/data.py reads the warehouse, and
reports/dbt_docs.py copies dbt's documentation page.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from neurostock.core.errors import NeurostockError
from neurostock.core.outputs import Outputs
from neurostock.core.progress import say
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.reports import plots
from neurostock.reports.data import check_tables, load
from neurostock.reports.dbt_docs import copy_dbt_docs
from neurostock.reports.decision import draw_decision, load_decision
from neurostock.reports.ratings_page import draw_ratings, load_ratings
from neurostock.reports.submission_page import example_thumbnails, load_submission
from neurostock.reports.thumbnails import ThumbnailJob, make_thumbnails, relative_path

STATIC_DIR = Path(__file__).parent / "static"
# The report's manifest: what it was written from, the image pages' keys, and the record
# of every file written with its sha256 (neurostock.core.outputs).
RECORD = "report.json"


@dataclass(frozen=True)
class ReportSummary:
    out_dir: Path
    pages_written: int
    pages_unchanged: int
    figures_drawn: int
    thumbnails_made: int
    thumbnails_cached: int
    thumbnails_failed: int
    index_bytes: int
    docs: str
    seconds: float


def slug(text: str) -> str:
    """A file-name-safe form of an id, unique: a short hash is added when it changed."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if safe == text:
        return safe
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:6]}"


def _environment() -> Environment:
    env = Environment(loader=PackageLoader("neurostock.reports", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _number
    env.filters["pct"] = lambda v: "" if v is None else f"{100 * v:.1f}%"
    env.filters["slug"] = slug
    env.filters["thumb"] = relative_path
    return env


def _number(value, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:,.{digits}f}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


class _Writer:
    """Writes pages through the report's outputs, counting those whose text did not
    change (left untouched)."""

    def __init__(self, outputs: Outputs):
        self.outputs = outputs
        self.written = 0
        self.unchanged = 0

    def write(self, relative: str, text: str) -> None:
        if self.outputs.write(relative, text.encode("utf-8")):
            self.written += 1
        else:
            self.unchanged += 1


def _progress(message: str) -> None:
    say(f"report: {message}")


def build_report(warehouse: str | Path | None, out_dir: str | Path,
                 docs=None, workers: int = 2,
                 progress: Callable[[str], None] = _progress) -> ReportSummary:
    """Render the site into `out_dir` (created; files of a previous report replaced).

    `docs`: an object with `fingerprint(con)` and `generate()` -> the path of dbt's
    static docs page (neurostock.build.docs.DbtDocs), or None to leave the docs out."""
    started = time.perf_counter()
    target = resolve_warehouse(warehouse)
    # DIR: new, empty, or a previous report's (its report.json records every file with
    # its sha256; only those are replaced or removed: neurostock.core.outputs).
    outputs = Outputs(out_dir, command="report", record=RECORD, warehouse=target,
                      say=progress, label="")
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    with connect(target, read_only=True) as con:
        check_tables(con)
        data = load(con)
        data.update(load_decision(con))
        data.update(load_submission(con))
        data["ratings"] = load_ratings(con)
    progress(f"read the warehouse ({len(data['pages']):,} image pages)")
    with outputs:
        return _write_site(outputs, target, data, docs, workers, progress, started)


def _write_site(outputs: Outputs, target: Path, data: dict, docs, workers: int,
                progress: Callable[[str], None], started: float) -> ReportSummary:
    out = outputs.root
    thumbs = make_thumbnails(
        (ThumbnailJob(p["file_sha256"], p["resolved_path"]) for p in data["pages"]
         if p["file_status"] == "ok" and p["file_sha256"]), out, workers=workers,
        progress=progress, outputs=outputs)
    failed = thumbs["failed"]
    for page in data["pages"]:
        page["has_thumb"] = (page["file_status"] == "ok" and bool(page["file_sha256"])
                             and page["file_sha256"] not in failed)
    thumb_of = {p["image_id"]: p["file_sha256"] if p["has_thumb"] else None
                for p in data["pages"]}

    figures = plots.Figures(outputs, "plots")
    _draw(figures, data)
    draw_decision(figures, data)
    data["queue_thumbs"] = draw_ratings(figures, data["ratings"], outputs, workers)
    data["example_thumbs"] = example_thumbnails(data, outputs, workers)
    progress(f"figures: {figures.drawn} drawn, {len(figures.used) - figures.drawn} unchanged")

    env = _environment()
    writer = _Writer(outputs)
    written_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    common = {
        # Only the index carries the time: a page whose data did not change stays
        # byte for byte the same, so a second run rewrites nothing.
        "report_time": None,
        "warehouse": str(target),
        "random_embedders": [e for e in data["embedders"] if e["is_random_init"]],
        "planted_sample": data["planted_sample"],
        "embedders": data["embedders"],
        "clustered": data["clustered"],
        "thumb_of": thumb_of,
        "has_docs": docs is not None,
        "has_learned": bool(data["learned"]),
        "has_decision": data["has_decision"],
        "has_submission": data["has_submission"],
        "has_ratings": data["ratings"] is not None,
    }

    def render(template: str, relative: str, root: str, **context) -> None:
        values = {**context, **common, "root": root}
        if "report_time_index" in context:
            values["report_time"] = context["report_time_index"]
        text = env.get_template(template).render(values)
        writer.write(relative, text)

    render("index.html.j2", "index.html", "", **data, report_time_index=written_at)
    render("scores.html.j2", "scores.html", "", **data)
    render("agreement.html.j2", "agreement.html", "", **data)
    render("thresholds.html.j2", "thresholds.html", "", **data)
    render("keywords.html.j2", "keywords.html", "", **data)
    if data["has_decision"]:
        render("decision.html.j2", "decision.html", "", **data)
    if data["has_submission"]:
        render("submission.html.j2", "submission.html", "", **data)
    if data["learned"]:
        render("learned.html.j2", "learned.html", "", **data)
    if data["ratings"] is not None:
        render("ratings.html.j2", "ratings.html", "", **data)
    for embedder in data["clustered"]:
        eid = embedder["embedder_id"]
        render("cluster.html.j2", f"clusters/{slug(eid)}.html", "../", embedder=embedder,
               clusters=data["cluster_ratings"][eid], examples=data["examples"][eid],
               solutions=data["solutions"][eid], maps=data["map_figures"][eid],
               mix=data["mix_figures"][eid], rankings=data["rankings"][eid])
        for ranking in data["rankings"][eid]:
            render("cluster_scores.html.j2", f"clusters/{slug(eid)}/{slug(ranking)}.html",
                   "../../", embedder=embedder, ranking=ranking,
                   clusters=data["cluster_ratings"][eid],
                   examples=data["examples"][eid])
    template = env.get_template("image.html.j2")
    previous = _previous_page_keys(out) if outputs.previous_files else {}
    context_key = _context_key(env, common)
    page_keys = {}
    skipped = 0
    for i, page in enumerate(data["pages"], start=1):
        iid = page["image_id"]
        scores = data["image_scores"].get(iid, [])
        neighbours = data["neighbours"].get(iid, {})
        shown = sorted({n["neighbour_id"] for rows in neighbours.values() for n in rows})
        key = hashlib.sha256(json.dumps(
            [context_key, page, scores, neighbours, [thumb_of.get(n) for n in shown]],
            default=str, sort_keys=True).encode()).hexdigest()[:24]
        page_keys[str(iid)] = key
        relative = f"images/{iid}.html"
        if previous.get(str(iid)) == key and outputs.reuse(relative):
            skipped += 1  # same data, same templates: the file on disk is this page
        else:
            writer.write(relative, template.render(
                {**common, "root": "../", "page": page, "scores": scores,
                 "neighbours": neighbours}))
        if i % 2000 == 0 or i == len(data["pages"]):
            progress(f"image pages {i:,}/{len(data['pages']):,}")
    writer.unchanged += skipped
    _copy_static(outputs)
    docs_state = copy_dbt_docs(target, outputs, docs, progress) if docs \
        else "skipped (--no-docs)"
    # Pages of images no longer rated, figures no page uses: the last report's files
    # this one did not write go, while still what it wrote.
    removed = outputs.finish({
        "warehouse": str(target), "written_at": written_at,
        "pages": writer.written + writer.unchanged, "thumbnails_failed": failed,
        "image_page_keys": page_keys,
    })
    if removed:
        progress(f"removed {len(removed)} files of the last report no page uses any more")
    return ReportSummary(
        out_dir=out.resolve(), pages_written=writer.written, pages_unchanged=writer.unchanged,
        figures_drawn=figures.drawn, thumbnails_made=thumbs["made"],
        thumbnails_cached=thumbs["cached"], thumbnails_failed=len(failed),
        index_bytes=(out / "index.html").stat().st_size, docs=docs_state,
        seconds=time.perf_counter() - started,
    )


def _draw(figures: plots.Figures, data: dict) -> None:
    dist = [r for r in data["rating_distribution"]]
    data["rating_figure"] = figures.draw(
        "ratings", dist, lambda: plots.bar_chart(
            [r["label"] for r in dist], [r["n_images"] for r in dist],
            "Images per resolved rating", "images",
            [plots.RATING_COLOURS[r["rating"]] if r["rating"] is not None else "#888888"
             for r in dist]))
    months = data["months"]
    data["months_figure"] = figures.draw(
        "months", months, lambda: plots.months_chart(
            [m["month"] for m in months], [m["n_images"] for m in months],
            [m["n_full_set"] for m in months])) if months else None
    data["box_figures"] = {
        sid: figures.draw("box", rows, lambda sid=sid, rows=rows: plots.score_boxes(sid, rows))
        for sid, rows in data["boxes"].items()}
    directions = {r["scorer_id"]: r["direction"] for r in data["agreement"]}
    target = next((s["target_precision"] for s in data["suggestions"]), 0.8)
    data["curve_figures"] = {
        sid: figures.draw("curve", [directions.get(sid), target, rows],
                          lambda sid=sid, rows=rows: plots.threshold_curves(
                              sid, directions.get(sid, "higher"), rows, target))
        for sid, rows in data["curves"].items()}
    compared = {a["scorer_id"]: data["curves"][a["scorer_id"]]
                for a in data["learned"] + data["outside"][:6] if a["scorer_id"] in data["curves"]}
    data["learned_figure"] = figures.draw(
        "precision-keep", compared, lambda: plots.precision_by_keep_rate(compared)) \
        if data["learned"] else None
    data["keyword_figures"] = {
        eid: figures.draw("keywords", rows, lambda eid=eid, rows=rows:
                          plots.keyword_groups(eid, rows))
        for eid, rows in data["keywords"].items()}
    data["map_figures"] = {}
    data["mix_figures"] = {}
    for embedder in data["clustered"]:
        eid = embedder["embedder_id"]
        pts = data["map_points"].get(eid, [])
        data["map_figures"][eid] = {
            colour: figures.draw(f"map-{colour}", pts, lambda pts=pts, colour=colour, eid=eid:
                                 plots.cluster_map(pts, colour, f"{eid}: by {colour}"), "png")
            for colour in ("rating", "cluster")} if pts else {}
        rows = data["cluster_ratings"].get(eid, [])
        data["mix_figures"][eid] = figures.draw(
            "mix", rows, lambda rows=rows: plots.rating_mix(rows)) if rows else None


def _previous_page_keys(out: Path) -> dict[str, str]:
    try:
        return json.loads((out / "report.json").read_text()).get("image_page_keys", {})
    except (OSError, ValueError):
        return {}


def _context_key(env: Environment, common: dict) -> str:
    """What every image page shares: its templates' source and the common context."""
    digest = hashlib.sha256()
    for name in ("base.html.j2", "macros.html.j2", "image.html.j2"):
        source, _, _ = env.loader.get_source(env, name)
        digest.update(source.encode())
    shared = {k: v for k, v in common.items() if k != "thumb_of"}
    digest.update(json.dumps(shared, default=str, sort_keys=True).encode())
    return digest.hexdigest()


def _copy_static(outputs: Outputs) -> None:
    for source in sorted(STATIC_DIR.iterdir()):
        outputs.write(f"assets/{source.name}", source.read_bytes())
