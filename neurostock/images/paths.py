"""Where image files may be read from: path maps (server prefix -> local mount), the
base folder of relative paths, the allowed roots, and the check that a resolved path
lies inside one of them.

A source path is resolved in this order: the first map whose prefix it starts with
rewrites it (a relative map target is relative to the current folder, as typed); a path
no map rewrote that is relative (`images/1.jpg`, `../../etc/passwd`) is taken relative to
the base folder: `images: {base: DIR}` of neurostock.yml, else the folder of the
ingested source file (meta.loads.source_path). So one build gives the same files from
any working folder. The allowed roots are checked on the real path after that.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from neurostock.core.errors import NeurostockError


@dataclass(frozen=True)
class PathMap:
    """Replace a leading `source_prefix` of an image path with `target_prefix`.

    Prefixes match whole path components: `/media/s1` maps `/media/s1/x.jpg`
    but not `/media/s10/x.jpg`.
    """

    source_prefix: str
    target_prefix: str

    @classmethod
    def parse(cls, text: str) -> PathMap:
        """`FROM=TO` as a PathMap (split at the first `=`); NeurostockError for anything else."""
        source, sep, target = (text or "").partition("=")
        if not sep or not source or not target:
            raise NeurostockError(
                f"bad path map {text!r}: expected FROM=TO, "
                "e.g. /media/s1/dataset/neurostocker=/mnt/neurostocker"
            )
        return cls(source, target)

    def apply(self, path: str) -> str | None:
        """`path` with the prefix replaced, or None when the prefix does not match."""
        source = self.source_prefix.rstrip("/")
        if source == "":  # the map's source is "/": every absolute path matches
            if not path.startswith("/"):
                return None
            rest = path
        elif path == source:
            rest = ""
        elif path.startswith(source + "/"):
            rest = path[len(source):]
        else:
            return None
        mapped = self.target_prefix.rstrip("/") + rest
        return mapped or self.target_prefix


def resolve_path(img_path: str, maps: Sequence[PathMap], base: str | None = None) -> str:
    """`img_path` rewritten by the first map whose prefix it starts with (a relative
    target is taken relative to the current folder, where it was typed, as the allowed
    roots take it); a path no map rewrote that is relative is joined to `base` (left
    relative when there is no base: the checks then call it `missing`, never read it
    from the current folder)."""
    for path_map in maps:
        mapped = path_map.apply(img_path)
        if mapped is not None:
            return mapped if os.path.isabs(mapped) else os.path.abspath(mapped)
    if base and not os.path.isabs(img_path):
        return os.path.join(base, img_path)
    return img_path


def source_folder(con: duckdb.DuckDBPyConnection) -> str | None:
    """The folder of the last ingested source file (meta.loads), or None before the first."""
    try:
        last = con.execute(
            "select source_path from meta.loads order by load_id desc limit 1"
        ).fetchone()
    except duckdb.CatalogException:
        return None
    return str(Path(last[0]).parent) if last and last[0] else None


def image_base(con: duckdb.DuckDBPyConnection, configured: str | Path | None) -> str | None:
    """The absolute folder relative image paths start at: `configured` (images.base),
    else the source file's folder; None when neither is known. NeurostockError when the
    configured one is not a folder."""
    if configured is not None:
        folder = os.path.abspath(os.path.expanduser(str(configured)))
        if not os.path.isdir(folder):
            raise NeurostockError(f"images base {folder} is not a folder: set images.base in "
                                  "neurostock.yml to the folder relative image paths start at")
        return folder
    return source_folder(con)


def is_inside(real_path: str, roots: Sequence[str]) -> bool:
    """True when `real_path` is one of `roots` or lies below one (both already realpath'd)."""
    for root in roots:
        prefix = root if root.endswith(os.sep) else root + os.sep
        if real_path == root or real_path.startswith(prefix):
            return True
    return False


def allowed_roots(
    con: duckdb.DuckDBPyConnection, roots: Sequence[str | Path], maps: Sequence[PathMap],
    base: str | None = None,
) -> tuple[str, ...]:
    """Real paths of the folders images may be read from: `roots`, else the maps' targets,
    else the base folder (`base`, the configured images.base), else the folder of the
    last ingested source file (the sample writes images there). NeurostockError when
    there is none of these."""
    chosen = [str(root) for root in roots] or [m.target_prefix for m in maps]
    if not chosen:
        folder = base or source_folder(con)
        if folder is None:
            raise NeurostockError(
                "no folder to read images from: give roots or path maps, "
                "or run `neurostock ingest` first"
            )
        chosen = [folder]
    return tuple(os.path.realpath(os.path.expanduser(root)) for root in chosen)
