"""dbt-duckdb plugin: DuckDB's extensions (offline) and the embedding UDFs on every dbt connection.

Named in dbt_project/profiles.yml (`plugins: - module: neurostock.dbt_plugin`).
"""

from __future__ import annotations

from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from neurostock.warehouse import ensure_extensions

_FUNCTIONS = None  # one per dbt process: models are loaded once per run
_SCORE_FUNCTIONS = None


class Plugin(BasePlugin):
    """Installs sqlite_scanner and vss from their bundled files, loads vss, registers UDFs."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        ensure_extensions(conn)
        conn.execute("load vss")
        _ensure_step_tables(conn)
        # Our steps print their own progress; DuckDB's bar would garble dbt's log.
        conn.execute("set enable_progress_bar = false")
        embedding_functions = _embedding_functions(conn)
        embedding_functions.register(conn)
        _score_functions(embedding_functions).register(conn)


def _embedding_functions(conn: DuckDBPyConnection):
    global _FUNCTIONS
    if _FUNCTIONS is None:
        # dbt run by hand inside dbt_project/ finds the repository's neurostock.yml.
        import os

        from embed.cache import VectorCache, cache_path_for
        from embed.config import load_config
        from embed.udfs import EmbeddingFunctions
        from neurostock.dbt_runner import DBT_PROJECT_DIR

        explicit = None
        if "NEUROSTOCK_CONFIG" not in os.environ and Path.cwd() == DBT_PROJECT_DIR:
            candidate = DBT_PROJECT_DIR.parent / "neurostock.yml"
            explicit = candidate if candidate.is_file() else None
        config = load_config(explicit)
        path = conn.execute(
            "select path from duckdb_databases() where database_name = current_database()"
        ).fetchone()[0]
        warehouse = Path(path) if path else Path.cwd() / "memory.duckdb"
        _FUNCTIONS = EmbeddingFunctions(config, VectorCache(cache_path_for(warehouse)))
    return _FUNCTIONS


def _score_functions(embedding_functions):
    global _SCORE_FUNCTIONS
    if _SCORE_FUNCTIONS is None:
        from score.udfs import ScoreFunctions

        _SCORE_FUNCTIONS = ScoreFunctions(embedding_functions.scorer_ids,
                                          embedding_functions.cache)
    return _SCORE_FUNCTIONS


def _ensure_step_tables(conn: DuckDBPyConnection) -> None:
    """The tables Python steps write and dbt reads as sources, created empty if missing,
    so `dbt build` by hand works before any `neurostock build`."""
    from embed.dbt_models import ensure_runs_table
    from embed.image_files import ensure_images_table
    from embed.registry import ensure_registry
    from score.aesthetic_heads import ensure_heads_table
    from score.registry import ensure_scorers_table

    for ensure in (ensure_images_table, ensure_registry, ensure_runs_table,
                   ensure_scorers_table, ensure_heads_table):
        ensure(conn)
