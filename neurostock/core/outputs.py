"""The files a command writes into a folder the user names (`submit`, `select`,
`export`, `report`): only its own, only inside that folder, and only while they are
still what it wrote.

Every such command keeps a record inside DIR, in its own manifest (submit's
`manifest.json`, select's `selection.json`, export's `export_manifest.json`, the
report's `report.json`), under the key "outputs":

    {"command": "submit", "files": {"images/a-1.jpg": "<sha256>", ...},
     "links": {"images/7.png": "<the link's target>"}}

and an `Outputs` applies these rules:

- DIR that is or lies inside a folder of the warehouse (`<warehouse>.dbt/`, `.models/`,
  `.shards/`, `.index/`, the resume cache, the lock) or inside the dbt project, or that holds the
  warehouse file, is refused in one line.
- DIR that is not empty and holds no record of the same command is refused (a first
  run goes into a new or empty folder); a command with `--force` refuses a DIR that
  holds one unless it is given.
- Files are written only into real folders inside DIR (the real path of DIR; a
  symbolic link on the way is refused, never followed).
- An existing file is replaced, and a file the previous run wrote and this one does not
  is removed, only when it is a regular file inside DIR (no symbolic link on its way)
  whose sha256 is the one the record holds. A file changed since is kept and said so in
  one line; any other entry of the record (an absolute path, `..`, a folder, a path
  through a symbolic link) is reported in one line and left alone.
- A file whose bytes would not change is not written again; a new one is written beside
  its name and moved into place (the mode an ordinary new file gets).
"""

from __future__ import annotations

import json
import os
import re
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256
from neurostock.core.paths import (
    dbt_project_dir,
    dbt_work_dir,
    index_dir,
    lock_file,
    models_dir,
    resume_cache_file,
    shards_dir,
)

RECORD_KEY = "outputs"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _umask() -> int:
    """The process's umask (read by setting it, so under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def _sha256_bytes(payload: bytes) -> str:
    import hashlib

    return hashlib.sha256(payload).hexdigest()


def refuse_warehouse_folders(root: Path, shown: Path | str,
                             warehouse: Path | None) -> None:
    """NeurostockError when the real folder `root` is or lies inside a folder that
    belongs to `warehouse` (or the dbt project), or holds the warehouse file."""
    guarded = [dbt_project_dir()]
    if warehouse is not None:
        for form in {Path(os.path.abspath(warehouse)), Path(os.path.realpath(warehouse))}:
            guarded += [dbt_work_dir(form), models_dir(form), shards_dir(form), index_dir(form),
                        resume_cache_file(form), lock_file(form)]
            if form.is_relative_to(root):
                raise NeurostockError(
                    f"{shown} holds the warehouse {form}: write outputs into a folder of "
                    "their own")
    for folder in guarded:
        real = Path(os.path.realpath(folder))
        if root == real or root.is_relative_to(real):
            raise NeurostockError(
                f"{shown} is inside {folder}, which belongs to the warehouse or dbt: "
                "write outputs into a folder of their own")


def _parts(relative: object) -> tuple[str, ...] | None:
    """The parts of a relative path inside DIR, or None when it is not one."""
    if not isinstance(relative, str) or not relative or "\0" in relative \
            or "\\" in relative:
        return None
    path = PurePosixPath(relative)
    if path.is_absolute() or any(p in ("..", ".", "") for p in relative.split("/")):
        return None
    return path.parts


class Outputs:
    """One run of `command` writing into `out_dir` (see the module docstring).

    `record`: the file name, inside DIR, of the command's manifest that holds the
    record; `force`: None for a command without `--force`, else whether it was given
    (`replaces` names what a previous run left, for its message); `say`: where a kept or
    refused entry is told, one line each, starting with `label` (default "<command>: ")."""

    def __init__(self, out_dir: str | Path, *, command: str, record: str,
                 warehouse: Path | None, force: bool | None = None,
                 replaces: str = "output", say: Callable[[str], None] | None = None,
                 label: str | None = None):
        self.command = command
        self.say = say or (lambda _m: None)
        self.label = f"{command}: " if label is None else label
        shown = Path(out_dir).expanduser()
        if "\0" in str(shown):
            raise NeurostockError(f"{out_dir!r} is not a path")
        if shown.exists() and not shown.is_dir():
            raise NeurostockError(f"{shown} exists and is not a directory")
        self.shown = shown
        self.root = Path(os.path.realpath(shown))
        refuse_warehouse_folders(self.root, shown, warehouse)
        self.record_name = record
        previous = self._read_record() if self.root.is_dir() else None
        if self.root.is_dir() and any(self.root.iterdir()):
            if previous is None:
                raise NeurostockError(
                    f"{shown} is not empty and holds no record of a previous `neurostock "
                    f"{command}` ({record} with the files it wrote): write into a new or "
                    f"empty folder (nothing in {shown} was touched)")
            if force is False:
                raise NeurostockError(
                    f"{shown} is not empty: pass --force to replace a previous {replaces} "
                    "there (other files are left alone)")
        self.previous_files: dict = dict((previous or {}).get("files") or {})
        self.previous_links: dict = dict((previous or {}).get("links") or {})
        self.files: dict[str, str] = {}
        self.links: dict[str, str] = {}
        self.written = 0
        self.unchanged = 0
        self.kept: list[str] = []
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- the record

    def _read_record(self) -> dict | None:
        path = self.root / self.record_name
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        record = data.get(RECORD_KEY) if isinstance(data, dict) else None
        if not isinstance(record, dict) or record.get("command") != self.command \
                or not isinstance(record.get("files"), dict) \
                or not isinstance(record.get("links", {}), dict):
            return None
        return record

    def record(self) -> dict:
        """This run's record (what the manifest holds under "outputs")."""
        return {"command": self.command, "files": dict(sorted(self.files.items())),
                "links": dict(sorted(self.links.items()))}

    # ----------------------------------------------------------------- paths

    def _folder(self, parts: tuple[str, ...], create: bool) -> Path | None:
        """The real folder inside DIR that holds `parts[-1]` (created when `create`);
        None when it is missing (and not created); NeurostockError when a symbolic
        link or a file stands on the way."""
        folder = self.root
        try:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NeurostockError(f"cannot make {self.shown}: {exc.strerror or exc}") from None
        for part in parts[:-1]:
            folder = folder / part
            try:
                mode = os.lstat(folder).st_mode
            except FileNotFoundError:
                if not create:
                    return None
                try:
                    os.mkdir(folder)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise NeurostockError(
                        f"cannot make {folder}: {exc.strerror or exc}") from None
                mode = os.lstat(folder).st_mode
            if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
                what = "a symbolic link" if stat.S_ISLNK(mode) else "not a folder"
                raise NeurostockError(
                    f"{folder} is {what}: `neurostock {self.command}` writes only into real "
                    f"folders inside {self.root}")
        return folder

    def path(self, relative: str) -> Path:
        """DIR/`relative`, its folders made (real folders inside DIR only)."""
        parts = _parts(relative)
        if parts is None:
            raise NeurostockError(f"{relative!r} is not a file path inside {self.root}")
        with self._lock:
            return self._folder(parts, create=True) / parts[-1]

    def temp_for(self, relative: str) -> Path:
        """A new empty file beside DIR/`relative`, for `place`."""
        target = self.path(relative)
        handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".part")
        try:
            # mkstemp's 0600 would make the output unreadable to others where a folder
            # is shared: the mode an ordinary new file gets (umask applied).
            os.fchmod(handle, 0o666 & ~_umask())
        finally:
            os.close(handle)
        return Path(name)

    def _put(self, target: Path, relative: str, payload: bytes) -> None:
        temp = self.temp_for(relative)
        try:
            temp.write_bytes(payload)
            os.replace(temp, target)
        finally:
            temp.unlink(missing_ok=True)

    def _state(self, relative: str, target: Path) -> str | None:
        """None when this run may (over)write `target`; else why not, in a few words."""
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            if relative in self.previous_links \
                    and os.readlink(target) == self.previous_links[relative]:
                return None
            return "a symbolic link this command did not make"
        if stat.S_ISDIR(info.st_mode):
            return "a folder"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file"
        recorded = self.previous_files.get(relative)
        if recorded is None:
            return "not written by the last run (not in its record)"
        if file_sha256(target) != recorded:
            return "changed since the last run wrote it"
        return None

    def _keep(self, relative: str, why: str) -> None:
        with self._lock:
            self.kept.append(relative)
        self.say(f"{self.label}kept {self.shown / relative}: {why} (remove it to have "
                 "it written again)")

    def _same_file(self, target: Path, sha256: str, size: int) -> bool:
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(info.st_mode) and info.st_size == size \
            and file_sha256(target) == sha256

    # ----------------------------------------------------------------- writing

    def write(self, relative: str, payload: bytes) -> bool:
        """Write `payload` to DIR/`relative` unless the file there has these bytes
        already, or is not this command's to replace (kept, told). True when written."""
        return self._settle(relative, _sha256_bytes(payload), len(payload),
                            lambda target: self._put(target, relative, payload))

    def place(self, relative: str, temp: Path) -> bool:
        """Move `temp` (from `temp_for(relative)`, written by the caller) to
        DIR/`relative` under the rules of `write`. True when written."""
        try:
            return self._settle(relative, file_sha256(temp), os.stat(temp).st_size,
                                lambda target: os.replace(temp, target))
        finally:
            temp.unlink(missing_ok=True)

    def _settle(self, relative: str, sha: str, size: int, put: Callable[[Path], None]) -> bool:
        """The rules of `write` for content of `sha` and `size`; `put(target)` writes it."""
        target = self.path(relative)
        if self._same_file(target, sha, size):
            with self._lock:
                self.files[relative] = sha
                self.unchanged += 1
            return False
        why = self._state(relative, target)
        if why is not None:
            self._keep(relative, why)
            return False
        put(target)
        with self._lock:
            self.files[relative] = sha
            self.links.pop(relative, None)
            self.written += 1
        return True

    def link(self, relative: str, source: str) -> bool:
        """A symbolic link DIR/`relative` -> `source` (select --link). True when made."""
        target = self.path(relative)
        try:
            if os.readlink(target) == source and relative in self.previous_links:
                with self._lock:
                    self.links[relative] = source
                    self.unchanged += 1
                return False
        except OSError:
            pass
        why = self._state(relative, target)
        if why is not None:
            self._keep(relative, why)
            return False
        temp = target.with_name(f".{target.name}.{os.getpid()}.link")
        temp.unlink(missing_ok=True)
        os.symlink(source, temp)
        os.replace(temp, target)
        with self._lock:
            self.links[relative] = source
            self.files.pop(relative, None)
            self.written += 1
        return True

    def reuse(self, relative: str) -> bool:
        """True (and kept in this run's record) when the last run wrote DIR/`relative`
        and a regular file is there: a cache hit. Its sha256 is checked before it is ever
        replaced or removed, not here."""
        parts = _parts(relative)
        recorded = self.previous_files.get(relative)
        if parts is None or recorded is None:
            return False
        try:
            folder = self._folder(parts, create=False)
            if folder is None or not stat.S_ISREG(os.lstat(folder / parts[-1]).st_mode):
                return False
        except (OSError, NeurostockError):
            return False
        with self._lock:
            self.files[relative] = recorded
        return True

    # ----------------------------------------------------------------- finishing

    def _remove(self, relative: object, recorded: object, is_link: bool) -> bool:
        """Remove one entry of the last run's record that this run did not write, under
        the rules of the module docstring. True when removed."""
        def leave(why: str) -> bool:
            self.say(f"{self.label}left {relative!r} of the last run's record alone: "
                     f"{why}")
            return False

        parts = _parts(relative)
        if parts is None:
            return leave(f"not a file path inside {self.shown}")
        try:
            folder = self._folder(parts, create=False)
        except NeurostockError:
            return leave("a symbolic link or a file stands on its way")
        if folder is None:
            return False
        target = folder / parts[-1]
        try:
            mode = os.lstat(target).st_mode
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(mode):
            return leave("a folder (only files a run wrote are removed)")
        if stat.S_ISLNK(mode):
            if not is_link or os.readlink(target) != recorded:
                return leave("a symbolic link this command did not make")
        elif not stat.S_ISREG(mode) or is_link:
            return leave("not the file this command wrote")
        elif not isinstance(recorded, str) or not _SHA256.fullmatch(recorded):
            return leave("its record holds no sha256")
        elif file_sha256(target) != recorded:
            self._keep(str(relative), "changed since the last run wrote it")
            return False
        target.unlink()
        return True

    def finish(self, manifest: dict | None = None) -> list[str]:
        """Remove what the last run wrote and this one did not (see `_remove`), then
        write the record (with `manifest`, the command's other keys) unless its bytes
        would not change. Returns the relative paths removed."""
        removed = []
        # Kept files were told already; they are the user's now, out of the record.
        ours = set(self.files) | set(self.links) | set(self.kept)
        for entries, is_link in ((self.previous_files, False), (self.previous_links, True)):
            for relative, recorded in entries.items():
                if relative not in ours and relative != self.record_name \
                        and self._remove(relative, recorded, is_link):
                    removed.append(relative)
        self._write_record({**(manifest or {}), RECORD_KEY: self.record()})
        return removed

    def _write_record(self, content: dict) -> None:
        payload = (json.dumps(content, indent=2, default=str) + "\n").encode()
        target = self.path(self.record_name)
        if self._same_file(target, _sha256_bytes(payload), len(payload)):
            self.unchanged += 1
            return
        try:
            mode = os.lstat(target).st_mode
            if not stat.S_ISREG(mode):
                raise NeurostockError(f"{target} is not a regular file: not replaced")
        except FileNotFoundError:
            pass
        self._put(target, self.record_name, payload)
        self.written += 1

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, kind, value, traceback) -> None:
        """On a failure after files were written, the record keeps what the last run
        and this one wrote, so a later run can still replace them."""
        if kind is None or not (self.files or self.links):
            return
        files = {**self.previous_files, **self.files}
        links = {**self.previous_links, **self.links}
        for relative in self.files:
            links.pop(relative, None)
        for relative in self.links:
            files.pop(relative, None)
        try:
            self._write_record({"interrupted": True, RECORD_KEY: {
                "command": self.command, "files": files, "links": links}})
        except (OSError, NeurostockError):
            pass
