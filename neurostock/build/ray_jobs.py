"""`neurostock embed --engine ray` and `neurostock score --engine ray`: read the pool's
to-do list from the warehouse, close it, then run the Ray Data jobs (embed/ray_engine.py,
score/ray_engine.py) that write Parquet shards; the next `neurostock build` takes the
shards up (compute/shards.py) and computes only what they lack."""

from __future__ import annotations

import os
from collections.abc import Sequence

from neurostock.compute.shards import SCORES, VECTORS, shard_folder
from neurostock.core.config import Config
from neurostock.core.errors import NeurostockError
from neurostock.core.paths import shards_dir
from neurostock.core.progress import say
from neurostock.core.warehouse import connect, resolve_warehouse
from neurostock.embed.backends import describe
from neurostock.embed.ray_engine import (
    ImageEmbedActor,
    JobSummary,
    existing_table,
    image_todo,
    pinned_config,
    ray_session,
    run_job,
)
from neurostock.embed.tables import model_name


def embed_with_ray(warehouse: str | os.PathLike | None, config: Config,
                   embedder_ids: Sequence[str] = (), address: str | None = None,
                   num_cpus: int | None = None, temp_dir: str | None = None,
                   ) -> list[JobSummary]:
    """Embed the pool's images not yet embedded (in the warehouse or the shards) by the
    image embedders named (default: every one with kind image), one Ray job each."""
    target = resolve_warehouse(warehouse)
    shards = shards_dir(target, config.ray.shards)
    configs = _chosen_embedders(config, embedder_ids)
    jobs = []
    # The warehouse is read, then closed, before Ray starts: a job may run for hours
    # and must not keep other commands out of the file.
    with connect(target, read_only=True) as con:
        for cfg in configs:
            pinned = pinned_config(cfg)
            fingerprint = describe(pinned).fingerprint
            todo = image_todo(con, existing_table(con, model_name("image", cfg.id)),
                              "embedder_fingerprint", fingerprint,
                              shard_folder(shards, VECTORS, fingerprint))
            jobs.append((f"ray embed image {cfg.id}", todo, ImageEmbedActor,
                         {"cfg": pinned, "fingerprint": fingerprint, "shards": str(shards)},
                         cfg.batch_size))
    return _run(jobs, address or config.ray.address, num_cpus, temp_dir, config, shards)


def score_with_ray(warehouse: str | os.PathLike | None, config: Config,
                   scorer_ids: Sequence[str] = (), address: str | None = None,
                   num_cpus: int | None = None, temp_dir: str | None = None,
                   ) -> list[JobSummary]:
    """Score the pool's images not yet scored (in the warehouse or the shards) by the
    computed scorers named (default: every configured one), one Ray job each."""
    from neurostock.score.catalog import load_scorer
    from neurostock.score.ray_engine import ImageScoreActor
    from neurostock.score.udfs import BATCH, scorer_fingerprint

    target = resolve_warehouse(warehouse)
    shards = shards_dir(target, config.ray.shards)
    unknown = sorted(set(scorer_ids) - set(config.scorers))
    if unknown:
        raise NeurostockError(f"scorer(s) {', '.join(unknown)} not in `scorers:` of the config "
                              f"(configured: {', '.join(config.scorers) or 'none'})")
    chosen = list(scorer_ids) or list(config.scorers)
    if not chosen:
        raise NeurostockError("no computed scorer in the config (`scorers:`)")
    fingerprints = {s: scorer_fingerprint(load_scorer(s)) for s in chosen}
    jobs = []
    with connect(target, read_only=True) as con:
        for scorer_id in chosen:
            fingerprint = fingerprints[scorer_id]
            todo = image_todo(con, existing_table(con, f"score__{scorer_id}"),
                              "scorer_fingerprint", fingerprint,
                              shard_folder(shards, SCORES, fingerprint))
            jobs.append((f"ray score {scorer_id}", todo, ImageScoreActor,
                         {"scorer_id": scorer_id, "fingerprint": fingerprint,
                          "shards": str(shards)}, BATCH))
    return _run(jobs, address or config.ray.address, num_cpus, temp_dir, config, shards)


def _chosen_embedders(config: Config, embedder_ids: Sequence[str]):
    by_id = {e.id: e for e in config.embedders}
    unknown = sorted(set(embedder_ids) - set(by_id))
    if unknown:
        raise NeurostockError(f"embedder(s) {', '.join(unknown)} not in the config "
                              f"(configured: {', '.join(by_id) or 'none'})")
    chosen = [by_id[i] for i in embedder_ids] or \
        [e for e in config.embedders if "image" in e.kinds]
    text_only = [e.id for e in chosen if "image" not in e.kinds]
    if text_only:
        raise NeurostockError(f"embedder(s) {', '.join(text_only)} embed no images: the Ray "
                              "engine runs image embedders (texts are cheap: `neurostock build`)")
    if not chosen:
        raise NeurostockError("no image embedder in the config (`embedders:` with kind image)")
    return chosen


def _run(jobs, address, num_cpus, temp_dir, config: Config, shards) -> list[JobSummary]:
    summaries = []
    pending = [job for job in jobs if job[1]]
    for label, todo, *_ in jobs:
        if not todo:
            say(f"{label}: nothing to do (the warehouse and the shards hold every pool image)")
            summaries.append(JobSummary(label, 0, 0, 0, 0.0))
    if not pending:
        return summaries
    with ray_session(address, num_cpus=num_cpus, temp_dir=temp_dir):
        for label, todo, actor, kwargs, batch_size in pending:
            say(f"{label}: {len(todo):,} images to do, shards in {shards}")
            summary = run_job(label, todo, actor, kwargs, batch_size, config.ray.actor_cpus)
            say(summary.line())
            summaries.append(summary)
    return summaries
