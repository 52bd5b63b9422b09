"""The build: marts, image files, embeddings and scores, analysis, learned models, in
order, each step reading what the one before it wrote. The CLI calls these; they
print through `say` (neurostock.core.progress)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from neurostock.build.dbt_runner import prepare_project, run_dbt
from neurostock.core.config import Config
from neurostock.core.meta import ensure_runs_table
from neurostock.core.progress import say
from neurostock.core.warehouse import connect, resolve_warehouse

# Built after `images sync`: they need the image files (or read what does).
AFTER_FILES = ("tag:embedding+", "tag:score+", "tag:report+")
# The `scores` view and what reads it (a bare `scores+` would also select every model
# of the scores folder, the computed scorers' UDF steps included).
AFTER_SCORES = ("path:models/scores/scores.sql+", "tag:report")


@dataclass(frozen=True)
class ImageSyncOptions:
    """Command-line overrides of the config's `images:` settings (None: the config's)."""

    maps: Sequence[str] | None = None
    dest: str | None = None
    roots: Sequence[str] | None = None
    copy_unusable: bool | None = None


def build(warehouse: str | os.PathLike | None, config: Config,
          select: Sequence[str] | None = None, user_vars: str | None = None,
          skip_images: bool = False) -> float:
    """`neurostock build`; returns the seconds it took."""
    started = time.perf_counter()
    infos, _ = prepare_project(warehouse, config)
    for info in infos:
        label = " (RANDOM WEIGHTS, testing only)" if info.is_random_init else ""
        say(f"embedder {info.embedder_id}: {info.library} {info.model}, {info.dim}-d{label}")
    if select:
        run_dbt(["build", "--select", *select], warehouse, user_vars)
    else:
        if skip_images:
            # No image check between the marts and what reads the files: one dbt run of
            # the whole project (dbt's order is the same), one dbt start-up saved.
            steps_from = _now(warehouse)
            run_dbt(["build"], warehouse, user_vars)
        else:
            # Marts first: the image files to check, embed and score are the marts' images.
            run_dbt(["build", "--exclude", *AFTER_FILES], warehouse, user_vars)
            sync_images(warehouse, config)
            steps_from = _now(warehouse)
            run_dbt(["build", "--select", *AFTER_FILES], warehouse, user_vars)
        _say_step_counts(warehouse, steps_from)
        if config.learned:
            train_models(warehouse, config, list(config.learned), user_vars)
    return time.perf_counter() - started


def rebuild_after_scores(warehouse: str | os.PathLike | None, config: Config,
                         user_vars: str | None = None) -> None:
    """Rebuild the `scores` view and everything that reads it (after an import or a
    training), with the generated models of `config`; on a warehouse that was never
    built, say what to run instead."""
    if _rebuild_or_say(warehouse, "scores"):
        prepare_project(warehouse, config)
        run_dbt(["build", "--select", *AFTER_SCORES], warehouse, user_vars)


def rebuild_after_embeddings(warehouse: str | os.PathLike | None, config: Config) -> None:
    """Rebuild the embedding views and everything that reads them (after an import)."""
    if _rebuild_or_say(warehouse, "image_embeddings"):
        prepare_project(warehouse, config)
        run_dbt(["build", "--select", "path:models/embeddings+", "tag:report"], warehouse)


def _rebuild_or_say(warehouse, view: str) -> bool:
    with connect(warehouse, read_only=True) as con:
        built = con.execute("select count(*) from duckdb_views() where schema_name = 'main' "
                            "and view_name = ?", [view]).fetchone()[0]
    if not built:
        say(f"the warehouse has no `{view}` yet: run `neurostock build` to see the import "
            "in every table")
    return bool(built)


def train_models(warehouse, config: Config, models, user_vars: str | None = None) -> list:
    """Train (or reuse) learned models, then rebuild what reads scores; a model with too
    few ratings is one warning line. Returns the learn.train.TrainResult of each."""
    from neurostock.learn.train import train

    target = resolve_warehouse(warehouse)
    results = []
    for cfg in models:
        with connect(target) as con:
            result = train(con, target, cfg)
        results.append(result)
        if result.status == "skipped":
            say(f"warning: {result.message}")
            continue
        oof = "" if result.spearman_oof is None else \
            f", out-of-fold Spearman {result.spearman_oof:.3f}"
        if result.auc_oof is not None:
            oof = f", out-of-fold AUC of {result.target} {result.auc_oof:.3f}"
        say(f"{result.scorer_id}: {result.status} on {result.n_train:,} training images x "
            f"{result.n_features:,} features{oof}; {result.n_scored_other:,} other images "
            f"scored ({result.seconds:.1f} s)")
    # A model reused on the same images writes the scores it wrote before and nothing
    # else: what the build's dbt run made from them is already current.
    if any(r.scores_changed for r in results):
        rebuild_after_scores(target, config, user_vars)
    return results


def sync_images(warehouse, config: Config, options: ImageSyncOptions | None = None) -> None:
    """`images sync` with the config's settings (overridden by `options`), recorded in
    meta.pipeline_runs."""
    from neurostock.images.sync import PathMap
    from neurostock.images.sync import sync_images as sync

    options = options or ImageSyncOptions()
    settings = config.images
    maps = [PathMap.parse(m) for m in (options.maps or settings.maps)]
    summary = sync(
        warehouse,
        maps=maps,
        dest=options.dest or settings.dest,
        roots=options.roots or settings.roots,
        workers=settings.workers,
        max_pixels=settings.max_pixels,
        max_bytes=settings.max_bytes,
        copy_unusable=(settings.copy_unusable if options.copy_unusable is None
                       else options.copy_unusable),
        base=settings.base,
    )
    _record_sync(warehouse, summary)
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.by_status.items()))
    say(f"images: {summary.total:,} checked ({statuses}); {summary.copied:,} copied, "
        f"{summary.skipped_copies:,} already in place")
    say(f"images: {summary.n_new:,} new in the pool, {summary.n_rehashed:,} files read, "
        f"{summary.total - summary.n_rehashed:,} not read (unchanged since their last check, "
        "or no file)")


def _now(warehouse):
    """The warehouse's clock now (meta.pipeline_runs' times are the warehouse's)."""
    with connect(warehouse, read_only=True) as con:
        return con.execute("select now()").fetchone()[0]


def _say_step_counts(warehouse, since) -> None:
    """One line per embedding / scoring step that ran since `since`: what it computed,
    skipped (already done) and failed (meta.pipeline_runs)."""
    with connect(warehouse, read_only=True) as con:
        has_runs = con.execute("select count(*) from duckdb_tables() where schema_name = 'meta' "
                             "and table_name = 'pipeline_runs'").fetchone()[0]
        rows = con.execute(
            "select step, target_id, n_computed, n_skipped, n_failed from meta.pipeline_runs "
            "where started_at >= ? and step != 'images_sync' order by started_at, step",
            [since]).fetchall() if has_runs else []
    for step, target, computed, skipped, failed in rows:
        say(f"{step} {target or ''}: {computed:,} computed, {skipped:,} already done, "
            f"{failed:,} failed")


def _record_sync(warehouse, summary) -> None:
    """One meta.pipeline_runs row: copies made, copies skipped, files not ok."""
    not_ok = summary.total - summary.by_status.get("ok", 0)
    with connect(warehouse) as con:
        ensure_runs_table(con)
        con.execute(
            "insert into meta.pipeline_runs values (uuid(), 'images_sync', null, "
            "now() - to_microseconds(cast(? * 1e6 as bigint)), now(), ?, ?, ?, ?)",
            [summary.seconds, summary.copied, summary.skipped_copies, not_ok,
             ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))],
        )
