"""Child processes that end when the command that started them ends, however it ends.

`run_child` is the one way a neurostock command starts a process of its own (dbt, for
every dbt run: neurostock/build/dbt_runner.py):
- the child asks the kernel for SIGKILL when its parent dies (Linux `prctl
  PR_SET_PDEATHSIG`, set between fork and exec, then a check that the parent is still
  the one that forked it: a parent killed in between would otherwise be missed);
- it inherits the writer lock's file descriptor (neurostock.core.lock), so the `flock`
  is held by both and released only when the last of them has exited: a command that
  dies leaves no window in which the next writer passes the lock while the child
  still writes;
- on an error or Ctrl-C in the parent (any exception while waiting), the child is
  terminated (SIGTERM, then SIGKILL after a grace period) and waited for before the
  exception goes on, so the lock is released after the child, never before.

The child stays in the command's process group, so a terminal's Ctrl-C reaches both.
The parent-death signal is tied to the thread that started the child; `run_child`
waits in that thread, so the thread cannot end first. Ray's own processes
(`neurostock embed|score --engine ray`, a local instance) are started by Ray with the
same kernel fate-sharing and shut down by `ray_session`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

PR_SET_PDEATHSIG = 1
# Seconds a child gets to end after SIGTERM before it is killed.
TERMINATE_GRACE_S = 10.0
# Exit status of a child whose parent died before it could ask to die with it.
_ORPHANED = 125

_prctl = None
if sys.platform.startswith("linux"):
    # Resolved once, here: the function the child runs between fork and exec then calls
    # a ready foreign function and allocates nothing.
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
    _prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                       ctypes.c_ulong)
    _prctl.restype = ctypes.c_int


def _die_with(parent_pid: int):
    """The child's preexec function: SIGKILL on the parent's death; exit at once if the
    parent is already gone (then the child was reparented and getppid() says so)."""
    def preexec() -> None:
        if _prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(_ORPHANED)
        if os.getppid() != parent_pid:
            os._exit(_ORPHANED)
    return preexec


def start_child(command: Sequence[str], *, env: Mapping[str, str] | None = None,
                cwd: str | os.PathLike | None = None, **popen) -> subprocess.Popen:
    """Popen(command) that dies with this process and shares its writer lock."""
    # Imported here: this module is also the fork server's (neurostock.core.forkserver),
    # which must not import DuckDB (its import starts a thread).
    from neurostock.core.lock import held_lock_fds

    preexec = _die_with(os.getpid()) if _prctl is not None else None
    return subprocess.Popen(list(command), env=dict(env) if env is not None else None,
                            cwd=cwd, preexec_fn=preexec, pass_fds=held_lock_fds(), **popen)


def stop_child(child: subprocess.Popen, grace_s: float = TERMINATE_GRACE_S) -> None:
    """Terminate `child` (SIGTERM, then SIGKILL after `grace_s`) and wait for it."""
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(grace_s)
        except subprocess.TimeoutExpired:
            child.kill()
    # An interrupt here must not leave the child unreaped while the lock is released.
    while True:
        try:
            child.wait()
            return
        except KeyboardInterrupt:
            child.kill()


def run_child(command: Sequence[str], *, env: Mapping[str, str] | None = None,
              cwd: str | os.PathLike | None = None) -> int:
    """Run `command` to its end as a child that ends with this process (see the module
    docstring); its exit status. Any exception while waiting (Ctrl-C included) stops
    the child and waits for it before going on."""
    child = start_child(command, env=env, cwd=cwd)
    try:
        return child.wait()
    except BaseException:
        stop_child(child)
        raise
