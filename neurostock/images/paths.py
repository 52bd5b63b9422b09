"""Where image files may be read from: path maps (server prefix -> local mount), the
allowed roots, and the check that a resolved path lies inside one of them."""

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


def resolve_path(img_path: str, maps: Sequence[PathMap]) -> str:
    """`img_path` rewritten by the first map whose prefix it starts with (unchanged if none)."""
    for path_map in maps:
        mapped = path_map.apply(img_path)
        if mapped is not None:
            return mapped
    return img_path


def is_inside(real_path: str, roots: Sequence[str]) -> bool:
    """True when `real_path` is one of `roots` or lies below one (both already realpath'd)."""
    for root in roots:
        prefix = root if root.endswith(os.sep) else root + os.sep
        if real_path == root or real_path.startswith(prefix):
            return True
    return False


def allowed_roots(
    con: duckdb.DuckDBPyConnection, roots: Sequence[str | Path], maps: Sequence[PathMap]
) -> tuple[str, ...]:
    """Real paths of the folders images may be read from: `roots`, else the maps' targets,
    else the folder of the last ingested source file (the sample writes images there).
    NeurostockError when there is none of the three."""
    chosen = [str(root) for root in roots] or [m.target_prefix for m in maps]
    if not chosen:
        try:
            last = con.execute(
                "select source_path from meta.loads order by load_id desc limit 1"
            ).fetchone()
        except duckdb.CatalogException:
            last = None
        if last is None or not last[0]:
            raise NeurostockError(
                "no folder to read images from: give roots or path maps, "
                "or run `neurostock ingest` first"
            )
        chosen = [str(Path(last[0]).parent)]
    return tuple(os.path.realpath(os.path.expanduser(root)) for root in chosen)
