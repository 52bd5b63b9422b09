"""One writer per warehouse: the writer lock, held by real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurostock.cli import main
from neurostock.core.errors import NeurostockError
from neurostock.core.lock import lock_path, writer_lock
from tests.conftest import query

REPO = Path(__file__).resolve().parents[1]

# Takes the lock as `neurostock build` would, says so, then sleeps until killed.
HOLDER = """
import sys, time
from neurostock.core.lock import writer_lock
with writer_lock(sys.argv[1], "build"):
    print("locked", flush=True)
    time.sleep(600)
"""


def _env() -> dict:
    return {**os.environ, "NEUROSTOCK_CONFIG": "none", "PYTHONPATH": str(REPO)}


def cli(warehouse: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m neurostock.cli --warehouse W ARGS` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse), *args],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300, check=False)


def start_holder(warehouse: Path) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse)], cwd=REPO,
                              env=_env(), stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_writer_is_refused_with_one_line_naming_the_holder(tiny_source, warehouse):
    assert cli(warehouse, "ingest", str(tiny_source)).returncode == 0
    holder = start_holder(warehouse)
    try:
        for args in (["ingest", str(tiny_source)], ["build"], ["dbt", "parse"],
                     ["images", "sync"], ["train", "--name", "x"]):
            refused = cli(warehouse, *args)
            assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
            err = refused.stderr.strip()
            assert len(err.splitlines()) == 1, err
            assert f"warehouse {warehouse} is in use by `neurostock build` (pid {holder.pid}) " \
                   "since 20" in err, err
        # Readers do not wait for writers.
        status = cli(warehouse, "status")
        assert status.returncode == 0 and "last load 1" in status.stdout, status.stderr
        assert f"being written by `neurostock build` (pid {holder.pid})" in status.stdout
        assert cli(warehouse, "sql", "select count(*) from raw.img_info").returncode == 0
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_the_warehouse_free(tiny_source, warehouse):
    holder = start_holder(warehouse)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # Its file is still there (nobody removed it) but nobody holds it.
    assert lock_path(warehouse).exists()
    assert "being written" not in cli(warehouse, "status").stdout
    done = cli(warehouse, "ingest", str(tiny_source))
    assert done.returncode == 0, done.stderr
    assert query(warehouse, "select count(*) from raw.img_info") == [(5,)]
    assert not lock_path(warehouse).exists()


def test_the_lock_is_released_and_removed_when_the_command_ends(tiny_source, warehouse):
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 0
    assert not lock_path(warehouse).exists()
    # A failing writer releases it too.
    assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source) + ".missing"]) == 1
    with writer_lock(warehouse, "ingest"):
        pass


def test_the_lock_is_exclusive_within_one_process_too(tiny_source, warehouse, capsys):
    with writer_lock(warehouse, "scores import"):
        with pytest.raises(NeurostockError, match=r"`neurostock scores import` \(pid "
                                                  rf"{os.getpid()}\)"):
            with writer_lock(warehouse, "ingest"):
                pass
        assert main(["--warehouse", str(warehouse), "ingest", str(tiny_source)]) == 1
        err = capsys.readouterr().err
        assert "is in use by `neurostock scores import`" in err
    assert not warehouse.exists()  # the refused ingest did not start


def test_the_holder_file_says_command_pid_and_start(warehouse):
    before = time.time()
    with writer_lock(warehouse, "images sync") as path:
        command, pid, since = path.read_text().splitlines()
    assert command == "neurostock images sync" and pid == str(os.getpid())
    from datetime import datetime

    assert datetime.fromisoformat(since).timestamp() >= int(before)
