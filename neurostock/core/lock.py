"""One writer per warehouse: `<warehouse>.lock`, held by a command for its whole run.

DuckDB locks its file only while a process holds it open, and a `neurostock build`
opens and closes it many times (dbt runs, image checks, training); without a lock of
its own, an `ingest` started between two of those steps would replace `raw` under a
running build. The lock is an `flock` on a file beside the warehouse: the kernel
drops it when its holder exits, however it exits (SIGKILL included), so a crashed
command never leaves the warehouse locked. Readers (sql, status, report, ...) do
not take it.

Child processes: the lock is held until the last process of the command has ended.
Every child a command starts (dbt, in neurostock.core.children) inherits the lock's
file descriptor, so the `flock` (which belongs to the open file, not to a process)
stays taken while the child lives, even when the command itself is killed; and the
child gets SIGKILL from the kernel when the command dies (PR_SET_PDEATHSIG), so it
does not live on. Without both, a build killed during a dbt run left dbt writing with
the lock gone, and the next command failed on DuckDB's own file lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from neurostock.core.errors import NeurostockError
from neurostock.core.paths import lock_file
from neurostock.core.warehouse import resolve_warehouse

# Descriptors of the writer locks this process holds, for its children to inherit.
_HELD: list[int] = []


def lock_path(warehouse: str | os.PathLike | None) -> Path:
    """`<warehouse>.lock`, beside the warehouse file."""
    return lock_file(resolve_warehouse(warehouse))


@contextmanager
def writer_lock(warehouse: str | os.PathLike | None, command: str) -> Iterator[Path]:
    """Hold the warehouse's writer lock while the block runs; NeurostockError at once,
    naming the holder (command, pid, since when), if another process holds it.

    The file is removed when the block ends; a file left by a killed holder is not
    locked and is simply taken over.
    """
    target = resolve_warehouse(warehouse)
    path = lock_file(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = _acquire(path, target, command)
    _HELD.append(fd)
    try:
        yield path
    finally:
        _HELD.remove(fd)
        # Unlink before unlocking: whoever opened this file meanwhile finds it gone
        # from the path once it gets the lock, and opens a fresh one (see _acquire).
        try:
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def held_lock_fds() -> tuple[int, ...]:
    """The file descriptors of the writer locks this process holds: a child started
    with them (`pass_fds`) holds the lock with it until both have exited."""
    return tuple(_HELD)


def _acquire(path: Path, warehouse: Path, command: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise NeurostockError(
                f"warehouse {warehouse} is in use by {holder}: wait for it to finish "
                f"(lock file {path})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if _still_linked(fd, path):
            break
        # The previous holder removed the file between our open and our lock.
        os.close(fd)
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"neurostock {command}\n{os.getpid()}\n{stamp}\n".encode(), 0)
    return fd


def _still_linked(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _read(fd: int) -> str:
    """`neurostock build (pid 123) since 2024-…` from the holder's file; what is
    known when the holder has not written it yet."""
    lines = os.pread(fd, 4096, 0).decode("utf-8", "replace").splitlines()
    if len(lines) < 3:
        return "another neurostock command"
    return _describe(lines)


def _describe(lines: list[str]) -> str:
    command, pid, since = lines[:3]
    return f"`{command}` (pid {pid}) since {since}"


def current_writer(warehouse: str | os.PathLike | None) -> str | None:
    """`neurostock build` (pid …) since … while a live process holds the writer lock,
    else None. For display only: it reads the file and never takes the lock (a reader
    taking it, even briefly, would turn a writer away)."""
    try:
        lines = lock_path(warehouse).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return None
    if len(lines) < 3 or not lines[1].isdigit():
        return None
    try:
        os.kill(int(lines[1]), 0)
    except ProcessLookupError:
        return None  # left by a killed holder
    except PermissionError:
        pass  # alive, another user's
    return _describe(lines)
