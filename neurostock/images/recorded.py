"""Opening an image file that `images sync` recorded, for a step that hands its bytes
on (the rating app serves them, `submit` converts them): only when the file is still
what was checked.

At the moment of use, a recorded path is opened only when
- its real path (symlinks followed) lies inside the allowed roots, by the same rule
  `images sync` applies (config `images: roots`, else the maps' targets, else
  `images: base`, else the folder of the last ingested source:
  neurostock.images.paths.allowed_roots);
- it is a regular file of at most `max_bytes` (config `images: max_bytes`);
- its size and mtime are the ones files.images recorded (file_size, file_mtime_ns).
The checks are made on the opened descriptor (fstat, and /proc/self/fd for the path it
really opened), so a swap between the check and the read is caught; the final name is
opened with O_NOFOLLOW. Anything else is FileRefused with a one-line reason, and the
file is not read.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import duckdb

from neurostock.core.config import ImagesConfig
from neurostock.images.paths import PathMap, allowed_roots, image_base, is_inside

# Media types of the formats `images sync` accepts (files.images.format).
MEDIA_TYPES = {"JPEG": "image/jpeg", "MPO": "image/jpeg", "PNG": "image/png",
               "WEBP": "image/webp", "GIF": "image/gif", "BMP": "image/bmp",
               "TIFF": "image/tiff"}


class FileRefused(Exception):
    """A recorded file that may not be opened now; `reason` is one line."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileRules:
    """Where recorded files may be read from and how large they may be."""

    roots: tuple[str, ...]
    max_bytes: int

    @classmethod
    def from_config(cls, con: duckdb.DuckDBPyConnection,
                    images: ImagesConfig | None = None) -> FileRules:
        """The rules of the config's `images:` section (the defaults when None), roots
        chosen as `images sync` chooses them (its `base` included: files under a base
        outside the source's folder were read by the sync and are read here)."""
        images = images or ImagesConfig()
        maps = [PathMap.parse(m) for m in images.maps]
        roots = allowed_roots(con, images.roots, maps, image_base(con, images.base))
        return cls(roots=roots, max_bytes=images.max_bytes)


def open_recorded(path: str | os.PathLike | None, size: int | None, mtime_ns: int | None,
                  rules: FileRules) -> BinaryIO:
    """The recorded file at `path`, opened for reading, when it passes every check of
    the module docstring; FileRefused otherwise. The caller closes it."""
    if not path:
        raise FileRefused("no file recorded")
    if size is None or mtime_ns is None:
        raise FileRefused("files.images has no size and mtime for it: run "
                          "`neurostock images sync`")
    real = os.path.realpath(os.fspath(path))
    if not is_inside(real, rules.roots):
        raise FileRefused(f"resolves to {real}, outside the allowed roots")
    flags = os.O_RDONLY | os.O_CLOEXEC
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_NOCTTY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError:
        raise FileRefused(f"no such file: {real}") from None
    except OSError as exc:
        raise FileRefused(f"cannot open {real}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        opened = _opened_path(fd)
        if opened is not None and not is_inside(opened, rules.roots):
            raise FileRefused(f"opened {opened}, outside the allowed roots")
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"{real} is not a regular file")
        if info.st_size > rules.max_bytes:
            raise FileRefused(f"{real}: {info.st_size:,} bytes > max_bytes "
                              f"{rules.max_bytes:,}")
        if info.st_size != size or info.st_mtime_ns != mtime_ns:
            raise FileRefused(f"{real} changed since `images sync` checked it (now "
                              f"{info.st_size:,} bytes, mtime {info.st_mtime_ns}; recorded "
                              f"{size:,} bytes, mtime {mtime_ns})")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_chunks(handle: BinaryIO, size: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
    """At most `size` bytes of `handle` (the recorded size: a file that grows while it
    is read is not read past it), in chunks; closes the handle at the end."""
    try:
        left = size
        while left > 0:
            data = handle.read(min(chunk, left))
            if not data:
                break
            left -= len(data)
            yield data
    finally:
        handle.close()


def read_recorded(path, size, mtime_ns, rules: FileRules) -> bytes:
    """The recorded file's bytes (`open_recorded`, then at most its recorded size)."""
    return b"".join(read_chunks(open_recorded(path, size, mtime_ns, rules), size or 0))


def _opened_path(fd: int) -> str | None:
    """The path the kernel opened for `fd` (Linux: /proc/self/fd); None elsewhere."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def media_type(image_format: str | None) -> str:
    """The Content-Type of a recorded format; application/octet-stream when unknown."""
    return MEDIA_TYPES.get((image_format or "").upper(), "application/octet-stream")


__all__: Sequence[str] = ("FileRefused", "FileRules", "MEDIA_TYPES", "media_type",
                          "open_recorded", "read_chunks", "read_recorded")
