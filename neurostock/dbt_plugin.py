"""dbt-duckdb plugin: every dbt connection gets DuckDB's extensions without the internet.

Named in dbt_project/profiles.yml (`plugins: - module: neurostock.dbt_plugin`).
"""

from __future__ import annotations

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from neurostock.warehouse import ensure_extensions


class Plugin(BasePlugin):
    """Installs sqlite_scanner and vss from their bundled files, then loads vss."""

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        ensure_extensions(conn)
        conn.execute("load vss")
