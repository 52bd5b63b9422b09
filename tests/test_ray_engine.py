"""The Ray Data engine on a local Ray instance (2 CPUs): `neurostock embed --engine ray`
and `neurostock score --engine ray` write Parquet shards with the UDF's vectors and
results, the next `neurostock build` takes them up and computes nothing, and a shard
left half-written is ignored. Real Ray, real dbt, real DuckDB, a tiny real open_clip
model, real JPEG files."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq
import pytest

from neurostock.build.dbt_runner import prepare_project
from neurostock.compute.cache import ResumeCache
from neurostock.compute.shards import (
    VECTORS,
    done_hashes,
    finished_shards,
    take_shards,
    vector_table,
    write_shard,
)
from neurostock.core.config import load_config
from neurostock.core.errors import NeurostockError
from neurostock.core.paths import warehouse_sibling
from neurostock.embed.udfs import EmbeddingFunctions
from neurostock.sampledata.source import write_sample
from tests.conftest import last_runs, query
from tests.conftest import run_cli as _cli
from tests.tiny_clip import tiny_checkpoint, tiny_embedder

pytestmark = pytest.mark.slow

os.environ["RAY_USAGE_STATS_ENABLED"] = "0"


def _ray_processes(marker: str) -> list[int]:
    """Ids of live processes whose command line names `marker` (Ray's temp folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        if marker in cmdline and entry.name != str(os.getpid()):
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A local Ray instance with 2 CPUs for the module; the commands use it as it is.
    Its temp folder is short (Ray's Unix socket paths must fit in 107 bytes)."""
    import ray

    temp = tmp_path_factory.mktemp("ray")
    if len(str(temp)) > 40:
        temp = Path(tempfile.mkdtemp(prefix="nsray", dir="/tmp"))
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(temp), log_to_driver=False)
    yield temp
    ray.shutdown()
    deadline = time.monotonic() + 20
    while _ray_processes(str(temp)) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _ray_processes(str(temp))
    shutil.rmtree(temp, ignore_errors=True)
    assert not left, f"Ray processes left running: {left}"


@pytest.fixture(scope="module")
def ray_built(local_ray, tmp_path_factory):
    """A 100-row sample's pool and its checked files (no embedders yet), then
    `embed --engine ray` and `score --engine ray` with the tiny model and the technical
    scorer, a half-written shard dropped in, and `build` with both configured."""
    root = tmp_path_factory.mktemp("rayjob")
    summary = write_sample(root / "sample", rows=100, seed=31)
    model_config, checkpoint = tiny_checkpoint(root)
    common = (f"pool: {{unrated: all}}\ndecode_workers: 2\n"
              f"images: {{dest: {root / 'all_data'}}}\n")
    plain = root / "plain.yml"
    plain.write_text(common)
    config = root / "neurostock.yml"
    config.write_text(
        "embedders:\n" + tiny_embedder(model_config, checkpoint, batch_size=16, kinds=["image"])
        + "scorers: [technical]\n" + common)
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, plain, "ingest", str(summary.db_path)) == 0
    # Only what the Ray job reads (the pool, its checked files): the report models,
    # which other work changes, are no part of this.
    assert _cli(warehouse, plain, "dbt", "build", "--exclude", "tag:embedding+", "tag:score+",
                "tag:report+") == 0
    assert _cli(warehouse, plain, "images", "sync") == 0
    assert _cli(warehouse, config, "embed", "--engine", "ray") == 0
    assert _cli(warehouse, config, "score", "--engine", "ray", "--scorer", "technical") == 0
    shards = warehouse_sibling(warehouse, ".shards")
    vector_shards = [p for p in (shards / VECTORS).glob("*/part-*.parquet")]
    # What a job killed while writing leaves: a temporary file with half a shard.
    half = vector_shards[0].read_bytes()
    leftover = vector_shards[0].parent / f".{vector_shards[0].name}.killed.tmp"
    leftover.write_bytes(half[: len(half) // 2])
    return warehouse, config, shards, leftover


def _shard_vectors(shards: Path) -> dict[str, np.ndarray]:
    vectors = {}
    for path in shards.glob(f"{VECTORS}/*/part-*.parquet"):
        table = pq.read_table(path)
        for sha, vector in zip(table["content_sha256"].to_pylist(),
                               table["vector"].to_pylist(), strict=True):
            if vector is not None:
                vectors[sha] = np.asarray(vector, np.float32)
    return vectors


def test_ray_vectors_equal_the_udfs(ray_built, tmp_path):
    warehouse, config, shards, _ = ray_built
    ray_vectors = _shard_vectors(shards)
    files = query(warehouse, "select distinct sha256, resolved_path from files.images "
                             "where status = 'ok'")
    assert len(ray_vectors) == len(files) > 50
    functions = EmbeddingFunctions(load_config(config), ResumeCache(tmp_path / "fresh.sqlite"))
    con = duckdb.connect()
    functions.register(con)
    con.execute("create table todo (sha varchar, path varchar)")
    con.executemany("insert into todo values (?, ?)", files)
    udf = dict(con.execute("select sha, ns_embed_image('tiny', path, sha, count(*) over ())"
                           ".embedding from todo").fetchall())
    assert udf.keys() == ray_vectors.keys()
    worst = max(float(np.max(np.abs(np.asarray(udf[s], np.float32) - v)))
                for s, v in ray_vectors.items())
    assert worst < 1e-5, worst




def test_build_after_ray_takes_the_shards_and_computes_nothing(ray_built, capfd):
    warehouse, config, shards, _ = ray_built
    capfd.readouterr()
    # The embedding and scoring steps of `neurostock build`, as the build runs them
    # (prepare the generated models, then dbt through the plugin); the rest of the
    # build (report models and the tests that span them) is no part of this.
    prepare_project(warehouse, load_config(config))
    assert _cli(warehouse, config, "dbt", "run", "--select", "tag:embedding", "tag:score") == 0
    err = capfd.readouterr().err
    n_ok = query(warehouse, "select count(*) from files.images where status = 'ok'")[0][0]
    runs = last_runs(warehouse)
    assert runs[("embed_image", "tiny")] == (0, n_ok, 0)
    assert runs[("score", "technical")][0] == 0
    assert "taken up" in err
    stored = dict(query(warehouse, "select content_sha256, embedding from emb_image__tiny "
                                   "where embed_error is null"))
    expected = _shard_vectors(shards)
    assert len(stored) == len(expected)
    assert all(np.allclose(stored[s], v, atol=1e-6) for s, v in expected.items())
    scored = query(warehouse, "select count(*) from score__technical where score is not null")
    assert scored[0][0] == n_ok
    # Everything is in the warehouse now: a second Ray job has nothing to do.
    assert _cli(warehouse, config, "embed", "--engine", "ray") == 0
    assert "nothing to do" in capfd.readouterr().err


def test_a_half_written_shard_is_ignored(ray_built, tmp_path):
    _, _, _, leftover = ray_built
    assert leftover.exists() and leftover not in finished_shards(leftover.parent)
    # The same rule on a folder of its own: one finished shard, one leftover.
    folder = tmp_path / "shards" / VECTORS / "fp1"
    finished = write_shard(folder, vector_table(
        ["a" * 64, "b" * 64], "fp1", "tiny",
        [np.ones(4, np.float32) / 2, None], [None, "OSError: broken"]))
    (folder / f".{finished.name}.x.tmp").write_bytes(finished.read_bytes()[:100])
    assert finished_shards(folder) == [finished]
    assert done_hashes(folder) == {"a" * 64, "b" * 64}
    cache = ResumeCache(tmp_path / "cache.sqlite")
    taken = take_shards(tmp_path / "shards", cache)
    assert (taken.n_shards, taken.n_rows) == (1, 1)
    assert set(cache.vectors.get_many("fp1", ["a" * 64, "b" * 64])) == {"a" * 64}
    assert take_shards(tmp_path / "shards", cache).n_shards == 0  # taken once


def test_an_actor_with_another_fingerprint_refuses_in_one_line(tmp_path):
    """The guard a cluster worker with other weights or another library hits; the
    actor class is called directly (no Ray: the same code runs inside the actor)."""
    from neurostock.embed.ray_engine import ImageEmbedActor, pinned_config

    model_config, checkpoint = tiny_checkpoint(tmp_path)
    path = tmp_path / "neurostock.yml"
    path.write_text(
        "embedders:\n" + tiny_embedder(model_config, checkpoint, batch_size=16, kinds=["image"])
        + "ray: {shards: ../elsewhere/shards}\n")
    config = load_config(path)
    assert config.ray.shards == str((tmp_path.parent / "elsewhere" / "shards").resolve())
    with pytest.raises(NeurostockError, match="fingerprint .* is not the warehouse's f00"):
        ImageEmbedActor(pinned_config(config.embedders[0]), "f00", str(tmp_path / "s"), 1)
