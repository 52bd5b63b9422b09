"""The Ray Data engine: the pool's to-do list through the project's own models on a Ray
cluster (or a local Ray instance), written as Parquet shards (compute/shards.py).

Ray Data does the distribution: Arrow blocks of (content_sha256, path) rows, one block
per shard, and `map_batches` with a stateful actor class that loads the model once
(through embed/backends.py, the code the UDF uses: same fingerprint, same
preprocessing, same decode, so the same vectors) and writes each batch it finishes as
one shard. `num_gpus=1` per actor when the cluster has GPUs.

Computed scorers use the same runner (score/ray_engine.py).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.compute.decode_pool import process_pool
from neurostock.compute.shards import VECTORS, done_hashes, shard_folder, vector_table, write_shard
from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.embed.backends import load_embedder
from neurostock.embed.devices import choose_device, choose_precision
from neurostock.embed.udfs import EmbeddingFunctions

# Ray phones home unless told not to; the workers inherit the driver's environment.
QUIET_RAY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_PROMPT_ENABLED": "0"}
# The most rows one shard holds: a killed job loses at most this much per actor.
MAX_SHARD_ROWS = 1024


@dataclass(frozen=True)
class JobSummary:
    """One Ray job: what it had to do, what it finished, how fast."""

    label: str
    n_todo: int
    n_done: int
    n_failed: int
    seconds: float

    @property
    def per_second(self) -> float:
        return (self.n_done + self.n_failed) / self.seconds if self.seconds else 0.0

    def line(self) -> str:
        return (f"{self.label}: {self.n_todo:,} to do, {self.n_done:,} done, "
                f"{self.n_failed:,} failed, {self.per_second:.1f} images/s")


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None,
                temp_dir: str | None = None) -> Iterator[None]:
    """Ray, connected: to `address` (`auto`, `ray://HEAD:10001`, …), else a local
    instance started here (`num_cpus`, `temp_dir`: Ray's defaults when None) and shut
    down on exit. A Ray already initialised in this process is used as it is and left
    running."""
    os.environ.update(QUIET_RAY)
    import ray

    if ray.is_initialized():
        yield
        return
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir,
                     log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError, …
        where = f"at {address}" if address else "locally"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NeurostockError(f"cannot start Ray {where}: {first}") from None
    try:
        yield
    finally:
        ray.shutdown()


def actor_layout(n_rows: int, batch_size: int, actor_cpus: int | None) -> dict:
    """How many model actors, what each reserves, and the rows per shard, from the
    cluster's resources: one actor per GPU when there are GPUs, else one per
    `actor_cpus` CPUs."""
    import ray

    resources = ray.cluster_resources()
    cpus, gpus = int(resources.get("CPU", 1)), int(resources.get("GPU", 0))
    if gpus:
        per_actor = actor_cpus or max(1, cpus // gpus)
        actors, num_gpus = gpus, 1
    else:
        per_actor = actor_cpus or 1
        actors, num_gpus = max(1, cpus // per_actor), 0
    # A few shards per actor, so actors stay busy to the end; whole model batches.
    rows = max(1, math.ceil(n_rows / (4 * actors)))
    rows = min(MAX_SHARD_ROWS, batch_size * math.ceil(rows / batch_size))
    actors = max(1, min(actors, math.ceil(n_rows / rows))) if n_rows else 1
    return {"actors": actors, "num_cpus": per_actor, "num_gpus": num_gpus, "shard_rows": rows}


def run_job(label: str, todo: list[tuple[str, str]], actor: type, actor_kwargs: dict,
            batch_size: int, actor_cpus: int | None = None) -> JobSummary:
    """Run `actor` (a callable class: batch of content_sha256 / path -> n_done, n_failed,
    writing its shard) over `todo` as one Ray Data job; Ray must be connected."""
    import ray
    import ray.data

    started = time.perf_counter()
    if not todo:
        return JobSummary(label, 0, 0, 0, 0.0)
    layout = actor_layout(len(todo), batch_size, actor_cpus)
    rows = layout["shard_rows"]
    table = pa.table({"content_sha256": [sha for sha, _ in todo],
                      "path": [path for _, path in todo]})
    # One Arrow block per shard: 2 million rows stay two columns, not dicts.
    dataset = ray.data.from_arrow([table.slice(i, rows) for i in range(0, len(todo), rows)])
    results = dataset.map_batches(
        actor,
        fn_constructor_kwargs={**actor_kwargs, "decode_workers": layout["num_cpus"]},
        batch_size=layout["shard_rows"],
        batch_format="numpy",
        compute=ray.data.ActorPoolStrategy(size=layout["actors"]),
        num_cpus=layout["num_cpus"],
        num_gpus=layout["num_gpus"],
    )
    done = failed = 0
    try:
        for batch in results.iter_batches(batch_size=None, batch_format="numpy"):
            done += int(np.sum(batch["n_done"]))
            failed += int(np.sum(batch["n_failed"]))
    except ray.exceptions.RayError as exc:
        raise NeurostockError(_worker_error(label, exc)) from None
    return JobSummary(label, len(todo), done, failed, time.perf_counter() - started)


def _worker_error(label: str, exc: Exception) -> str:
    """One line for a failed job: a worker's own NeurostockError (it arrives wrapped in
    Ray's error, its traceback as text) when there is one, else Ray's first line."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, NeurostockError):
        return str(cause)
    text = str(exc)
    marker = f"{NeurostockError.__module__}.{NeurostockError.__name__}: "
    for line in reversed(text.splitlines()):
        if marker in line:
            return line.split(marker, 1)[1].strip()
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"{label}: the Ray job failed: {first}"


# -- embeddings ---------------------------------------------------------------------


def pinned_config(cfg: EmbedderConfig) -> EmbedderConfig:
    """`cfg` with its precision resolved on this machine (the one the warehouse builds
    on): a GPU worker then computes under the fingerprint the build looks up, instead
    of switching `auto` to fp16 under a fingerprint the build never asks for."""
    resolved = choose_precision(cfg.precision, choose_device(cfg.device))
    return dataclasses.replace(cfg, precision=resolved)


class ImageEmbedActor:
    """One model actor: the embedder loaded once; each call embeds a batch of images
    (decoded on the actor's own decode pool) and writes it as one shard."""

    def __init__(self, cfg: EmbedderConfig, fingerprint: str, shards: str,
                 decode_workers: int) -> None:
        self.model = load_embedder(cfg)
        found = self.model.info.fingerprint
        if found != fingerprint:
            raise NeurostockError(
                f"embedder {cfg.id}: this Ray worker's fingerprint {found} is not the "
                f"warehouse's {fingerprint} (another open_clip version or other weights "
                "on the worker? install the same requirements.lock there)")
        self.embedder_id, self.fingerprint = cfg.id, fingerprint
        self.batch_size = cfg.batch_size
        self.folder = shard_folder(Path(shards), VECTORS, fingerprint)
        self.decoders = process_pool(decode_workers)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        paths = [str(p) for p in batch["path"]]
        hashes = [str(h) for h in batch["content_sha256"]]
        vectors: list[np.ndarray | None] = [None] * len(paths)
        errors: list[str | None] = [None] * len(paths)
        indices = list(range(len(paths)))
        groups = [indices[i : i + self.batch_size]
                  for i in range(0, len(indices), self.batch_size)]
        # The UDF's decode (EmbeddingFunctions._decode_one) and encode: same vectors.
        for prepared in self.decoders.batches(
                lambda i: EmbeddingFunctions._decode_one(self.model, paths, i), groups):
            ok = [(i, tensor) for i, tensor, _ in prepared if tensor is not None]
            for i, _, error in prepared:
                errors[i] = error
            if ok:
                encoded = self.model.encode_prepared([tensor for _, tensor in ok])
                for (i, _), vector in zip(ok, encoded, strict=True):
                    vectors[i] = vector
        write_shard(self.folder, vector_table(hashes, self.fingerprint, self.embedder_id,
                                              vectors, errors))
        n_done = sum(v is not None for v in vectors)
        return {"n_done": np.array([n_done]), "n_failed": np.array([len(paths) - n_done])}


def image_todo(con: duckdb.DuckDBPyConnection, table: str | None, fingerprint_column: str,
               fingerprint: str, shards: Path) -> list[tuple[str, str]]:
    """(content_sha256, path) of every `ok` pool image whose content the warehouse table
    (`table`, None when it does not exist yet) and the shards in `shards` do not hold
    under `fingerprint`; one row per content."""
    missing = [name for name, schema in (("pool", "main"), ("images", "files"))
               if not con.execute("select count(*) from duckdb_tables() where schema_name = ? "
                                  "and table_name = ?", [schema, name]).fetchone()[0]]
    if missing:
        raise NeurostockError(
            f"the warehouse has no {' or '.join(missing)} table yet: run `neurostock build` "
            "(it builds the pool and checks its image files) before a Ray job")
    done_in_table = (f"and f.sha256 not in (select content_sha256 from {table} "
                     f"where {fingerprint_column} = $fingerprint)") if table else ""
    rows = con.execute(f"""
        select f.sha256, min(f.resolved_path)
        from files.images as f
        semi join main.pool as p on p.image_id = f.image_id
        where f.status = 'ok' and f.sha256 is not null {done_in_table}
        group by f.sha256
        order by f.sha256
    """, {"fingerprint": fingerprint} if table else {}).fetchall()
    in_shards = done_hashes(shards)
    return [(sha, path) for sha, path in rows if sha not in in_shards]


def existing_table(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """`schema.name` of a warehouse table, or None when it is not built yet."""
    row = con.execute("select schema_name from duckdb_tables() where table_name = ? "
                      "order by schema_name = 'main' desc limit 1", [name]).fetchone()
    return f"{row[0]}.{name}" if row else None
