"""Running the committed dbt project against a chosen warehouse file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from neurostock.errors import NeurostockError
from neurostock.warehouse import WAREHOUSE_ENV, resolve_warehouse

DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


def prepare_project(warehouse: str | os.PathLike | None = None, config=None):
    """Registry rows and generated model files for `config` (default: the config in
    effect), so dbt's generated models always match the config of this run.

    Returns (embedder infos, scorer infos).
    """
    from embed.config import load_config
    from embed.dbt_models import prepare as prepare_embeddings
    from embed.image_files import ensure_images_table
    from neurostock.warehouse import connect
    from score.dbt_models import prepare as prepare_scores

    config = config if config is not None else load_config()
    with connect(warehouse) as con:
        ensure_images_table(con)
        return prepare_embeddings(con, config), prepare_scores(con, config)


def run_dbt(args: Sequence[str], warehouse: str | os.PathLike | None = None,
            prepared: bool = False) -> None:
    """Run `dbt ARGS` in dbt_project/ on `warehouse`; NeurostockError if dbt reports failure.

    dbt runs in a child process: dbt-duckdb keeps its DuckDB connection open for
    the life of the process, which would lock this process out of the file.
    dbt prints its own per-node results; the error here is the one-line summary.
    """
    if not (DBT_PROJECT_DIR / "dbt_project.yml").exists():
        raise NeurostockError(f"dbt project not found at {DBT_PROJECT_DIR}")
    target = resolve_warehouse(warehouse)
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    if not prepared:
        prepare_project(target)
    colour = [] if sys.stdout.isatty() else ["--no-use-colors"]
    command = [
        sys.executable, "-c", "from dbt.cli.main import cli; cli()",
        *colour, *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
    ]
    # profiles.yml reads the warehouse path from the environment, so a user
    # running dbt by hand and this function build the same file.
    from embed.config import CONFIG_ENV, NO_CONFIG, find_config

    config = find_config()
    env = {**os.environ, WAREHOUSE_ENV: str(target), CONFIG_ENV: str(config or NO_CONFIG)}
    completed = subprocess.run(command, env=env, cwd=DBT_PROJECT_DIR, check=False)
    if completed.returncode != 0:
        failed = _failed_nodes(DBT_PROJECT_DIR / "target" / "run_results.json")
        detail = f": {', '.join(failed[:5])}" if failed else ""
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise NeurostockError(
            f"dbt {' '.join(args)} failed{detail}{more} (exit {completed.returncode}; "
            "details above)"
        )


def _failed_nodes(run_results: Path) -> list[str]:
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    # unique_id is "<type>.<project>.<name>[.<hash>]" (tests carry a hash).
    return [
        r["unique_id"].split(".")[2]
        for r in results
        if r.get("status") in {"error", "fail", "runtime error"}
    ]
