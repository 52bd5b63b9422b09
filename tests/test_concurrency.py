"""Processes at once on one warehouse: a build keeps other writers out from its first
step to its last, and dbt's two threads of Python models start cleanly every time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from neurostock.core.lock import lock_path, writer_lock
from tests.checkout import REPO
from tests.conftest import built_sample, query
from tests.tiny_clip import tiny_checkpoint, tiny_embedder

pytestmark = pytest.mark.slow

# Fresh dbt processes running the two Python models that import scikit-learn.
RACE_RUNS = 5


def _cli(warehouse: Path, config: Path, *args: str, log=None) -> subprocess.Popen:
    """`neurostock ARGS` in a process of its own; output piped, or into `log` (a file:
    a long command must not block on a pipe nobody reads)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NEUROSTOCK_WAREHOUSE", None)
    out = log if log is not None else subprocess.PIPE
    return subprocess.Popen(
        [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse),
         "--config", str(config), *args],
        cwd=REPO, env=env, stdout=out, stderr=out, text=True)


def _ok(process: subprocess.Popen, timeout: int = 1200) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, (out[-3000:], err[-3000:])
    return out


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    """A built warehouse with one (tiny) embedder, so both cluster models have work
    (built in this process, as other modules build theirs: the races below start
    processes of their own)."""
    root = tmp_path_factory.mktemp("concurrency")
    model_config, checkpoint = tiny_checkpoint(root)
    warehouse, config, sample, _ = built_sample(
        root, "embedders:\n" + tiny_embedder(model_config, checkpoint, batch_size=32,
                                             kinds=["image"]), rows=200, seed=7)
    return warehouse, config, sample.db_path


def test_the_two_python_models_run_on_two_threads_again_and_again(clustered):
    warehouse, config, _ = clustered
    for _ in range(RACE_RUNS):
        # Unchanged inputs keep their rows without scikit-learn (clusters.input_digest):
        # forget the digests, so that every run fits, and imports, again.
        con = duckdb.connect(str(warehouse))
        try:
            for table in ("cluster_map", "cluster_solutions"):
                con.execute(f"update {table} set input_sha = null")
        finally:
            con.close()
        process = _cli(warehouse, config, "dbt", "run", "--threads", "2", "-s",
                       "cluster_map", "cluster_solutions")
        out, said = process.communicate(timeout=600)
        assert process.returncode == 0, (out[-3000:], said[-3000:])
        assert "clusters: tiny: t-SNE on" in said and "clusters: tiny: k-means k=" in said
        assert "Concurrency: 2 threads" in out  # the suite's default is one (conftest)
        assert "partially initialized module" not in out
    assert query(warehouse, "select count(*) from cluster_map where embedder_id = 'tiny'")[0][0]
    assert query(warehouse, "select count(*) from cluster_solutions where is_chosen")[0][0] == 1


def test_readers_work_while_a_writer_holds_the_lock(clustered):
    warehouse, config, _ = clustered
    image_id = query(warehouse, "select min(image_id) from emb_image__tiny")[0][0]
    with writer_lock(warehouse, "build"):
        out = _ok(_cli(warehouse, config, "similar", "--image", str(image_id), "-k", "3"))
        assert "raw.img_info" in _ok(_cli(warehouse, config, "status"))
    lines = [line.split("\t") for line in out.splitlines() if "\t" in line]
    found = [int(fields[0]) for fields in lines]
    assert len(found) == 3 and image_id not in found
    # Each line is `id, similarity, prompt`: the prompt printed is that image's own
    # (empty where the image has none), and the list is nearest first.
    prompts = dict(query(warehouse, "select image_id, prompt from pool"))
    assert [fields[2] for fields in lines] == [prompts[i] or "" for i in found]
    similarities = [float(fields[1]) for fields in lines]
    assert similarities == sorted(similarities, reverse=True)


def test_no_ingest_gets_in_while_a_build_runs(clustered, tmp_path):
    warehouse, config, source = clustered
    log = (tmp_path / "build.log").open("w")
    build = _cli(warehouse, config, "build", log=log)
    try:
        deadline = time.monotonic() + 120
        while "neurostock build" not in _holder(warehouse):
            assert build.poll() is None and time.monotonic() < deadline, "build never locked"
            time.sleep(0.05)
        refusals = 0
        # Between its dbt runs, image checks and training, DuckDB's own lock is free:
        # only the writer lock keeps an ingest out, for as long as the build runs.
        while "neurostock build" in _holder(warehouse):
            attempt = _cli(warehouse, config, "ingest", str(source))
            out, err = attempt.communicate(timeout=300)
            if attempt.returncode == 0 and "neurostock build" not in _holder(warehouse):
                break  # the build released its lock first (its process may still be exiting)
            assert attempt.returncode == 1, (out, err)
            assert len(err.strip().splitlines()) == 1, err
            assert f"in use by `neurostock build` (pid {build.pid})" in err, err
            refusals += 1
            # A pause between tries: each one is a Python process of its own, and on two
            # cores a tight loop of them takes the CPU from the build it waits for.
            time.sleep(1.0)
        assert build.wait() == 0, (tmp_path / "build.log").read_text()[-3000:]
        assert refusals >= 2
    finally:
        if build.poll() is None:
            build.kill()
            build.wait()
        log.close()
    assert not lock_path(warehouse).exists()


def _holder(warehouse: Path) -> str:
    try:
        return lock_path(warehouse).read_text()
    except FileNotFoundError:
        return ""
