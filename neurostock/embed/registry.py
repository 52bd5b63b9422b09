"""What each embedder is, recorded without loading it: the `meta.embedding_models` table.

Which library describes an embedder is embed/backends.py's business; this module only
holds the row and writes it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import duckdb

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
