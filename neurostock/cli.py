"""The `neurostock` command: ingest, build, export, sample, status, dbt."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from neurostock import __version__
from neurostock.core.errors import NeurostockError
from neurostock.core.lock import writer_lock
from neurostock.core.progress import say as _say
from neurostock.core.warehouse import WAREHOUSE_ENV, connect, resolve_warehouse


def _cmd_ingest(args: argparse.Namespace) -> None:
    from neurostock.ingest.sqlite_copy import ingest

    result = ingest(args.source_db, args.warehouse, progress=_say)
    if result.status == "unchanged":
        print(f"nothing to do: {result.source_path} is unchanged (load {result.load_id})")
    else:
        tables = ", ".join(f"{t} {n:,}" for t, n in result.table_rows.items())
        print(
            f"loaded {result.source_path} as load {result.load_id} in "
            f"{result.seconds:.1f} s: {tables}"
        )


def _cmd_build(args: argparse.Namespace) -> None:
    from neurostock.build.pipeline import build
    from neurostock.core.config import load_config

    seconds = build(args.warehouse, load_config(args.config), select=args.select,
                    user_vars=args.vars, skip_images=args.skip_images)
    print(f"build finished in {seconds:.1f} s")


def _cmd_train(args: argparse.Namespace) -> None:
    from neurostock.build.pipeline import train_models
    from neurostock.core.config import LEARNED_KINDS, learned_config, load_config

    config = load_config(args.config)
    configured = {m.name: m for m in config.learned}
    adhoc = bool(args.embedder or args.kind or args.no_scores or args.model
                 or args.shuffle_labels or args.block or args.target)
    if args.name in configured and not adhoc:
        models = [configured[args.name]]
    elif args.name:
        models = [learned_config(
            "neurostock train", name=args.name, embedders=tuple(args.embedder or ()),
            kinds=tuple(args.kind or LEARNED_KINDS), use_scores=not args.no_scores,
            model=args.model or "ridge", folds=args.folds, seed=args.seed,
            shuffle_labels=args.shuffle_labels,
            blocks=tuple(args.block) if args.block else None,
            target=args.target or "rating")]
    else:
        models = list(config.learned)
        if not models:
            raise NeurostockError("no learned model: add `learned:` to neurostock.yml or "
                                  "pass --name (with --embedder / --model)")
    results = train_models(args.warehouse, config, models)
    trained = [r.scorer_id for r in results if r.status != "skipped"]
    if trained:
        print(f"trained {', '.join(trained)}: see rpt_score_agreement and the report's "
              "Learned page")


def _cmd_images_sync(args: argparse.Namespace) -> None:
    from neurostock.build.pipeline import ImageSyncOptions, sync_images
    from neurostock.core.config import load_config

    sync_images(args.warehouse, load_config(args.config),
                ImageSyncOptions(maps=args.map, dest=args.dest, roots=args.root,
                                 copy_unusable=args.copy_unusable or None))


def _cmd_ray(args: argparse.Namespace) -> None:
    from neurostock.build.ray_jobs import embed_with_ray, score_with_ray
    from neurostock.core.config import load_config

    run = embed_with_ray if args.command == "embed" else score_with_ray
    run(args.warehouse, load_config(args.config), args.target or (), address=args.address)


def _cmd_dbt(args: argparse.Namespace) -> None:
    from neurostock.build.dbt_runner import run_dbt

    # The models and vars the last `neurostock build` prepared; nothing is rewritten.
    run_dbt(args.dbt_args, args.warehouse)


def _cmd_export(args: argparse.Namespace) -> None:
    from neurostock.deliver.export import export

    written = export(args.out, args.warehouse, image_prefix=args.image_prefix, progress=_say)
    print(f"exported {len(written)} files to {Path(args.out).resolve()}")


def _cmd_sample(args: argparse.Namespace) -> None:
    from neurostock.sampledata.source import write_sample

    out = Path(args.out)
    db = out / "core.download.db"
    if db.exists():
        if not args.force:
            raise NeurostockError(f"{db} already exists: pass --force to replace the sample")
        _remove_sample(out)
    try:
        summary = write_sample(out, rows=args.rows, seed=args.seed, progress=_say)
    except ValueError as exc:
        raise NeurostockError(str(exc)) from exc
    print(
        f"wrote {summary.db_path}: {summary.rows:,} images, {summary.rating_rows:,} ratings "
        f"of {summary.rated_images:,} images, {summary.image_files:,} image files"
    )


def _remove_sample(out: Path) -> None:
    """Remove what a previous `sample` wrote, and nothing else."""
    import shutil

    for name in ("core.download.db", "README.txt", "sample_manifest.json"):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "core", ignore_errors=True)


def _cmd_status(args: argparse.Namespace) -> None:
    from neurostock.core.lock import current_writer
    from neurostock.deliver.inventory import last_load, table_sizes

    target = resolve_warehouse(args.warehouse)
    writer = current_writer(target)
    with connect(target, read_only=True) as con:
        print(f"warehouse {target}")
        if writer:
            print(f"being written by {writer}")
        load = last_load(con)
        if load is None:
            print("no load yet: run `neurostock ingest SOURCE_DB`")
            return
        print(f"last load {load.load_id}: {load.source_path} (sha256 {load.source_sha256[:12]}…) "
              f"at {load.finished_at}")
        if load.is_planted_sample:
            print("source: neurostock's synthetic sample; its signals are PLANTED (the "
                  "pictures' noise, blur and contrast follow the rating by construction)")
        for name, size in table_sizes(con):
            print(f"  {name:<32} {size:>12,} rows")


def _cmd_similar(args: argparse.Namespace) -> None:
    from neurostock.core.config import load_config
    from neurostock.deliver.inventory import prompts_of
    from neurostock.embed.search import similar_to_image, similar_to_text

    config = load_config(args.config)
    with connect(args.warehouse, read_only=args.text is None) as con:
        if args.text is not None:
            rows = similar_to_text(con, config, args.text, args.embedder, args.k, args.exact)
        else:
            rows = similar_to_image(con, config, args.image, args.embedder, args.k, args.exact)
        prompts = prompts_of(con, [image_id for image_id, _ in rows])
    for image_id, similarity in rows:
        print(f"{image_id}\t{similarity:.4f}\t{prompts.get(image_id) or ''}")


def _cmd_embeddings_import(args: argparse.Namespace) -> None:
    from neurostock.build.pipeline import rebuild_after_embeddings
    from neurostock.core.config import load_config
    from neurostock.embed.embedding_import import import_embeddings

    summaries = import_embeddings(args.warehouse, args.file, args.embedder, args.kind,
                                  dim=args.dim, model=args.model)
    for s in summaries:
        if s.status == "unchanged":
            print(f"nothing to do: {args.file} is already {s.table}")
        else:
            unknown = f" ({s.unknown_ids:,} ids are not images of the warehouse)" \
                if s.unknown_ids else ""
            print(f"imported {s.rows:,} {s.kind} vectors ({s.dim}-d) into {s.table}{unknown}")
    # The union views find the new table when they are rebuilt.
    rebuild_after_embeddings(args.warehouse, load_config(args.config))


def _cmd_scores_import(args: argparse.Namespace) -> None:
    from neurostock.build.pipeline import rebuild_after_scores
    from neurostock.core.config import load_config
    from neurostock.score.importers import import_scores

    expected = tuple(args.range) if args.range else None
    summaries = import_scores(
        args.warehouse, args.format, args.file, args.scorer_id, image_list=args.image_list,
        label=args.label, id_column=args.id_column, score_columns=args.score_column,
        expected_range=expected, higher_is=args.higher_is, version=args.version,
    )
    for s in summaries:
        if s.status == "unchanged":
            print(f"nothing to do: {args.file} is already scorer {s.scorer_id}")
            continue
        verdict = "valid" if s.is_valid else f"INVALID: {s.invalid_reason}"
        print(f"imported {s.rows:,} scores as {s.scorer_id} ({verdict})")
    # The new scores join `scores` and every metric now, not at the next build.
    rebuild_after_scores(args.warehouse, load_config(args.config))


def _cmd_select(args: argparse.Namespace) -> None:
    from neurostock.deliver.selection import select_images

    s = select_images(
        args.warehouse, args.score, args.out, threshold=args.threshold,
        precision=args.precision, image_set=args.set, direction=args.direction,
        min_kept=args.min_kept, force=args.force, link=args.link, progress=_say,
    )
    if s.is_random_init:
        _say(f"WARNING: {s.scorer_id} comes from an embedder with RANDOM weights: "
             "this selection means nothing")
    expected = _expected_line(s)
    missing = (f"; {s.n_without_file:,} have no image file (listed with their status)"
               if s.n_without_file else "")
    print(f"selected {s.n_selected:,} of {s.n_scored:,} scored {s.image_set} images with "
          f"{s.scorer_id} {'>=' if s.direction == 'higher' else '<='} {s.threshold:g}"
          f"{expected}: {s.n_files_written:,} files in {s.out_dir}{missing}")


def _expected_line(s) -> str:
    """What a selection is expected to hold: the sell decision's cross-fitted precision
    with its interval (bounds where the score covers part of the rated images)."""
    def ci(pair) -> str:
        return "" if not pair or None in pair else f", 95% CI {pair[0]:.3f}-{pair[1]:.3f}"

    text = ""
    if s.expected_precision is not None and s.measured_by == "forward in time":
        text = (f" (expected precision forward in time {s.expected_precision:.3f}"
                f"{ci(s.expected_precision_ci)}, on {s.measured_on:,} later-generation rated "
                "images, thresholds chosen on earlier ones: the forward AUC disagrees with "
                "the grouped folds')")
    elif s.expected_precision is not None:
        text = (f" (expected precision out of sample {s.expected_precision:.3f}"
                f"{ci(s.expected_precision_ci)}, cross-fitted on {s.measured_on:,} rated images)")
    elif s.expected_precision_bounds:
        low, high = (("undefined" if v is None else f"{v:.3f}")
                     for v in s.expected_precision_bounds)
        text = (f" (expected precision out of sample between {low} and {high}"
                f"{ci(s.expected_precision_ci)}: the score covers {s.coverage:.0%} of "
                f"{s.measured_on:,} rated images)")
    if s.shift_warning:
        _say(f"WARNING: {s.scorer_id}: {s.shift_warning}")
    for f in s.unseen or []:
        if f["auc_sellable"] is not None:
            on = "later generations" if f["split"] == "forward" else "unseen generators"
            _say(f"{s.scorer_id} on {on}: AUC of sellable {f['auc_sellable']:.3f} (95% CI "
                 f"{f['auc_sellable_ci_low']:.3f}-{f['auc_sellable_ci_high']:.3f}), precision "
                 f"{f['precision_sellable']:.3f} in its top {f['keep_share']:.0%}, "
                 f"{f['n']:,} images")
    if s.forward_warning and s.measured_by != "forward in time":
        _say(f"WARNING: {s.scorer_id}: {s.forward_warning}")
    return text


def _cmd_submit(args: argparse.Namespace) -> None:
    from neurostock.core.config import load_config
    from neurostock.submit.pack import build_pack

    config = load_config(args.config)
    submission = config.submission
    policy = args.policy or submission.policy
    overrides = submission.overrides if policy == submission.policy else {}
    s = build_pack(args.warehouse, args.out, policy, overrides=overrides, limit=args.limit,
                   upscaled=args.upscaled, force=args.force, progress=_say,
                   images=config.images, resubmit=_ids(args.resubmit, "--resubmit"))
    verdicts = ", ".join(f"{c['image_set']} {c['verdict']} {c['n']:,}"
                         for c in s.counts["verdicts"]) or "no images judged"
    back = f" ({s.n_upscaled_in:,} upscaled and checked again)" if s.n_upscaled_in else ""
    refused = (f"; {s.n_refused:,} source files refused (not the files `images sync` "
               "checked: manifest.json notes)") if s.n_refused else ""
    kept = (f", {s.n_kept:,} kept (changed since the last pack, or not its own)"
            if s.n_kept else "")
    ledger = ""
    if s.n_sent_before or s.n_motif_full:
        ledger = (f"; left out by the ledger: {s.n_sent_before:,} sent in earlier packs, "
                  f"{s.n_motif_full:,} whose motif has its versions already")
    print(f"{policy}: {verdicts}. Pack {s.pack_id}: {s.n_images:,} images{back} in "
          f"{s.n_csv_files} CSV file(s), {s.n_to_upscale:,} to upscale; {s.n_written:,} "
          f"files written, {s.n_unchanged:,} unchanged{kept}, in {s.out_dir}{refused}{ledger}")
    if s.decision is not None:
        print(_decision_line(s.decision))
        if s.decision["shift_warning"]:
            _say(f"WARNING: {s.decision['scorer_id']}: {s.decision['shift_warning']}")
        if s.decision.get("forward_warning"):
            _say(f"WARNING: {s.decision['scorer_id']}: {s.decision['forward_warning']}")


def _decision_line(d: dict) -> str:
    """The sell decision the gate applied and what it expects of the pack, in one line."""
    if not d["is_reached"]:
        return f"sell decision: {d['reason']}; every image held (docs/submission.md)"
    side = ">=" if d["direction"] == "higher" else "<="
    low, high = d["oos_precision_ci_low"], d["oos_precision_ci_high"]
    ci = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    random = " (RANDOM WEIGHTS: not a model)" if d["is_random_init"] else ""
    point = (f"{d['oos_precision']:.3f}" if d["oos_precision"] is not None else
             f"{d['oos_precision_low']:.3f} to {d['oos_precision_high']:.3f} (bounds)")
    forward = d.get("measured_by") == "forward in time"
    where = ("forward in time on {:,} later-generation rated images" if forward else
             "out of sample on {:,} rated images").format(d["measured_on"])
    text = (f"sell decision: {d['scorer_id']}{random} {side} {d['threshold']:.4g}, precision "
            f"{point}{ci} {where} "
            f"(coverage {d['coverage']:.0%}, target {d['target_precision']})")
    if forward:
        text += f"; {d['forward_reason']}"
    pack = d.get("pack")
    if pack and (pack["unrated_images"] or pack["rated_sellable_images"]):
        low_n, high_n = pack["expected_sellable_ci95"]
        spread = (f" [{low_n:.0f}, {high_n:.0f}]" if low_n is not None and high_n is not None
                  else "")
        text += (f"; this pack: {pack['unrated_images']:,} unrated + "
                 f"{pack['rated_sellable_images']:,} rated-sellable images, about "
                 f"{pack['expected_sellable']:.0f}{spread} expected sellable")
    return text


def _ids(text: str | None, flag: str) -> set[int] | None:
    """`1,2,3` as a set of image ids; one-line error for anything else."""
    if text is None:
        return None
    try:
        return {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise NeurostockError(f"{flag} takes image ids separated by commas (such as "
                              f"12,40), not {text!r}") from None


def _cmd_submissions_export(args: argparse.Namespace) -> None:
    from neurostock.submit.ledger import export_ledger

    n = export_ledger(args.warehouse, args.out)
    print(f"{n:,} ledger rows written to {args.out}")


def _cmd_submissions_withdraw(args: argparse.Namespace) -> None:
    from neurostock.submit.ledger import withdraw

    n = withdraw(args.warehouse, args.pack_id)
    print(f"pack {args.pack_id} withdrawn: its {n:,} images may be packed again "
          "(the ledger keeps both rows)")


def _cmd_submissions_import(args: argparse.Namespace) -> None:
    from neurostock.submit.outcomes import import_outcomes, parse_map

    s = import_outcomes(args.warehouse, args.file, parse_map(args.map))
    columns = ", ".join(f"{field}={column!r}" for field, column in s.columns.items())
    print(f"{args.file}: {s.rows:,} rows ({columns}): {s.added:,} outcomes added, "
          f"{s.already:,} imported before, {s.n_quarantined:,} quarantined "
          f"(import {s.import_id})")
    reasons = {"unknown_file": "file names in no pack of the ledger",
               "duplicate": "second rows for one file and date",
               "unparsable": "rows with a status, number or date that does not parse"}
    for kind, n in sorted(s.quarantined.items()):
        print(f"  quarantined: {n:,} {reasons[kind]} (annotations.outcomes_quarantine)")
    if s.added:
        print("  run `neurostock build` to update submission_outcomes and the report")


def _cmd_report(args: argparse.Namespace) -> None:
    from neurostock.build.docs import DbtDocs
    from neurostock.reports.site import build_report

    docs = None if args.no_docs else DbtDocs(args.warehouse)
    r = build_report(args.warehouse, args.out, docs=docs, workers=args.workers)
    failed = f", {r.thumbnails_failed} unreadable" if r.thumbnails_failed else ""
    print(f"report in {r.out_dir} in {r.seconds:.1f} s: {r.pages_written:,} pages written, "
          f"{r.pages_unchanged:,} unchanged; {r.figures_drawn} figures drawn; thumbnails "
          f"{r.thumbnails_made:,} made, {r.thumbnails_cached:,} cached{failed}; dbt docs "
          f"{r.docs}; index.html {r.index_bytes / 1024:.0f} KB. Open "
          f"{r.out_dir / 'index.html'}")


def _cmd_rate(args: argparse.Namespace) -> None:
    import getpass

    from neurostock.core.config import load_config
    from neurostock.images.recorded import FileRules
    from neurostock.rate.app import check_host, parse_port, serve
    from neurostock.rate.store import RatingStore, load_queue

    images = load_config(args.config).images
    port = parse_port(args.port)
    warning = check_host(args.host)
    if not resolve_warehouse(args.warehouse).exists():
        raise NeurostockError(f"warehouse {resolve_warehouse(args.warehouse)} does not exist: "
                              "run `neurostock ingest` and `neurostock build` first")
    with connect(args.warehouse) as con:
        store = RatingStore(con, args.annotator or getpass.getuser(), args.queue)
        queue = load_queue(con, args.queue, args.size)
        # Image files are served only while inside the roots `images sync` reads from.
        rules = FileRules.from_config(con, images)
        if not queue:
            raise NeurostockError(f"queue {args.queue} is empty: no unrated image with a "
                                  "readable file (run `neurostock build`)")
        if warning:
            print(warning, file=sys.stderr, flush=True)
        serve(store, queue, args.host, port, say=_say, rules=rules)


def _cmd_ratings_export(args: argparse.Namespace) -> None:
    from neurostock.rate.export import export_ratings

    with connect(args.warehouse, read_only=True) as con:
        result = export_ratings(con, args.out)
    print(f"{result.n_ratings:,} ratings written to {result.sqlite_path} (table metadata) "
          f"and {result.csv_path}")


def _learned_models(config, name: str | None, purpose: str) -> dict:
    """The `learned:` models not trained on shuffled ratings, by name; one clear line when
    there is none or `name` is not one of them."""
    models = {m.name: m for m in config.learned if not m.shuffle_labels}
    if not models:
        raise NeurostockError(f"no learned model in neurostock.yml (`learned:`): {purpose}")
    if name and name not in models:
        raise NeurostockError(f"no learned model {name!r} in neurostock.yml (have: "
                              f"{', '.join(models)})")
    return models


def _cmd_ratings_curve(args: argparse.Namespace) -> None:
    from neurostock.build.dbt_runner import prepare_project, run_dbt
    from neurostock.core.config import load_config
    from neurostock.learn.learning_curve import curve_lines, learning_curve

    config = load_config(args.config)
    models = _learned_models(config, args.name, "the curve is drawn for one")
    if args.repeats < 1:
        raise NeurostockError(f"--repeats must be at least 1, not {args.repeats}")
    # Every learned model by default: the decision model's curve is the one with the AUC
    # of sellable.
    chosen = [models[args.name]] if args.name else list(models.values())
    curves = {}
    with connect(args.warehouse) as con:
        for cfg in chosen:
            curves[cfg.scorer_id] = learning_curve(con, cfg, repeats=args.repeats,
                                                   progress=_say)
    # Only the curve's two models read the points: the build's other marts stay as built.
    prepare_project(args.warehouse, config)
    run_dbt(["build", "--select", "stg_annotations__learning_curve", "rpt_learning_curve"],
            args.warehouse)
    for scorer_id, points in curves.items():
        print(f"learning curve of {scorer_id} (out of fold, {args.repeats} repeats; "
              "rpt_learning_curve):")
        for line in curve_lines(points):
            print(f"  {line}")


def _cmd_ratings_simulate(args: argparse.Namespace) -> None:
    from neurostock.build.dbt_runner import prepare_project, run_dbt
    from neurostock.core.config import load_config
    from neurostock.learn.queue_simulation import (
        QueueRule,
        save_simulation,
        simulation_lines,
        warehouse_simulation,
    )

    config = load_config(args.config)
    models = _learned_models(config, args.name, "the queue is simulated with one")
    if args.seeds < 1 or args.batch < 1:
        raise NeurostockError(f"--seeds and --batch must be at least 1, not {args.seeds} "
                              f"and {args.batch}")
    # The decision model by default: it alone learns from every rated image.
    decision = [m for m in models.values() if m.model == "decision"]
    cfg = models[args.name] if args.name else (decision or list(models.values()))[0]
    rule = QueueRule.from_vars()
    with connect(args.warehouse) as con:
        points = warehouse_simulation(con, cfg, rule, seeds=args.seeds, batch=args.batch,
                                      progress=_say)
        save_simulation(con, cfg, points)
    # Only the simulation's two models read the points.
    prepare_project(args.warehouse, config)
    run_dbt(["build", "--select", "stg_annotations__queue_simulation",
             "rpt_queue_simulation"], args.warehouse)
    print(f"the rating queue against random on {cfg.scorer_id}'s rated images "
          f"({args.seeds} seeds, batches of {args.batch}; test sets held out; "
          "rpt_queue_simulation):")
    for line in simulation_lines(points):
        print(f"  {line}")


def _cmd_sql(args: argparse.Namespace) -> None:
    from neurostock.deliver.query import run_query

    run_query(args.warehouse, args.query, max_rows=args.max_rows)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="neurostock",
        description="Warehouse for judging generated images: ingest, build, export.",
    )
    parser.add_argument("--version", action="version", version=f"neurostock {__version__}")
    parser.add_argument(
        "--warehouse",
        metavar="PATH",
        help=f"DuckDB warehouse file (default: ${WAREHOUSE_ENV} or ./warehouse.duckdb)",
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="neurostock.yml, or `none` for none (default: $NEUROSTOCK_CONFIG, ./neurostock.yml)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("ingest", help="copy every table of core.download.db into schema raw")
    p.add_argument("source_db", metavar="SOURCE_DB", help="the team's SQLite file")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("build", help="dbt build: staging, quarantine, marts and their tests")
    p.add_argument("--select", "-s", nargs="+", help="dbt node selection")
    p.add_argument("--vars", help="dbt vars as YAML, e.g. '{big_set_size: 500}'")
    p.add_argument("--skip-images", action="store_true", help="do not check image files first")
    p.set_defaults(func=_cmd_build)

    images = sub.add_parser("images", help="image files the marts need").add_subparsers(
        dest="images_command", required=True, metavar="SUBCOMMAND"
    )
    p = images.add_parser(
        "sync",
        help="check every full_set/big_set/unusable image file, record it in files.images, "
        "copy full_set images to DEST/<rating>/<id>.jpg",
    )
    p.add_argument("--map", action="append", metavar="FROM=TO",
                   help="replace the path prefix FROM by TO (repeatable)")
    p.add_argument("--dest", metavar="DIR", help="where full_set copies go (default all_data)")
    p.add_argument("--root", action="append", metavar="DIR",
                   help="allowed root for image files (repeatable; default: the --map targets, "
                   "else the source file's folder)")
    p.add_argument("--copy-unusable", action="store_true",
                   help="also copy the images rated unusable (5), which are always checked, "
                   "to DEST/4/<id>.jpg")
    p.set_defaults(func=_cmd_images_sync)

    p = sub.add_parser("export", help="write the team's CSV/TXT files and Parquet of every mart")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--image-prefix",
        default="",
        help="text put before all_data/... in image_list.txt (e.g. ../beauty_predict/datasets/)",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("sample", help="write a synthetic core.download.db with images")
    p.add_argument("--rows", type=int, default=5000, help="img_info rows, 100 to 2,111,057")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="replace an existing sample in DIR")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("status", help="the last load and the row count of every table")
    p.set_defaults(func=_cmd_status)

    embeddings = sub.add_parser("embeddings", help="embeddings computed elsewhere")
    embeddings_sub = embeddings.add_subparsers(dest="embeddings_command", required=True,
                                               metavar="SUBCOMMAND")
    p = embeddings_sub.add_parser(
        "import", help="load the team's CSV embeddings (id,emb0.. / id,emb_0.. / keyword,emb_0..)"
    )
    p.add_argument("file", metavar="FILE")
    p.add_argument("--embedder", required=True, metavar="ID",
                   help="the embedder id to file them under (e.g. team_vit_bigg14)")
    p.add_argument("--kind", required=True, choices=["image", "prompt", "both", "keyword"])
    p.add_argument("--dim", type=int, help="the declared dimension (checked against the file)")
    p.add_argument("--model", help="what computed them, for the registry (e.g. ViT-bigG-14)")
    p.set_defaults(func=_cmd_embeddings_import)

    scores = sub.add_parser("scores", help="scores computed elsewhere")
    scores_sub = scores.add_subparsers(dest="scores_command", required=True, metavar="SUBCOMMAND")
    p = scores_sub.add_parser("import", help="load PIA / TANet / Hugging Face / CSV scores")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--format", required=True, choices=["pia", "tanet", "hf", "csv"])
    p.add_argument("--scorer-id", required=True, metavar="ID")
    p.add_argument("--image-list", metavar="FILE", help="pia: the image list PIA ran on")
    p.add_argument("--label", help="hf: the label whose score to keep (never the top-1)")
    p.add_argument("--id-column", default="id", help="csv: the image id column")
    p.add_argument("--score-column", action="append", metavar="NAME",
                   help="csv: a score column (repeatable; default: every numeric column)")
    p.add_argument("--range", nargs=2, type=float, metavar=("MIN", "MAX"),
                   help="the declared range; values outside it make the scorer invalid")
    p.add_argument("--higher-is", metavar="TEXT", help="what a higher value means")
    p.add_argument("--version", metavar="TEXT")
    p.set_defaults(func=_cmd_scores_import)

    p = sub.add_parser("similar", help="the images nearest to an image or to a text")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--image", type=int, metavar="ID")
    target.add_argument("--text", metavar="TEXT")
    p.add_argument("--embedder", metavar="ID", help="default: the first configured embedder")
    p.add_argument("-k", type=int, default=20, help="how many (default 20)")
    p.add_argument("--exact", action="store_true",
                   help="scan every vector instead of asking the index beside the warehouse")
    p.set_defaults(func=_cmd_similar)

    p = sub.add_parser("select", help="the images a score passes: a CSV list and their files")
    p.add_argument("--score", required=True, metavar="ID", help="a scorer id of signal_summary")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--threshold", type=float, metavar="T", help="keep scores on the good side")
    how.add_argument("--precision", type=float, metavar="P",
                     help="the threshold that reaches precision P of good on rated images")
    p.add_argument("--set", default="pool", choices=["pool", "big_set", "full_set"],
                   help="which images to select from (default pool: the unrated images "
                        "neurostock.yml's `pool:` chose)")
    p.add_argument("--direction", choices=["higher", "lower"],
                   help="which side is good (default: from rpt_score_agreement)")
    p.add_argument("--min-kept", type=int, default=30, metavar="N",
                   help="with --precision: thresholds keeping fewer rated images are ignored")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--force", action="store_true",
                   help="replace a previous selection in DIR (other files stay)")
    p.add_argument("--link", action="store_true", help="symlink the files instead of copying")
    p.set_defaults(func=_cmd_select)

    p = sub.add_parser("train", help="learn a quality model from the ratings (learned_<name>)")
    p.add_argument("--name", metavar="NAME",
                   help="a `learned:` entry of neurostock.yml, or a new one from the options")
    p.add_argument("--embedder", action="append", metavar="ID", help="embeddings to use")
    p.add_argument("--kind", action="append", choices=["image", "prompt"],
                   help="which embeddings (default both)")
    p.add_argument("--no-scores", action="store_true", help="leave the valid scores out")
    p.add_argument("--model", choices=["ridge", "ordinal", "decision"])
    p.add_argument("--block", action="append",
                   choices=["prompt_words", "prefix", "experiment", "month"],
                   help="a context block to use: with --model decision (default all) or "
                        "ridge (default none)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--shuffle-labels", action="store_true",
                   help="leakage control: train on shuffled ratings (should learn nothing)")
    p.add_argument("--target", choices=["rating", "accepted", "sold"],
                   help="what to learn: the ratings (default), or the market's answer to "
                        "the images sent (submission_outcomes: accepted vs rejected, sold "
                        "vs accepted and unsold)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("submit", help="the marketplace upload pack: images with verdict "
                                      "submit, the upload CSV, a manifest")
    p.add_argument("--policy", metavar="NAME",
                   help="a policy of submit/policies/ (default: neurostock.yml's, adobe_stock)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--limit", type=int, metavar="N", help="at most N images (best first)")
    p.add_argument("--upscaled", metavar="FOLDER",
                   help="upscaled files of DIR/to_upscale/, by name: checked again, let in")
    p.add_argument("--force", action="store_true",
                   help="replace a previous pack in DIR (other files stay)")
    p.add_argument("--resubmit", metavar="IDS",
                   help="image ids of earlier packs to pack again (comma-separated)")
    p.set_defaults(func=_cmd_submit)

    submissions = sub.add_parser("submissions", help="the submission ledger: what every "
                                                     "pack sent")
    submissions_sub = submissions.add_subparsers(dest="submissions_command", required=True,
                                                 metavar="SUBCOMMAND")
    p = submissions_sub.add_parser("export", help="the whole ledger as a CSV file")
    p.add_argument("--out", required=True, metavar="FILE")
    p.set_defaults(func=_cmd_submissions_export)
    p = submissions_sub.add_parser("withdraw", help="take back a pack never uploaded (a "
                                                    "withdrawal row; nothing is deleted)")
    p.add_argument("pack_id", metavar="PACK_ID")
    p.set_defaults(func=_cmd_submissions_withdraw)
    p = submissions_sub.add_parser(
        "import", help="the marketplace's status or sales list (CSV), matched to the "
                       "ledger by file name (docs/submission.md has the template)")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--map", action="append", metavar="COLUMN=FIELD",
                   help="the list's column for a field (file_name, status, "
                        "rejection_reason, downloads, earnings, date); repeatable")
    p.set_defaults(func=_cmd_submissions_import)

    p = sub.add_parser("report", help="write the static HTML report of the warehouse")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--no-docs", action="store_true",
                   help="leave out dbt's documentation (dbt docs generate --static)")
    p.add_argument("--workers", type=int, default=2, help="threads making thumbnails")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("rate", help="rate images in a local web app (keys 1-4, 5 unusable)")
    p.add_argument("--queue", choices=["active", "random"], default="active",
                   help="active: rpt_rating_queue (default); random: a seeded random sample")
    p.add_argument("--annotator", metavar="NAME", help="who rates (default: your user name)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; any other is reachable "
                        "by others and the app has no login)")
    p.add_argument("--port", default="8765", help="port 1-65535 (default 8765)")
    p.add_argument("--size", type=int, default=1000, help="images to serve at most")
    p.set_defaults(func=_cmd_rate)

    ratings = sub.add_parser("ratings", help="the rating app's ratings")
    ratings_sub = ratings.add_subparsers(dest="ratings_command", required=True,
                                         metavar="SUBCOMMAND")
    p = ratings_sub.add_parser("export", help="the app's ratings in the source's metadata "
                                              "schema: a SQLite file and a CSV")
    p.add_argument("--out", required=True, metavar="FILE")
    p.set_defaults(func=_cmd_ratings_export)
    p = ratings_sub.add_parser("curve", help="the learned model's out-of-fold Spearman at "
                                             "10%%..100%% of the ratings, and the decision "
                                             "model's AUC of sellable (learning curve)")
    p.add_argument("--name", metavar="NAME",
                   help="a `learned:` model (default: every one not on shuffled ratings)")
    p.add_argument("--repeats", type=int, default=3, help="samples per fraction (default 3)")
    p.set_defaults(func=_cmd_ratings_curve)
    p = ratings_sub.add_parser("simulate", help="replay rating on the rated images: the "
                                                "queue's choices against random ones, "
                                                "judged on held-out images")
    p.add_argument("--name", metavar="NAME",
                   help="a `learned:` model (default: the decision model, else the first)")
    p.add_argument("--seeds", type=int, default=10, help="repetitions (default 10)")
    p.add_argument("--batch", type=int, default=50,
                   help="images rated between retrainings (default 50)")
    p.set_defaults(func=_cmd_ratings_simulate)

    for name, what, flag in (("embed", "image embeddings", "--embedder"),
                             ("score", "computed scores", "--scorer")):
        p = sub.add_parser(name, help=f"compute the pool's missing {what} as a Ray Data job "
                           "(Parquet shards the next build takes up)")
        p.add_argument("--engine", choices=["ray"], required=True,
                       help="ray (the in-warehouse engine is `neurostock build`)")
        p.add_argument("--address", metavar="ADDR",
                       help="Ray cluster: auto, ray://HEAD:10001 (default: the config's "
                       "ray.address, else a local Ray instance)")
        p.add_argument(flag, dest="target", nargs="+", metavar="ID",
                       help="only these (default: every configured one)")
        p.set_defaults(func=_cmd_ray)

    p = sub.add_parser("sql", help="run one read-only SQL query on the warehouse (a select; "
                       "nothing that writes, attaches, loads or reads other files) and print "
                       "the result")
    p.add_argument("query", metavar="QUERY")
    p.add_argument("--max-rows", type=int, default=40)
    p.set_defaults(func=_cmd_sql)

    p = sub.add_parser("dbt", help="run any dbt command on this warehouse: neurostock dbt test")
    p.add_argument("dbt_args", nargs=argparse.REMAINDER, metavar="DBT_ARGS")
    p.set_defaults(func=_cmd_dbt)
    return parser


# Commands that change the warehouse: each holds its writer lock for its whole run
# (neurostock.core.lock), so a second writer is refused instead of interleaving.
WRITERS = frozenset({"ingest", "build", "train", "images sync", "embeddings import",
                     "scores import", "dbt", "rate", "ratings curve", "ratings simulate",
                     "submit", "submissions withdraw", "submissions import"})


def _command_name(args: argparse.Namespace) -> str:
    """`images sync`, `build`, ...: the command and its subcommand, as typed."""
    sub = getattr(args, f"{args.command}_command", None)
    return f"{args.command} {sub}" if sub else args.command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; expected failures print one line and return 1."""
    args = build_parser().parse_args(argv)
    if args.config:
        import os

        from neurostock.core.config import CONFIG_ENV, NO_CONFIG

        # `--config none` means no config file at all, as NEUROSTOCK_CONFIG=none does.
        os.environ[CONFIG_ENV] = (NO_CONFIG if args.config == NO_CONFIG
                                  else str(Path(args.config).expanduser().resolve()))
    try:
        command = _command_name(args)
        if command in WRITERS:
            with writer_lock(args.warehouse, command):
                args.func(args)
        else:
            args.func(args)
    except NeurostockError as exc:
        print(f"neurostock: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurostock: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
