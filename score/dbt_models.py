"""Generated dbt models for scores: one incremental model per configured scorer, the
long `scores` view (computed, imported and aesthetic-head scores side by side), and
the models built on it. Like embed/dbt_models.py: files in
dbt_project/models/scores/generated/ (not committed), logic in macros/scores.sql
and macros/score_views.sql.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from embed.config import Config
from embed.dbt_models import _HEADER, ensure_runs_table
from neurostock.dbt_runner import DBT_PROJECT_DIR
from score.aesthetic_heads import register_heads
from score.registry import ScorerInfo, ensure_scorers_table, upsert_scorer
from score.udfs import load_scorer, scorer_fingerprint

GENERATED_DIR = DBT_PROJECT_DIR / "models" / "scores" / "generated"

# What a computed scorer's summary score means, and its expected range.
_META = {
    "technical": ("sharper (variance of the Laplacian)", (0.0, None)),
    "phash": ("n/a: a perceptual hash (score_text)", (None, None)),
    "nsfw": ("more likely not safe for work", (0.0, 1.0)),
    "text_in_image": ("more of the image covered by text", (0.0, 1.0)),
}


def _incremental(scorer_id: str, fingerprint: str, after: str | None) -> str:
    depends = f"-- depends_on: {{{{ ref('{after}') }}}}\n" if after else ""
    return (
        _HEADER + depends
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


def _imported_tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "select table_name from duckdb_tables() where schema_name = 'imported' "
        "and table_name like 'scores\\_\\_%' escape '\\' order by 1"
    ).fetchall()
    return [r[0] for r in rows]


def _scores_view(computed: list[str], imported: list[str]) -> str:
    refs = ", ".join(f"'{model}'" for model in computed)
    tables = ", ".join(f"'{t}'" for t in imported)
    return (
        _HEADER + "{{ config(materialized='view', tags=['score']) }}\n"
        f"{{{{ scores_union([{refs}], [{tables}]) }}}}\n"
    )


def _schema_yaml(scorer_ids: list[str]) -> str:
    lines = [_HEADER.replace("--", "#"), "version: 2", "", "models:"]
    for scorer_id in scorer_ids:
        lines += [f"  - name: score__{scorer_id}",
                  f"    description: One row per ok image scored by {scorer_id}.",
                  "    columns:",
                  "      - name: image_id",
                  "        data_tests: [unique, not_null]"]
    lines += [
        "  - name: scores",
        "    description: One row per (image, scorer) with a numeric score (computed, imported, "
        "aesthetic heads).",
        "    columns:",
        "      - name: scorer_id",
        "        data_tests: [not_null]",
        "  - name: scorer_summary",
        "    description: One row per scorer id, its distribution, is_valid and invalid_reason.",
        "    columns:",
        "      - name: scorer_id",
        "        data_tests: [unique, not_null]",
        "  - name: score_percentiles",
        "    description: One row per (image, valid scorer), the score's rank percentile (0-1).",
        "  - name: aesthetic_head_applicability",
        "    description: One row per (aesthetic head, image embedder), applicable or why not.",
        "  - name: aesthetic_head_scores",
        "    description: One row per (image, applicable head x embedder).",
        "  - name: near_duplicate_pairs",
        "    description: One row per pair of images within the pHash Hamming distance.",
        "  - name: near_duplicate_groups",
        "    description: One row per image with a near-duplicate, its group and group size.",
        "    columns:",
        "      - name: image_id",
        "        data_tests: [unique]",
    ]
    return "\n".join(lines) + "\n"


def write_models(con: duckdb.DuckDBPyConnection, scorer_ids: list[tuple[str, str]],
                 directory: Path = GENERATED_DIR) -> None:
    """Model files for (scorer_id, fingerprint) pairs, the views; stale files removed."""
    files: dict[str, str] = {}
    previous = None
    for scorer_id, fingerprint in scorer_ids:
        name = f"score__{scorer_id}"
        files[f"{name}.sql"] = _incremental(scorer_id, fingerprint, previous)
        previous = name
    computed = [f"score__{s}" for s, _ in scorer_ids]
    files["scores.sql"] = _scores_view(computed, _imported_tables(con))
    for view in ("aesthetic_head_applicability", "aesthetic_head_scores", "scorer_summary",
                 "score_percentiles", "near_duplicate_pairs", "near_duplicate_groups"):
        materialized = "table" if view != "aesthetic_head_applicability" else "view"
        files[f"{view}.sql"] = (
            _HEADER + f"{{{{ config(materialized='{materialized}', tags=['score']) }}}}\n"
            f"{{{{ {view}({'true' if 'phash' in dict(scorer_ids) else 'false'}) }}}}\n"
            if view.startswith("near_duplicate") else
            _HEADER + f"{{{{ config(materialized='{materialized}', tags=['score']) }}}}\n"
            f"{{{{ {view}() }}}}\n"
        )
    files["_generated__models.yml"] = _schema_yaml([s for s, _ in scorer_ids])
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
    for stale in directory.iterdir():
        if stale.name not in files:
            stale.unlink()


def prepare(con: duckdb.DuckDBPyConnection, config: Config) -> list[ScorerInfo]:
    """Registry rows for the configured scorers and the heads; the generated models."""
    ensure_runs_table(con)
    ensure_scorers_table(con)
    register_heads(con)
    pairs, infos = [], []
    for scorer_id in config.scorers:
        scorer = load_scorer(scorer_id)
        fingerprint = scorer_fingerprint(scorer)
        higher_is, (low, high) = _META[scorer_id]
        info = ScorerInfo(
            scorer_id=scorer_id, kind="computed", source_file=None,
            source_sha256=getattr(scorer, "weights_sha256", None),
            version=getattr(scorer, "version", None), higher_is=higher_is,
            expected_min=low, expected_max=high, is_valid=True, invalid_reason=None,
            n_scored=0, description=f"computed in the warehouse by score/{scorer_id}",
        )
        upsert_scorer(con, info)
        pairs.append((scorer_id, fingerprint))
        infos.append(info)
    write_models(con, pairs)
    return infos
