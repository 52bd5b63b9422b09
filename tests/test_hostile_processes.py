"""Children die with their parent: a real `neurostock build` (the CLI in a process of
its own, on a small sample with the tiny open_clip embedder and a learned model)
killed with SIGKILL during its marts dbt run, during its embeddings dbt run and after
training leaves no process behind, holds the writer lock in its dbt child while it
lives, and the next build succeeds with nothing lost.

To make "no process is left" a fact rather than a race with dbt finishing on its own,
the build's dbt child is stopped (SIGSTOP) just before its parent is killed: a child
that dies with its parent is killed even when stopped; one that does not stays (and so
does what it started, multiprocessing's resource tracker, which ends when its parent
does)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurostock.core.lock import lock_path, writer_lock
from neurostock.sampledata.source import write_sample
from tests.conftest import query, run_cli, sha256_of
from tests.tiny_clip import tiny_checkpoint, tiny_embedder

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
PHASE_DEADLINE_S = 400
GONE_DEADLINE_S = 30
# dbt's per-node line: "12:31:01  1 of 161 START sql view model main.x ...".
_START = re.compile(r"^\S+\s+\d+ of \d+ START ", re.MULTILINE)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A 200-row sample, ingested (the first killed build builds it), with a config of
    the tiny embedder and a learned model on its image vectors."""
    root = tmp_path_factory.mktemp("hostile_processes")
    model_config, checkpoint = tiny_checkpoint(root)
    summary = write_sample(root / "sample", rows=200, seed=41)
    config = root / "neurostock.yml"
    config.write_text(
        "embedders:\n" + tiny_embedder(model_config, checkpoint, kinds=["image"],
                                       batch_size=8)
        + "learned:\n  - {name: q, embedders: [tiny], kinds: [image], scores: false, "
          "folds: 3}\n"
        + f"images: {{dest: {root / 'all_data'}}}\n")
    warehouse = root / "warehouse.duckdb"
    assert run_cli(warehouse, config, "ingest", str(summary.db_path)) == 0
    raw = _raw_counts(warehouse)
    assert raw["img_info"] == 200
    return warehouse, config, summary.db_path, sha256_of(summary.db_path), raw, root


def _raw_counts(warehouse: Path) -> dict[str, int]:
    tables = [r[0] for r in query(warehouse, "select table_name from duckdb_tables() "
                                             "where schema_name = 'raw' order by 1")]
    return {t: query(warehouse, f'select count(*) from raw."{t}"')[0][0] for t in tables}


def _members(pgid: int) -> dict[int, int]:
    """Live (not zombie) processes of process group `pgid`: pid -> parent pid."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        state, ppid, pgrp = fields[0], int(fields[1]), int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            found[int(entry)] = ppid
    return found


def _open_files(pid: int) -> set[str]:
    names = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return names
    for fd in fds:
        try:
            names.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return names


def _descendants(group: dict[int, int], root: int) -> list[int]:
    """The processes of `group` (pid -> parent pid) below `root`: the build's fork
    server and the dbt runs it forked (neurostock.core.forkserver)."""
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in group.items():
            if ppid == parent:
                found.append(pid)
                frontier.append(pid)
    return found


def _lock_holders(warehouse: Path, pids: list[int]) -> list[int]:
    lock = str(lock_path(warehouse))
    return [pid for pid in pids if lock in _open_files(pid)]


def _start_build(warehouse: Path, config: Path, log: Path) -> subprocess.Popen:
    """`neurostock build` as the real CLI in a session (and process group) of its own."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "NEUROSTOCK_CONFIG": str(config)}
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse),
             "--config", str(config), "build"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_for(build: subprocess.Popen, warehouse: Path, log: Path, reached) -> None:
    """Poll the build's output until `reached(text)` and a dbt run of the build lives
    (a process below it holding the writer lock)."""
    deadline = time.monotonic() + PHASE_DEADLINE_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        if reached(text) and _lock_holders(
                warehouse, _descendants(_members(build.pid), build.pid)):
            return
        if build.poll() is not None:
            raise AssertionError(f"the build ended (exit {build.returncode}) before the "
                                 f"phase:\n{text[-3000:]}")
        time.sleep(0.1)
    raise AssertionError(f"the phase was not reached in {PHASE_DEADLINE_S} s:\n"
                         f"{log.read_text(errors='replace')[-3000:]}")


def _kill_and_check(site, build: subprocess.Popen, label: str) -> None:
    """SIGKILL the build (its dbt child stopped first); then nothing of it is left, the
    lock is free, the source and raw are as they were."""
    warehouse, _, source, source_sha, raw, _ = site
    group = build.pid
    try:
        # Below the build: its dbt fork server and the dbt run it forked, which are
        # stopped; theirs (multiprocessing's resource tracker) end by themselves when
        # their parent has gone.
        members = _members(group)
        holders = _lock_holders(warehouse, _descendants(members, build.pid))
        # The writer lock's file is open in the dbt run: the flock is shared with it.
        assert holders, f"{label}: no dbt run holds the writer lock {lock_path(warehouse)}"
        for pid in [p for p, ppid in members.items() if ppid == build.pid] + holders:
            os.kill(pid, signal.SIGSTOP)
        build.send_signal(signal.SIGKILL)
        build.wait(timeout=60)
        deadline = time.monotonic() + GONE_DEADLINE_S
        while _members(group) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = _members(group)
        assert not left, f"{label}: processes of the killed build still run: {left}"
    finally:
        for pid in _members(group):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    with writer_lock(warehouse, "test"):  # free: nobody holds it any more
        pass
    assert sha256_of(source) == source_sha
    assert _raw_counts(warehouse) == raw


def _then_a_build_succeeds(site, *args: str) -> None:
    warehouse, config, *_ = site
    assert run_cli(warehouse, config, "build", *args) == 0
    assert query(warehouse, "select count(*) from raw.img_info") == [(200,)]


def test_killed_during_the_marts_dbt_run(site):
    warehouse, config, *_, root = site
    log = root / "build_marts.log"
    build = _start_build(warehouse, config, log)
    _wait_for(build, warehouse, log, lambda text: _START.search(text) and "[neurostock] images:"
              not in text)
    _kill_and_check(site, build, "marts")
    _then_a_build_succeeds(site, "-s", "stg_files__images")


def test_killed_during_the_embeddings_dbt_run(site):
    warehouse, config, *_, root = site
    log = root / "build_embeddings.log"
    build = _start_build(warehouse, config, log)
    _wait_for(build, warehouse, log, lambda text: "[neurostock] images:" in text
              and "START sql incremental model main.emb_image__tiny" in text)
    _kill_and_check(site, build, "embeddings")
    _then_a_build_succeeds(site, "-s", "stg_files__images")


def test_killed_after_training_then_a_whole_build_succeeds(site):
    warehouse, config, *_, root = site
    log = root / "build_trained.log"
    build = _start_build(warehouse, config, log)

    def after_training(text: str) -> bool:
        trained = re.search(r"^\[neurostock\] learned_q: (trained|unchanged) on", text,
                            re.MULTILINE)
        return bool(trained and _START.search(text, trained.end()))

    _wait_for(build, warehouse, log, after_training)
    _kill_and_check(site, build, "after training")
    _then_a_build_succeeds(site)
    assert query(warehouse, "select count(*) from imported.scores__learned_q")[0][0] > 0
    assert query(warehouse, "select count(*) from emb_image__tiny")[0][0] > 0
