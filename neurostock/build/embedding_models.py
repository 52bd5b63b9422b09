"""Per-warehouse dbt models of the configured embedders: one incremental model per
(kind, embedder).

A column's FLOAT[dim] type is fixed per table, and dbt models are files, so each
configured embedder gets small model files (the logic lives in the committed
macros/embeddings.sql) written from neurostock.yml into the warehouse's own dbt
folder (`<warehouse>.dbt/project/models/generated/embeddings/`), never into the
source tree. The long
views (image_embeddings, …) are committed models that union them by the var
`ns_embedders` (see `dbt_vars`).
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from neurostock.build.generated import HEADER, write_folder
from neurostock.core.config import Config
from neurostock.core.meta import ensure_runs_table
from neurostock.embed.backends import describe
from neurostock.embed.registry import EmbedderInfo, ensure_registry, upsert
from neurostock.embed.tables import KEYS, model_name


def _incremental_model(kind: str, info: EmbedderInfo, after: str | None) -> str:
    # One embedding model at a time: two running side by side (dbt threads)
    # would split the cores between two models and slow both.
    depends = f"-- depends_on: {{{{ ref('{after}') }}}}\n" if after else ""
    return (
        HEADER
        + depends
        + "{{ config(\n"
        "    materialized='incremental',\n"
        f"    unique_key='{KEYS[kind]}',\n"
        "    incremental_strategy='delete+insert',\n"
        "    on_schema_change='fail',\n"
        "    tags=['embedding'],\n"
        # DuckDB runs a Python UDF on a worker thread while the calling thread
        # busy-waits, taking a core from the model; with one thread the UDF runs
        # on the calling thread (measured: 0.55x -> ~1x of a bare open_clip loop).
        "    pre_hook=\"set threads = 1\",\n"
        f"    post_hook=[\"{{{{ record_embedding_run('{kind}', '{info.embedder_id}') }}}}\",\n"
        "               \"reset threads\"],\n"
        ") }}\n"
        f"{{{{ embed_model('{kind}', '{info.embedder_id}', {info.dim}, '{info.fingerprint}') }}}}\n"
    )


def _schema_yaml(infos: list[EmbedderInfo]) -> str:
    lines = [HEADER.replace("--", "#"), "version: 2", "", "models:"]
    for info in infos:
        for kind in info.kinds:
            lines += [
                f"  - name: {model_name(kind, info.embedder_id)}",
                f"    description: One row per {kind} {KEYS[kind]} embedded by "
                f"{info.embedder_id} ({info.library} {info.model}, {info.dim}-d"
                f"{', RANDOM WEIGHTS' if info.is_random_init else ''}).",
                "    columns:",
                f"      - name: {KEYS[kind]}",
                "        data_tests: [unique, not_null]",
                "      - name: embedding",
                "        data_tests: [unit_length]",
            ]
    if not infos:
        lines[-1] = "models: []"
    return "\n".join(lines) + "\n"


def write_models(infos: list[EmbedderInfo], directory: Path) -> list[Path]:
    """Write the model files into `directory`; remove stale ones. Returns the files written."""
    files: dict[str, str] = {}
    previous = None
    for info in infos:
        for kind in info.kinds:
            name = model_name(kind, info.embedder_id)
            files[f"{name}.sql"] = _incremental_model(kind, info, previous)
            previous = name
    files["_embedders__models.yml"] = _schema_yaml(infos)
    return write_folder(directory, files)


def dbt_vars(infos: list[EmbedderInfo]) -> list[dict]:
    """The var `ns_embedders`: what the committed union views need of each embedder."""
    return [{"id": i.embedder_id, "kinds": list(i.kinds), "dim": i.dim} for i in infos]


def prepare(con: duckdb.DuckDBPyConnection, config: Config,
            directory: Path) -> list[EmbedderInfo]:
    """Registry rows for every configured embedder, the run log table, and the model files."""
    ensure_runs_table(con)
    ensure_registry(con)
    infos = [describe(cfg) for cfg in config.embedders]
    for info in infos:
        upsert(con, info)
    write_models(infos, directory)
    return infos
