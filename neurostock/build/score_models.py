"""Per-warehouse dbt models of the configured computed scorers: one incremental model
per scorer, written like the embedders' (neurostock/build/embedding_models.py) into
`<warehouse>.dbt/project/models/generated/scores/`; the logic is in the committed
macros/scores.sql and the committed `scores` view unions them by the var `ns_scorers`.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from neurostock.build.generated import HEADER, write_folder
from neurostock.core.config import Config
from neurostock.core.meta import ensure_runs_table
from neurostock.core.scorers import ScorerInfo, ensure_scorers_table, upsert_scorer
from neurostock.score.aesthetic_heads import register_heads
from neurostock.score.catalog import scorer_entry
from neurostock.score.udfs import scorer_fingerprint


def _incremental(scorer_id: str, fingerprint: str, after: str | None) -> str:
    depends = f"-- depends_on: {{{{ ref('{after}') }}}}\n" if after else ""
    return (
        HEADER + depends
        + "{{ config(\n"
        "    materialized='incremental',\n"
        "    unique_key='image_id',\n"
        "    incremental_strategy='delete+insert',\n"
        "    on_schema_change='fail',\n"
        "    tags=['score'],\n"
        # DuckDB runs a Python UDF on a worker thread while the calling thread
        # busy-waits, taking a core from the model; with one thread the UDF runs
        # on the calling thread (measured: 0.55x -> ~1x of a bare open_clip loop).
        "    pre_hook=\"set threads = 1\",\n"
        f"    post_hook=[\"{{{{ record_score_run('{scorer_id}') }}}}\", \"reset threads\"],\n"
        ") }}\n"
        f"{{{{ score_model('{scorer_id}', '{fingerprint}') }}}}\n"
    )


def _schema_yaml(scorer_ids: list[str]) -> str:
    lines = [HEADER.replace("--", "#"), "version: 2", "", "models:"]
    for scorer_id in scorer_ids:
        lines += [f"  - name: score__{scorer_id}",
                  f"    description: One row per ok image scored by {scorer_id}.",
                  "    columns:",
                  "      - name: image_id",
                  "        data_tests: [unique, not_null]"]
    if not scorer_ids:
        lines[-1] = "models: []"
    return "\n".join(lines) + "\n"


def write_models(scorer_ids: list[tuple[str, str]], directory: Path) -> None:
    """Model files for (scorer_id, fingerprint) pairs in `directory`; stale files removed."""
    files: dict[str, str] = {}
    previous = None
    for scorer_id, fingerprint in scorer_ids:
        name = f"score__{scorer_id}"
        files[f"{name}.sql"] = _incremental(scorer_id, fingerprint, previous)
        previous = name
    files["_scorers__models.yml"] = _schema_yaml([s for s, _ in scorer_ids])
    write_folder(directory, files)


def prepare(con: duckdb.DuckDBPyConnection, config: Config,
            directory: Path) -> list[ScorerInfo]:
    """Registry rows for the configured scorers and the heads; the generated models."""
    ensure_runs_table(con)
    ensure_scorers_table(con)
    register_heads(con)
    pairs, infos = [], []
    for scorer_id in config.scorers:
        entry = scorer_entry(scorer_id)
        scorer = entry.load()
        fingerprint = scorer_fingerprint(scorer)
        info = ScorerInfo(
            scorer_id=scorer_id, kind="computed", source_file=None,
            source_sha256=getattr(scorer, "weights_sha256", None),
            version=getattr(scorer, "version", None), higher_is=entry.higher_is,
            expected_min=entry.expected_min, expected_max=entry.expected_max, is_valid=True,
            invalid_reason=None, n_scored=0,
            description=f"computed in the warehouse by score/{scorer_id}",
        )
        upsert_scorer(con, info)
        pairs.append((scorer_id, fingerprint))
        infos.append(info)
    write_models(pairs, directory)
    return infos
