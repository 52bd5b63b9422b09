"""What each embedder is, recorded without loading it: the `meta.embedding_models` table."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.meta import ensure_embedding_models_table


@dataclass(frozen=True)
class EmbedderInfo:
    """One registry row. `fingerprint` changes whenever the vectors would."""

    embedder_id: str
    library: str
    library_version: str | None
    model: str
    pretrained: str | None
    weights_path: str | None
    weights_sha256: str | None
    quick_gelu: bool | None
    preprocessing: str | None
    dim: int
    kinds: tuple[str, ...]
    is_random_init: bool
    is_imported: bool
    fingerprint: str


def ensure_registry(con: duckdb.DuckDBPyConnection) -> None:
    ensure_embedding_models_table(con)


def upsert(con: duckdb.DuckDBPyConnection, info: EmbedderInfo) -> None:
    """Insert or replace the registry row of `info.embedder_id`."""
    ensure_registry(con)
    row = asdict(info)
    row["kinds"] = list(info.kinds)
    columns = ", ".join(row)
    con.execute(
        f"insert or replace into meta.embedding_models ({columns}, registered_at) "
        f"values ({', '.join('?' * len(row))}, current_timestamp)",
        list(row.values()),
    )


def fingerprint(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime) within the process."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while chunk := fh.read(8 << 20):
                h.update(chunk)
        _SHA_MEMO[key] = h.hexdigest()
    return _SHA_MEMO[key]


def describe(cfg: EmbedderConfig) -> EmbedderInfo:
    """The registry row for a configured embedder, found without loading its weights."""
    if cfg.library == "open_clip":
        from embed.open_clip_embedder import describe_open_clip

        return describe_open_clip(cfg)
    from embed.sentence_embedder import describe_sentence_model

    return describe_sentence_model(cfg)


def offline_hub() -> None:
    """Make Hugging Face libraries look only at local files, unless downloads are allowed.

    These machines have no internet; a hub lookup would fail slowly or obscurely.
    """
    if os.environ.get("NEUROSTOCK_ALLOW_DOWNLOADS") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def missing_weights(cfg: EmbedderConfig, looked: str) -> NeurostockError:
    return NeurostockError(
        f"embedder {cfg.id}: no weights for {cfg.library} model {cfg.model!r} "
        f"pretrained={cfg.pretrained!r} (looked in {looked}); fetch them where there is "
        "internet (or set NEUROSTOCK_ALLOW_DOWNLOADS=1) and set `pretrained:` in "
        "neurostock.yml to the local checkpoint file"
    )
