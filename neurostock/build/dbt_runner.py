"""Running the committed dbt project against one warehouse.

Everything dbt reads or writes for a warehouse lives in that warehouse's own folder
`<warehouse>.dbt/` (never in the source tree, so two warehouses build at once from
one checkout, and an installed package needs no writable project):
  project/                  a copy of the committed dbt project, refreshed before every run
  project/models/generated/ the per-configuration models `prepare_project` writes
                            (one per embedder x kind, one per computed scorer)
  vars.json                 what the committed views need of them (ns_embedders, ns_scorers)
  target/, logs/            dbt's manifest, run results, compiled SQL, docs; dbt.log
A copy, not the committed folder plus an outside model path: dbt places compiled
files by each model's path inside the project, which an outside path breaks.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from neurostock.core.config import CONFIG_ENV, NO_CONFIG, Config, find_config
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import write_atomically
from neurostock.core.forkserver import run_dbt_child
from neurostock.core.meta import ensure_step_tables
from neurostock.core.paths import dbt_project_dir, dbt_work_dir
from neurostock.core.warehouse import WAREHOUSE_ENV, connect, resolve_warehouse

# Folders of the committed project the copy takes (dbt's own output never).
_PROJECT_PARTS = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests")
GENERATED = Path("models") / "generated"
# Set (to a reason) where no dbt may run: the test suite's fast tier sets it, so a test
# that runs dbt without the `slow` marker fails instead of slowing the tier down.
NO_DBT_ENV = "NEUROSTOCK_NO_DBT"
# The warehouse path profiles.yml gives dbt-duckdb, set by run_dbt.
DBT_PATH_ENV = "NEUROSTOCK_DBT_PATH"
# dbt subcommands that take --vars.
_TAKE_VARS = {"build", "run", "test", "compile", "docs", "parse", "ls", "list", "seed",
              "snapshot", "show", "run-operation", "source"}


def prepare_project(warehouse: str | os.PathLike | None, config: Config):
    """Registry rows, the generated model files and vars of `config` for this warehouse.

    Returns (embedder infos, scorer infos).
    """
    from neurostock.build.embedding_models import dbt_vars
    from neurostock.build.embedding_models import prepare as prepare_embeddings
    from neurostock.build.score_models import prepare as prepare_scores

    # The marketplace gate's policy with neurostock.yml's overrides (submit/policy.py),
    # checked before anything is written.
    from neurostock.submit.policy import configured_policy
    submission = configured_policy(config.submission).as_var()
    target = resolve_warehouse(warehouse)
    work = dbt_work_dir(target)
    with connect(target) as con:
        ensure_step_tables(con)
        embedders = prepare_embeddings(con, config, generated_dir(target) / "embeddings")
        scorers = prepare_scores(con, config, generated_dir(target) / "scores")
    generated_vars = {"ns_embedders": dbt_vars(embedders),
                      "ns_scorers": [s.scorer_id for s in scorers],
                      # Which unrated images the mart `pool` holds (neurostock.yml `pool:`).
                      **config.pool.dbt_vars()}
    generated_vars["ns_submission"] = submission
    write_atomically(work / "vars.json", json.dumps(generated_vars, indent=1).encode())
    return embedders, scorers


def run_dbt(args: Sequence[str], warehouse: str | os.PathLike | None = None,
            user_vars: str | None = None) -> None:
    """Run `dbt ARGS` on `warehouse` with the models and vars its last `prepare_project`
    wrote (none yet: the committed project alone); NeurostockError if dbt reports failure.

    `user_vars` (YAML, as dbt's --vars takes it; also taken from a `--vars` in ARGS) is
    merged over the generated vars. dbt runs in a child process: dbt-duckdb keeps its
    DuckDB connection open for the life of the process, which would lock this process
    out of the file; the child ends when this process ends, however it ends, and holds
    the writer lock with it until then (neurostock.core.children). dbt prints its own
    per-node results; the error here is the one-line summary.
    """
    if os.environ.get(NO_DBT_ENV):
        raise NeurostockError(f"dbt may not run here ({NO_DBT_ENV}: {os.environ[NO_DBT_ENV]})")
    target = resolve_warehouse(warehouse)
    if not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    work = dbt_work_dir(target)
    project = sync_project_copy(target)
    args = list(args)
    if "--vars" in args:
        at = args.index("--vars")
        if at + 1 >= len(args):
            raise NeurostockError("dbt --vars needs a value")
        user_vars = args[at + 1]
        del args[at:at + 2]
    merged = _generated_vars(work)
    merged.update(_parse_vars(user_vars))
    vars_args = ["--vars", json.dumps(merged)] if args and args[0] in _TAKE_VARS and merged \
        else []
    colour = [] if sys.stdout.isatty() else ["--no-use-colors"]
    command = [
        *colour, *args, *vars_args,
        "--project-dir", str(project),
        "--profiles-dir", str(project),
    ]
    config = find_config()
    env = {
        **os.environ,
        # profiles.yml reads the warehouse path from the environment, so a user running
        # dbt by hand and this function build the same file.
        WAREHOUSE_ENV: str(target),
        # What profiles.yml opens: the same file, relative to the folder dbt runs in.
        DBT_PATH_ENV: os.path.relpath(target, work),
        CONFIG_ENV: str(config or NO_CONFIG),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    work.mkdir(parents=True, exist_ok=True)
    # A child that dies with this command and holds its writer lock with it, forked
    # from a process that has imported dbt already (neurostock.core.forkserver): a
    # killed build leaves no dbt writing.
    returncode = run_dbt_child(command, env=env, cwd=work)
    if returncode != 0:
        failed = _failed_nodes(work / "target" / "run_results.json")
        detail = f": {', '.join(failed[:5])}" if failed else ""
        more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
        raise NeurostockError(
            f"dbt {' '.join(args)} failed{detail}{more} (exit {returncode}; "
            "details above)"
        )


def project_copy_dir(warehouse: Path) -> Path:
    """The warehouse's copy of the dbt project."""
    return dbt_work_dir(warehouse) / "project"


def generated_dir(warehouse: Path) -> Path:
    """Where the warehouse's generated models live (inside its project copy)."""
    return project_copy_dir(warehouse) / GENERATED


def sync_project_copy(warehouse: Path) -> Path:
    """Make the warehouse's project copy equal the committed project (plus its generated
    models); only changed files are rewritten, so dbt's partial parsing stays valid."""
    source = dbt_project_dir()
    copy = project_copy_dir(warehouse)
    wanted: dict[Path, Path] = {}
    for part in _PROJECT_PARTS:
        path = source / part
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            if "__pycache__" not in file.parts:
                wanted[file.relative_to(source)] = file
    for relative, file in wanted.items():
        destination = copy / relative
        payload = file.read_bytes()
        if not destination.is_file() or destination.read_bytes() != payload:
            destination.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(destination, payload)
    if copy.exists():
        for stale in sorted(copy.rglob("*"), reverse=True):
            relative = stale.relative_to(copy)
            if relative.parts[:2] == GENERATED.parts or relative in wanted:
                continue
            if stale.is_file():
                stale.unlink()
            elif stale.is_dir() and not any(stale.iterdir()):
                stale.rmdir()
    return copy


def docs_target(warehouse: str | os.PathLike | None) -> Path:
    """Where `dbt docs generate --static` leaves its page for this warehouse."""
    return dbt_work_dir(resolve_warehouse(warehouse)) / "target" / "static_index.html"


def _generated_vars(work: Path) -> dict:
    try:
        return json.loads((work / "vars.json").read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise NeurostockError(f"{work / 'vars.json'} is not valid JSON ({exc}): run "
                              "`neurostock build` to write it again") from exc


def _parse_vars(text: str | None) -> dict:
    if not text:
        return {}
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise NeurostockError(f"--vars is not valid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(value, dict):
        raise NeurostockError(f"--vars must be a mapping such as '{{big_set_size: 2000}}', "
                              f"not {text!r}")
    return value


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
