"""`neurostock select`: the images whose score passes a threshold, as a CSV list and
their files (the team's save_good_predicts.py, without deleting the folder first)."""

from __future__ import annotations

import csv
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np

from neurostock.core.csvsafe import safe_rows
from neurostock.core.errors import NeurostockError
from neurostock.core.outputs import Outputs
from neurostock.core.warehouse import connect, resolve_warehouse

# Where `--set` selects from: `pool` is the mart pool's unrated images (whichever
# neurostock.yml's `pool:` chose; big_set by default), the images a threshold is for.
SETS = ("pool", "big_set", "full_set")
MEMBERS = {"pool": "(select * from pool where source_rating is null)",
           "big_set": "big_set", "full_set": "full_set"}
MANIFEST = "selection.json"
LIST_FILE = "selected.csv"
IMAGES_DIR = "images"


@dataclass(frozen=True)
class Selection:
    scorer_id: str
    image_set: str
    direction: str
    threshold: float
    chosen_by: str
    expected_precision: float | None
    expected_recall: float | None
    n_scored: int
    n_selected: int
    n_files_written: int
    n_without_file: int
    is_random_init: bool
    out_dir: str
    # The sell decision (rpt_decision_curves): cross-fitted on every rated image
    # (unusable ones included), with its bootstrap interval; bounds instead of a
    # point where the score covers only part of them.
    expected_precision_ci: list[float | None] | None = None
    expected_precision_bounds: list[float | None] | None = None
    expected_keep_rate: float | None = None
    measured_on: int | None = None
    coverage: float | None = None
    shift_warning: str | None = None
    # A learned decision model's pooled figures on images it could not have seen
    # (rpt_learned_forward: later generations, unseen generators), and a warning where
    # the later generations' AUC interval lies below the grouped folds'.
    unseen: list[dict] | None = None
    forward_warning: str | None = None
    # Which figure chose the threshold: 'grouped folds', 'forward in time' (the forward
    # AUC disagrees with the grouped folds'), or None for a given threshold.
    measured_by: str | None = None


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(con.execute(
        "select count(*) from duckdb_tables() where schema_name = 'main' and table_name = ?",
        [name]).fetchone()[0])


def _signal(con: duckdb.DuckDBPyConnection, scorer_id: str) -> tuple[bool, str | None, bool]:
    for table in ("signal_summary", "image_signals"):
        if not _has_table(con, table):
            raise NeurostockError(f"table {table} is missing: run `neurostock build` first")
    row = con.execute("select is_valid, invalid_reason, is_random_init from signal_summary "
                      "where scorer_id = ?", [scorer_id]).fetchone()
    if row is None:
        known = [r[0] for r in con.execute(
            "select scorer_id from signal_summary order by 1").fetchall()]
        raise NeurostockError(f"unknown score {scorer_id!r}; known: {', '.join(known) or 'none'}")
    return row


def _direction(con: duckdb.DuckDBPyConnection, scorer_id: str, given: str | None) -> str:
    """The given direction, else the sell decision's (every rated image), else the
    agreement's (usable rated images)."""
    if given:
        return given
    for sql in ("select direction from rpt_decision_thresholds where scorer_id = ?",
                "select direction from rpt_score_agreement "
                "where scorer_id = ? and subset = 'all'"):
        table = sql.split(" from ", 1)[1].split()[0]
        row = con.execute(sql, [scorer_id]).fetchone() if _has_table(con, table) else None
        if row is not None and row[0] is not None:
            return row[0]
    raise NeurostockError(f"no agreement row for {scorer_id!r} (no rated images?): "
                          "pass --direction higher|lower")


@dataclass(frozen=True)
class _Decision:
    """One operating point of rpt_decision_curves, as select reports it."""

    threshold: float | None
    direction: str | None
    precision: float | None
    precision_low: float | None
    precision_high: float | None
    ci_low: float | None
    ci_high: float | None
    recall: float | None
    keep_rate: float | None
    n: int
    coverage: float
    shift_warning: str | None


DECISION_COLUMNS = ("threshold, direction, oos_precision, oos_precision_low, "
                    "oos_precision_high, oos_precision_ci_low, oos_precision_ci_high, "
                    "oos_recall, oos_keep_rate, n, coverage, shift_warning")


def _decision_for_precision(con: duckdb.DuckDBPyConnection, scorer_id: str,
                            precision: float, min_kept: int) -> _Decision:
    """The operating point with the highest out-of-sample keep rate whose cross-fitted
    precision reaches `precision` (its low bound, where the score covers part of the
    rated images) on at least `min_kept` images kept out of sample."""
    if not _has_table(con, "rpt_decision_curves"):
        raise NeurostockError("table rpt_decision_curves is missing: run `neurostock build`")
    row = con.execute(
        f"""
        select {DECISION_COLUMNS} from rpt_decision_curves
        where scorer_id = ? and rule = 'precision' and threshold is not null
          and oos_precision_low >= ? and oos_n_kept >= ?
        order by oos_keep_rate_low desc, target_precision
        limit 1
        """, [scorer_id, precision, min_kept]).fetchone()
    if row is not None:
        return _Decision(*row)
    best = con.execute(
        """select max(oos_precision_low), max(oos_precision_high), any_value(n),
                  any_value(coverage)
           from rpt_decision_curves where scorer_id = ? and oos_n_kept >= ?""",
        [scorer_id, min_kept]).fetchone()
    low, high, n, coverage = best if best else (None, None, None, None)
    if low is None:
        reach = "no threshold keeps enough images"
    elif coverage is not None and coverage < 1:
        reach = (f"at best {low:.3f} to {high:.3f}: it scores {coverage:.0%} of them, "
                 "the rest could be anything")
    else:
        reach = f"at best {low:.3f}"
    raise NeurostockError(
        f"{scorer_id} reaches precision {precision} out of sample at no threshold keeping at "
        f"least {min_kept} images ({reach}; cross-fitted on {n or 0:,} rated images); "
        "lower --precision or use --threshold")


def _forward_decision(con: duckdb.DuckDBPyConnection, scorer_id: str, precision: float,
                      min_kept: int, coverage: float | None,
                      shift_warning: str | None) -> _Decision:
    """The operating point chosen on the learned decision model's forward scores (the
    components `forward`, `forward_period` of its rated images; learn/forward.py): the
    threshold chosen on every forward score, its precision measured on later periods
    with thresholds chosen on earlier ones, as the gate's rpt_forward_operating_points."""
    from neurostock.learn.forward import forward_operating_point

    rows = con.execute("""
        select s.components['forward'], s.components['forward_period']::integer,
               r.is_sellable, coalesce(p.prompt_group, '#' || s.image_id)
        from scores as s
        inner join image_ratings as r using (image_id)
        left join pool as p using (image_id)
        where s.scorer_id = ? and s.components['forward'] is not null
        order by s.image_id""", [scorer_id]).fetchall()
    if not rows:
        raise NeurostockError(f"{scorer_id} has no forward scores: run `neurostock build`")
    score, period, sellable, groups = (np.array(c) for c in zip(*rows, strict=True))
    point = forward_operating_point(score.astype(float), sellable.astype(bool),
                                    period.astype(int), groups.astype(object), precision,
                                    min_kept=min_kept)
    if point["threshold"] is None or point["precision"] is None or \
            point["precision"] < precision or point["n_kept"] < min_kept:
        reach = (f"at best {point['precision']:.3f} on {point['n_kept']:,} kept"
                 if point["precision"] is not None else point["reason"])
        raise NeurostockError(
            f"{scorer_id} reaches precision {precision} forward in time (thresholds chosen "
            f"on earlier generations, measured on {point['measured_on']:,} later ones) at no "
            f"threshold keeping at least {min_kept} images ({reach}); its forward AUC "
            "disagrees with the grouped folds, so the forward figure decides; lower "
            "--precision or use --threshold")
    n_sellable = int(sellable.astype(bool)[period.astype(int) > period.min()].sum())
    recall = (point["precision"] * point["n_kept"] / n_sellable) if n_sellable else None
    low, high = point["precision_ci"]
    return _Decision(point["threshold"], "higher", point["precision"], point["precision"],
                     point["precision"], low, high, recall, point["keep_rate"],
                     point["measured_on"], coverage if coverage is not None else 1.0,
                     shift_warning)


def _forward_disagrees(unseen: list[dict] | None) -> bool:
    """Whether the pooled forward AUC disagrees with the grouped folds' beyond their
    intervals (rpt_learned_forward.disagrees): then the forward figure decides."""
    return any(f["split"] == "forward" and f["disagrees"] for f in unseen or [])


def _decision_context(con: duckdb.DuckDBPyConnection, scorer_id: str
                      ) -> tuple[int | None, float | None, str | None]:
    """(rated images measured on, coverage, shift warning) of a score."""
    if not _has_table(con, "rpt_decision_thresholds"):
        return None, None, None
    row = con.execute("select n, coverage, shift_warning from rpt_decision_thresholds "
                      "where scorer_id = ?", [scorer_id]).fetchone()
    return row if row else (None, None, None)


def unseen_figures(con: duckdb.DuckDBPyConnection, scorer_id: str
                   ) -> tuple[list[dict] | None, str | None]:
    """The pooled rows of rpt_learned_forward for `scorer_id` (None: not a learned
    decision model, or a warehouse built before) and the warning when the forward AUC's
    interval lies wholly below the grouped folds' one."""
    if not _has_table(con, "rpt_learned_forward"):
        return None, None
    rows = con.execute("""
        select split, n, auc_sellable, auc_sellable_ci_low, auc_sellable_ci_high,
               keep_share, precision_sellable, precision_sellable_ci_low,
               precision_sellable_ci_high, grouped_auc_sellable,
               grouped_auc_sellable_ci_low, disagrees
        from rpt_learned_forward where scorer_id = ? and part = 'pooled'
        order by split_order""", [scorer_id]).fetchall()
    if not rows:
        return None, None
    keys = ("split", "n", "auc_sellable", "auc_sellable_ci_low", "auc_sellable_ci_high",
            "keep_share", "precision_sellable", "precision_sellable_ci_low",
            "precision_sellable_ci_high", "grouped_auc_sellable",
            "grouped_auc_sellable_ci_low", "disagrees")
    figures = [dict(zip(keys, row, strict=True)) for row in rows]
    warning = None
    for f in figures:
        if f["split"] == "forward" and f["disagrees"] and \
                f["auc_sellable"] < f["grouped_auc_sellable"]:
            warning = (f"on later generations its AUC of sellable is {f['auc_sellable']:.3f} "
                       f"(95% CI {f['auc_sellable_ci_low']:.3f}-"
                       f"{f['auc_sellable_ci_high']:.3f}, {f['n']:,} images), below the "
                       f"grouped folds' {f['grouped_auc_sellable']:.3f}: the expected "
                       "precision is optimistic for new generations (rpt_learned_forward)")
    return figures, warning


def select_images(
    warehouse: str | Path | None,
    scorer_id: str,
    out_dir: str | Path,
    threshold: float | None = None,
    precision: float | None = None,
    image_set: str = "pool",
    direction: str | None = None,
    min_kept: int = 30,
    force: bool = False,
    link: bool = False,
    progress: Callable[[str], None] | None = None,
) -> Selection:
    """Write DIR/selected.csv (every passing image, best first, with its file status),
    DIR/images/<image_id><ext> (copies, or symlinks with `link`) and DIR/selection.json."""
    if (threshold is None) == (precision is None):
        raise NeurostockError("give exactly one of --threshold and --precision")
    if image_set not in SETS:
        raise NeurostockError(f"--set must be one of {', '.join(SETS)}, not {image_set!r}")
    out = Path(out_dir)
    target = resolve_warehouse(warehouse)
    with connect(target, read_only=True) as con:
        is_valid, reason, is_random = _signal(con, scorer_id)
        if not is_valid:
            raise NeurostockError(f"score {scorer_id} is invalid ({reason}): it cannot select")
        measured_on, coverage, shift_warning = _decision_context(con, scorer_id)
        unseen, forward_warning = unseen_figures(con, scorer_id)
        decision = None
        expected_precision = expected_recall = None
        forward = precision is not None and _forward_disagrees(unseen)
        if forward:
            decision = _forward_decision(con, scorer_id, precision, min_kept, coverage,
                                         shift_warning)
        elif precision is not None:
            decision = _decision_for_precision(con, scorer_id, precision, min_kept)
        if decision is not None:
            threshold = decision.threshold
            if direction and direction != decision.direction:
                raise NeurostockError(
                    f"--direction {direction}: the cross-fitted threshold of {scorer_id} keeps "
                    f"the {decision.direction} side; drop --direction or use --threshold")
            direction = decision.direction
            expected_precision, expected_recall = decision.precision, decision.recall
            measured_on, coverage, shift_warning = (decision.n, decision.coverage,
                                                    decision.shift_warning)
            chosen_by = (f"precision >= {precision} forward in time (thresholds chosen on "
                         "earlier generations, measured on later ones: the forward AUC "
                         f"disagrees with the grouped folds'; min {min_kept} kept)"
                         if forward else
                         f"precision >= {precision} out of sample (cross-fitted on every "
                         f"rated image, min {min_kept} kept)")
        else:
            chosen_by = "given threshold"
        direction = _direction(con, scorer_id, direction)
        keep = "score >= ?" if direction == "higher" else "score <= ?"
        order = "desc" if direction == "higher" else "asc"
        rating = "members.rating" if image_set == "full_set" else "null::integer"
        if not _has_table(con, image_set):
            raise NeurostockError(f"table {image_set} is missing: run `neurostock build` first")
        members = MEMBERS[image_set]
        n_scored = con.execute(
            f"select count(*) from image_signals semi join {members} as members "
            "using (image_id) where scorer_id = ?", [scorer_id]).fetchone()[0]
        rows = con.execute(
            f"""
            select signals.image_id, signals.score, {rating} as rating, members.prompt,
                   members.img_path, files.resolved_path, coalesce(files.status, 'not synced')
            from image_signals as signals
            inner join {members} as members using (image_id)
            left join files.images as files using (image_id)
            where signals.scorer_id = ? and signals.{keep}
            order by signals.score {order}, signals.image_id
            """, [scorer_id, threshold]).fetchall()
    with Outputs(out, command="select", record=MANIFEST, warehouse=target, force=force,
                 replaces="selection", say=progress) as outputs:
        written, without = _write_selection(outputs, rows, link, progress)
        selection = Selection(
            scorer_id=scorer_id, image_set=image_set, direction=direction,
            threshold=threshold, chosen_by=chosen_by, expected_precision=expected_precision,
            expected_recall=expected_recall, n_scored=n_scored, n_selected=len(rows),
            n_files_written=written, n_without_file=without, is_random_init=bool(is_random),
            out_dir=str(outputs.root),
            expected_precision_ci=None if decision is None
            else [decision.ci_low, decision.ci_high],
            expected_precision_bounds=None if decision is None
            or decision.precision is not None
            else [decision.precision_low, decision.precision_high],
            expected_keep_rate=None if decision is None else decision.keep_rate,
            measured_on=measured_on, coverage=coverage, shift_warning=shift_warning,
            # Forward deciding, the figure is no longer optimistic: no warning.
            unseen=unseen, forward_warning=None if forward else forward_warning,
            measured_by=None if decision is None
            else "forward in time" if forward else "grouped folds",
        )
        # selection.json holds the record of every file written (neurostock.core.outputs):
        # a later --force replaces or removes only those, while still what it wrote.
        outputs.finish(asdict(selection) | {
            "warehouse": str(target), "created_at": datetime.now(UTC).isoformat(),
            "files": "symlinks" if link else "copies"})
    return selection


def _write_selection(outputs: Outputs, rows: list[tuple], link: bool,
                     progress: Callable[[str], None] | None) -> tuple[int, int]:
    """DIR/images/ (copies or links) and DIR/selected.csv; (files written, rows
    without a file)."""
    written = without = 0
    listed = []
    for i, (image_id, score, rating_value, prompt, img_path, resolved, status) in \
            enumerate(rows, start=1):
        copied = relative = ""
        if status == "ok" and resolved and Path(resolved).is_file():
            relative = f"{IMAGES_DIR}/{image_id}{Path(resolved).suffix.lower()}"
            if link:
                outputs.link(relative, resolved)
            else:
                temp = outputs.temp_for(relative)
                shutil.copy2(resolved, temp)
                outputs.place(relative, temp)
        if not relative:
            without += 1
        elif relative in outputs.files or relative in outputs.links:
            copied = relative  # else kept: a file there that is not this command's
            written += 1
        listed.append([image_id, repr(score), "" if rating_value is None else rating_value,
                       prompt, img_path, status, copied])
        if progress and (i % 500 == 0 or i == len(rows)):
            progress(f"select: {i:,}/{len(rows):,} images")
    partial = outputs.temp_for(LIST_FILE)
    with partial.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image_id", "score", "rating", "prompt", "img_path", "file_status",
                         "file"])
        writer.writerows(safe_rows(listed))
    outputs.place(LIST_FILE, partial)
    return written, without
