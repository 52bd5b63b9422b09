"""The dbt fork server (neurostock.core.forkserver): dbt runs forked from one process
that imported dbt, with the caller's output, environment, folder and exit status, and
a server that holds one thread and ends with its command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from neurostock.core import forkserver
from tests.checkout import REPO

pytestmark = pytest.mark.slow  # each test runs dbt's command line


def test_runs_go_through_one_single_threaded_server(tmp_path, capfd):
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "False"}
    assert forkserver.run_dbt_child(["--version"], env=env, cwd=tmp_path) == 0
    server = forkserver._client.process
    assert forkserver.run_dbt_child(["--version"], env=env, cwd=tmp_path) == 0
    assert forkserver._client.process is server and server.poll() is None
    # A fork copies only the thread that forks: the server must have no other, also
    # with the model libraries the suite has it import first (tests/conftest.py).
    assert os.listdir(f"/proc/{server.pid}/task") == [str(server.pid)]
    assert forkserver._preload_extra == forkserver.PRELOADABLE
    assert "libtorch" in Path(f"/proc/{server.pid}/maps").read_text()
    out = capfd.readouterr().out
    assert out.count("Core:") == 2, out  # dbt's own output reached this process's stdout
    # dbt's status comes back as it is: 2 for a command dbt does not know.
    assert forkserver.run_dbt_child(["no-such-command"], env=env, cwd=tmp_path) == 2


def test_a_run_has_the_requested_environment_and_folder(tmp_path):
    # `dbt debug` in a folder without a project fails and says which folder it looked
    # in and which profiles folder the environment named.
    folder = tmp_path / "here"
    folder.mkdir()
    out = subprocess.run(
        [sys.executable, "-c",
         "import os, sys; from neurostock.core.forkserver import run_dbt_child; "
         "env = {**os.environ, 'DBT_PROFILES_DIR': sys.argv[2]}; "
         "sys.exit(run_dbt_child(['debug'], env=env, cwd=sys.argv[1]))",
         str(folder), str(tmp_path / "profiles_from_env")],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=120)
    assert out.returncode != 0
    assert str(folder) in out.stdout and str(tmp_path / "profiles_from_env") in out.stdout, \
        out.stdout[-2000:]


def test_the_server_ends_with_its_command(tmp_path):
    script = ("import os, sys; from neurostock.core import forkserver; "
              "forkserver.run_dbt_child(['--version'], env=dict(os.environ), cwd='.'); "
              "print('server', forkserver._client.process.pid, flush=True); "
              "os.kill(os.getpid(), 9) if sys.argv[1] == 'killed' else None")
    for how in ("ends", "killed"):
        out = subprocess.run([sys.executable, "-c", script, how], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO)},
                             capture_output=True, text=True, timeout=120)
        pid = int(out.stdout.split("server ")[1].split()[0])
        deadline = time.monotonic() + 30
        while Path(f"/proc/{pid}").exists() and _state(pid) not in "ZX" \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists() or _state(pid) in "ZX", how


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "X"
    return stat[stat.rindex(")") + 2]


def test_a_run_ends_after_its_threads_and_exit_functions(tmp_path):
    """A forked run skips the interpreter's teardown (forkserver._end_of_run) but not
    what a run needs of it: its threads finish, its atexit functions run (the resume
    cache closes there), its output is flushed, and its status is kept."""
    script = (
        "import atexit, os, sys, threading, time; from pathlib import Path; "
        "from neurostock.core import forkserver; out = Path(sys.argv[1]); "
        "threading.Thread(target=lambda: (time.sleep(0.3), "
        "(out / 'thread').write_text('done'))).start(); "
        "atexit.register(lambda: (out / 'atexit').write_text('ran')); "
        "sys.stdout.write('unflushed'); "
        "os._exit(forkserver._end_of_run(3))")
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "unflushed"
    assert (tmp_path / "thread").read_text() == "done"
    assert (tmp_path / "atexit").read_text() == "ran"


@pytest.mark.parametrize("depth", [0, 2])
def test_a_behaviour_flags_module_is_found_as_dbt_finds_it(depth):
    """The server's stand-in for BehaviorFlagRendered._default_source (which it replaces
    before forking: inspect.stack() there costs ~0.2 CPU-s a run) answers as dbt's own
    does, called directly or from deeper frames of another module."""
    from dbt_common import behavior_flags

    original = behavior_flags.BehaviorFlagRendered.__dict__["_default_source"].__func__
    assert original is not forkserver._flag_source  # this process never patched it

    def nested(n, function):
        return function() if n == 0 else nested(n - 1, function)

    expected = nested(depth, original)
    assert expected == __name__
    assert nested(depth, forkserver._flag_source) == expected
