"""dbt-duckdb plugin: DuckDB's extensions (offline), the step tables, and the embedding
and scoring UDFs on every dbt connection.

Named in dbt_project/profiles.yml (`plugins: - module: neurostock.dbt_plugin`).
"""

from __future__ import annotations

import atexit
from pathlib import Path

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from neurostock.core.meta import ensure_step_tables
from neurostock.core.warehouse import ensure_extensions

_FUNCTIONS = None  # one per dbt process: models are loaded once per run
_SCORE_FUNCTIONS = None


class Plugin(BasePlugin):
    """Installs sqlite_scanner and vss from their bundled files, loads vss, registers UDFs."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        ensure_extensions(conn)
        conn.execute("load vss")
        # The tables Python steps write and dbt reads as sources, created empty if
        # missing, so the committed project builds before any Python step has run.
        ensure_step_tables(conn)
        # Our steps print their own progress; DuckDB's bar would garble dbt's log.
        conn.execute("set enable_progress_bar = false")
        embedding_functions = _embedding_functions(conn)
        embedding_functions.register(conn)
        _score_functions(embedding_functions).register(conn)


def _embedding_functions(conn: DuckDBPyConnection):
    global _FUNCTIONS
    if _FUNCTIONS is None:
        from neurostock.compute.cache import ResumeCache
        from neurostock.core.config import load_config
        from neurostock.core.paths import connection_warehouse, resume_cache_file
        from neurostock.embed.udfs import EmbeddingFunctions

        # The config the CLI names in $NEUROSTOCK_CONFIG (none: no embedders).
        config = load_config()
        warehouse = connection_warehouse(conn)
        cache = ResumeCache(resume_cache_file(warehouse))
        # Closed at the run's end (its SQLite write-ahead log folded in and removed),
        # not left to the interpreter's teardown, which a fork server's run skips.
        atexit.register(cache.close)
        _FUNCTIONS = EmbeddingFunctions(config, cache)
        _take_ray_shards(warehouse, config, _FUNCTIONS.cache)
    return _FUNCTIONS


def _take_ray_shards(warehouse: Path, config, cache) -> None:
    """Copy what `neurostock embed|score --engine ray` finished into the resume cache,
    before any model runs: the UDFs then count those rows as done, not computed."""
    from neurostock.compute.shards import take_shards
    from neurostock.core.paths import shards_dir
    from neurostock.core.progress import say

    root = shards_dir(warehouse, config.ray.shards)
    taken = take_shards(root, cache)
    if taken.n_shards:
        say(f"ray shards: {taken.n_rows:,} results from {taken.n_shards:,} new shards "
            f"in {root} taken up")


def _score_functions(embedding_functions):
    global _SCORE_FUNCTIONS
    if _SCORE_FUNCTIONS is None:
        from neurostock.score.udfs import ScoreFunctions

        _SCORE_FUNCTIONS = ScoreFunctions(embedding_functions.scorer_ids,
                                          embedding_functions.cache,
                                          embedding_functions.decode_workers)
    return _SCORE_FUNCTIONS
