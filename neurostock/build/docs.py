"""dbt's own documentation of one warehouse, for the report (which only copies it)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from neurostock.build.dbt_runner import docs_target, generated_dir, run_dbt
from neurostock.core.errors import NeurostockError
from neurostock.core.paths import dbt_project_dir
from neurostock.core.warehouse import resolve_warehouse


class DbtDocs:
    """`dbt docs generate --static` for a warehouse, keyed by what it describes."""

    def __init__(self, warehouse: str | os.PathLike | None):
        self.warehouse = resolve_warehouse(warehouse)

    def fingerprint(self, con: duckdb.DuckDBPyConnection) -> str:
        """Changes when the dbt project, the generated models or the columns change."""
        digest = hashlib.sha256()
        project = dbt_project_dir()
        roots = [(project, ("models", "macros", "seeds", "tests")),
                 (generated_dir(self.warehouse), (".",))]
        for root, folders in roots:
            for folder in folders:
                for path in sorted((root / folder).rglob("*")):
                    if path.is_file():
                        digest.update(str(path.relative_to(root)).encode())
                        digest.update(path.read_bytes())
        digest.update((project / "dbt_project.yml").read_bytes())
        for row in con.execute("select table_schema, table_name, column_name, data_type "
                               "from information_schema.columns order by all").fetchall():
            digest.update(repr(row).encode())
        return digest.hexdigest()

    def generate(self) -> Path:
        """Run dbt docs; returns the one static page it wrote."""
        run_dbt(["docs", "generate", "--static", "--quiet"], self.warehouse)
        page = docs_target(self.warehouse)
        if not page.exists():
            raise NeurostockError(f"dbt docs generate --static wrote no {page}")
        return page
