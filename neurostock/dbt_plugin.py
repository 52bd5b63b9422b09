"""dbt-duckdb plugin: DuckDB's extensions (offline) and the embedding UDFs on every dbt connection.

Named in dbt_project/profiles.yml (`plugins: - module: neurostock.dbt_plugin`).
"""

from __future__ import annotations

from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from neurostock.warehouse import ensure_extensions

_FUNCTIONS = None  # one per dbt process: models are loaded once per run


class Plugin(BasePlugin):
    """Installs sqlite_scanner and vss from their bundled files, loads vss, registers UDFs."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        ensure_extensions(conn)
        conn.execute("load vss")
        # Our steps print their own progress; DuckDB's bar would garble dbt's log.
        conn.execute("set enable_progress_bar = false")
        _embedding_functions(conn).register(conn)


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
