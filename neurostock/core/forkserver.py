"""dbt children forked from a process that has already imported dbt.

Importing dbt costs about 1.3 CPU-seconds, paid again by every dbt child of a plain
`python -c "from dbt.cli.main import cli; cli()"`: three or four times a `neurostock
build`, and ~120 times a test run. A command instead starts one *fork server* on its
first dbt run: a child of its own (neurostock.core.children's fate: SIGKILL when the
command dies) that imports dbt's command line, and nothing that starts a thread, then
waits. Each dbt run is a fork of it: a fresh process, with dbt already in memory and
nothing else of an earlier run (no scikit-learn, no open model, no DuckDB connection).

A run's request carries the arguments, the whole environment and the folder to run
in, and, as file descriptors (SCM_RIGHTS), the requester's stdin/stdout/stderr, a
socket for the answer, and the writer locks it holds (neurostock.core.lock). The
forked child:
- asks for SIGKILL when the server dies (PR_SET_PDEATHSIG), and the server for SIGKILL
  when the command dies: a command killed however it is killed takes both with it;
- holds the writer locks; the server closes its copies as soon as it has forked, so
  the lock lives exactly as long as the command and its dbt run;
- stays in the command's process group (a terminal's Ctrl-C reaches it; the server
  ignores Ctrl-C and ends when the command closes its socket).
The server answers `pid N` and, once the child has ended, `exit S` (S as subprocess
gives it: negative for a signal). A command that stops waiting (an error, Ctrl-C)
terminates the child itself, as neurostock.core.children.stop_child does.

What the server holds when it starts forking is frozen out of the garbage collector's
reach (gc.freeze), and a run ends without the interpreter's teardown (`_end_of_run`:
its threads joined, its atexit functions run, its output flushed, then os._exit): both
would touch every page the fork shares with the server, copying it. A 200-row build
took 11.0 s with the server preloading torch (the test workers), 7.0 s with both; 8.9
and 7.6 s without the preload (7 Dec 2026, 2 cores).

Only the main thread uses the server (a parent-death signal is tied to the thread
that started the process, and a command's main thread lives as long as the command);
elsewhere, off Linux, and with NEUROSTOCK_DBT_FORKSERVER=0 in the environment (to
compare, or to rule the server out), dbt runs as a plain child
(neurostock.core.children).
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from neurostock.core import children

# What the server imports before it forks anything: dbt's command line. Nothing here
# may start a thread (a fork copies only the thread that forks): not duckdb, numpy or
# scikit-learn (they are imported by each run as before).
PRELOAD = "dbt.cli.main"
SWITCH_ENV = "NEUROSTOCK_DBT_FORKSERVER"
# Model libraries a process may have its server import too (preload_model_libraries):
# one that runs many builds (a test worker: dozens) then pays torch's and
# transformers' import (3-5 CPU-seconds) once, not in every dbt run that embeds. A
# `neurostock build` embeds in one dbt run and would gain nothing, so it does not. Only
# these, which start no thread when imported with OPENBLAS_NUM_THREADS=1 (numpy's
# OpenBLAS otherwise starts its pool at import) and with pyarrow's jemalloc told to
# start no background thread (JEMALLOC_CONF below: pandas, scikit-learn and
# sentence-transformers import pyarrow). Not duckdb (it starts a thread at import).
PRELOADABLE = ("torch", "open_clip", "transformers.modeling_utils",
               # What dbt's Python models and the UDF steps import in most runs:
               # pandas ~1 CPU-s, scikit-learn ~0.5 (clusters, the learned models).
               "pandas", "sklearn", "sklearn.decomposition", "sklearn.manifold",
               "sklearn.cluster", "sklearn.metrics", "scipy.stats", "simplemma",
               "sentence_transformers")
# pyarrow's jemalloc starts a background purging thread unless told not to; the server
# imports the libraries above only with it off (its forks inherit the setting).
JEMALLOC_CONF = ("JE_ARROW_MALLOC_CONF", "background_thread:false")
_preload_extra: tuple[str, ...] = ()
_MESSAGE_MAX = 1 << 20
# How often the server looks for ended children while some run (seconds).
_REAP_EVERY_S = 0.02


class _Client:
    """This process's fork server: started on first use, restarted if it died."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = ("from neurostock.core.forkserver import serve; "
                f"serve({theirs.fileno()}, {list(_preload_extra)!r})")
        preexec = children._die_with(os.getpid())
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(theirs.fileno(),), cwd="/",
            preexec_fn=preexec, stdin=subprocess.DEVNULL)
        theirs.close()
        self.socket = ours
        self.send_lock = threading.Lock()

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.process.poll() is None

    def run(self, args: Sequence[str], env: Mapping[str, str], cwd: str) -> int:
        from neurostock.core.lock import held_lock_fds  # (not in the server: duckdb)

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, ValueError, OSError):
                pass
        reply, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        request = json.dumps({"args": list(args), "env": dict(env), "cwd": str(cwd)}).encode()
        try:
            with self.send_lock:
                socket.send_fds(self.socket, [request],
                                [theirs.fileno(), 0, 1, 2, *held_lock_fds()])
        finally:
            theirs.close()
        with reply, reply.makefile("r", encoding="ascii") as answers:
            first = answers.readline().split()
            if first[:1] != ["pid"]:
                raise OSError("the dbt fork server ended before it started dbt")
            child = int(first[1])
            try:
                return _exit_status(answers)
            except BaseException:
                _stop(child, answers)
                raise


def _exit_status(answers) -> int:
    line = answers.readline().split()
    if line[:1] != ["exit"]:
        # The server died: its child was killed with it (parent-death signal).
        return -signal.SIGKILL
    return int(line[1])


def _stop(child: int, answers, grace_s: float = children.TERMINATE_GRACE_S) -> None:
    """SIGTERM, then SIGKILL after `grace_s`; return once the server saw it end."""
    try:
        os.kill(child, signal.SIGTERM)
    except ProcessLookupError:
        return
    timer = threading.Timer(grace_s, _kill, (child,))
    timer.daemon = True
    timer.start()
    try:
        while True:
            try:
                _exit_status(answers)
                return
            except KeyboardInterrupt:
                _kill(child)
    finally:
        timer.cancel()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


_client: _Client | None = None
_client_lock = threading.Lock()


def preload_model_libraries(names: Sequence[str]) -> None:
    """Have this process's fork server (from its next start) import `names` (of
    PRELOADABLE) before it forks any dbt run."""
    global _preload_extra
    unknown = sorted(set(names) - set(PRELOADABLE))
    if unknown:
        raise ValueError(f"not preloadable in the dbt fork server: {', '.join(unknown)}")
    _preload_extra = tuple(names)


def usable() -> bool:
    """Whether dbt runs of this thread go through the fork server."""
    return (children._prctl is not None and os.environ.get(SWITCH_ENV, "1") != "0"
            and threading.current_thread() is threading.main_thread())


def run_dbt_child(args: Sequence[str], *, env: Mapping[str, str], cwd: str | os.PathLike) -> int:
    """`dbt ARGS` run to its end in a fork of this process's fork server (started
    here on first use), or as a plain child where the server cannot be used; its exit
    status."""
    if not usable():
        return children.run_child(
            [sys.executable, "-c", f"from {PRELOAD} import cli; cli()", *args],
            env=env, cwd=cwd)
    global _client
    with _client_lock:
        if _client is None or not _client.alive():
            _client = _Client()
        client = _client
    return client.run(args, env, str(cwd))


# --- the server -----------------------------------------------------------------------

def serve(fd: int, extra: Sequence[str] = ()) -> None:
    """The fork server's loop (its own process, started by _Client)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    __import__(PRELOAD)
    _warm_schemas()
    if extra:
        os.environ[JEMALLOC_CONF[0]] = JEMALLOC_CONF[1]
    for name in extra:
        try:
            __import__(name)
        except ImportError:  # left to the run that needs it, which says why
            pass
    # What the server holds now (dbt, and in a test worker torch and the rest) moves
    # out of the collector's reach: a fork's garbage collections no longer walk it,
    # which would copy every page of it into the fork (~1 s of a ~9 s build there).
    gc.freeze()
    server = socket.socket(fileno=fd)
    server_pid = os.getpid()
    running: dict[int, socket.socket] = {}
    while True:
        ready, _, _ = select.select([server], [], [], _REAP_EVERY_S if running else None)
        if ready:
            try:
                message, fds, _flags, _address = socket.recv_fds(server, _MESSAGE_MAX, 64)
            except OSError:
                message, fds = b"", []
            if not message:
                break  # the command closed its end: it is done with the server
            reply = socket.socket(fileno=fds[0])
            pid = os.fork()
            if pid == 0:
                _child(server, reply, fds[1:4], json.loads(message), server_pid)
            for passed in fds[1:]:
                os.close(passed)
            try:
                reply.sendall(f"pid {pid}\n".encode())
            except OSError:
                pass
            running[pid] = reply
        for pid, reply in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                try:
                    reply.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
                except OSError:
                    pass
                reply.close()
                del running[pid]
    # The command is gone or done; children of a gone command die with this process.
    for pid in running:
        _kill(pid)


def _warm_schemas() -> None:
    """Build the JSON schemas every dbt run validates its project, and a parse its
    nodes, against (dbt builds each once per process: ~0.3 CPU-s of a run that parses
    nothing, more of one that does): once here, inherited by every fork. And find a
    behaviour flag's module from the frames' globals, not inspect.stack(), which reads
    every frame's source file and walks sys.modules once per frame (~0.2 CPU-s a run
    in a process that holds torch: 8 Dec 2026, py-spy over the test suite)."""
    try:
        from dbt.contracts.graph.nodes import (
            GenericTestNode,
            ModelNode,
            SeedNode,
            SingularTestNode,
        )
        from dbt.contracts.graph.unparsed import (
            UnparsedAnalysisUpdate,
            UnparsedMacroUpdate,
            UnparsedNodeUpdate,
            UnparsedSourceDefinition,
        )
        from dbt.contracts.project import Configuration, PackageConfig, Project, ProjectFlags

        for contract in (Project, ProjectFlags, PackageConfig, Configuration, ModelNode,
                         SeedNode, SingularTestNode, GenericTestNode,
                         UnparsedSourceDefinition, UnparsedNodeUpdate, UnparsedMacroUpdate,
                         UnparsedAnalysisUpdate):
            contract.json_schema()
    except Exception:  # another dbt version: its runs build them as before
        pass
    try:
        from dbt_common import behavior_flags

        rendered = behavior_flags.BehaviorFlagRendered
        if isinstance(rendered.__dict__.get("_default_source"), staticmethod):
            rendered._default_source = staticmethod(_flag_source)
    except Exception:  # another dbt version: left as it is
        pass


def _flag_source() -> str:
    """BehaviorFlagRendered._default_source's answer (the nearest calling module other
    than dbt_common.behavior_flags), from each frame's module name."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_globals.get("__name__")
        if name and name != "dbt_common.behavior_flags":
            return name
        frame = frame.f_back
    return "Unknown"


def _child(server: socket.socket, reply: socket.socket, stdio: list[int], request: dict,
           server_pid: int):
    """In the fork: become the requested dbt run. Ends the process (never returns)."""
    try:
        if children._prctl(children.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0 \
                or os.getppid() != server_pid:
            os._exit(children._ORPHANED)
        server.close()
        reply.close()
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
            os.close(fd)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(line_buffering=True)
        sys.argv = ["dbt", *request["args"]]
    except BaseException:
        os._exit(children._ORPHANED)
    from dbt.cli.main import cli
    try:
        cli()  # click ends the process with dbt's exit status (SystemExit)
        status = 0
    except SystemExit as end:
        status = end.code if isinstance(end.code, int) else int(end.code is not None)
    except KeyboardInterrupt:
        status = 130
    except BaseException:
        import traceback

        traceback.print_exc()
        status = 1
    os._exit(_end_of_run(status))


def _end_of_run(status: int) -> int:
    """What an interpreter's exit does that a run needs (wait for its threads, run its
    atexit functions, flush its output), without the rest: tearing down every module
    and object of the process, which in a fork of a server holding torch (test workers)
    costs ~0.5 s a run, most of it copying pages the fork shared. The exit status."""
    import atexit

    try:
        shutdown = getattr(threading, "_shutdown", None)  # joins non-daemon threads
        if shutdown is not None:
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:
        status = status or 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    return status
