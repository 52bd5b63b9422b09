"""Shared fixtures: real SQLite sources and real DuckDB warehouses in tmp_path."""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from tests.source_builder import image_row, make_source

# Tests never pick up the repository's demo neurostock.yml (pytest runs in the
# repository root): no config unless a test names one.
os.environ.setdefault("NEUROSTOCK_CONFIG", "none")
# dbt runs models on one thread in the tests (profiles.yml reads NEUROSTOCK_DBT_THREADS):
# the suite's two workers already share the two cores, where a second dbt thread mostly
# contends for the GIL (a 200-row build: 18.4 CPU-s on one thread, 19.0-20.5 on two).
# The test of the two-thread race asks for two threads itself.
os.environ.setdefault("NEUROSTOCK_DBT_THREADS", "1")
# dbt writes no <warehouse>.dbt/logs/dbt.log in the tests (its default file log is at
# debug level: every statement, ~0.9 CPU-s of a ~10 s dbt run); its output on stdout,
# which the tests read, is unchanged. A user's dbt runs keep the file log.
os.environ.setdefault("DBT_LOG_LEVEL_FILE", "none")
# numpy's OpenBLAS starts no thread pool: the two workers already share the two cores,
# and the dbt fork server may preload torch (below) only where its import starts none.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The modules that take longest, longest first (seconds of one run on 2 cores, from
# `pytest --durations`; an unlisted module counts as short). pytest-xdist hands whole
# modules (--dist loadfile) to its workers in collection order (--no-loadscope-reorder,
# scripts/test.sh): long ones first leaves short ones to even out the end, instead of
# one worker running a long module alone while the other has finished.
LONGEST_FIRST = (
    "test_embeddings", "test_learned", "test_scores_build", "test_real_learned",
    "test_submission", "test_rate", "test_hostile_processes", "test_concurrency",
    "test_analysis", "test_report", "test_pool", "test_real_agreement", "test_team_files",
    "test_ray_engine", "test_real_decision", "test_hostile", "test_warehouse_build",
    "test_decision", "test_pool_consumers", "test_dbt_project", "test_near_duplicates",
    "test_score_image_list", "test_packaging", "test_hostile_ingest", "test_hostile_paths",
    "test_prompt_cleaning", "test_forkserver",
)

# dbt's resource types a build leaves out outside the modules marked `data_tests`
# (_module_data_tests below): dbt reads this variable as its --exclude-resource-type.
_EXCLUDE_TYPES_ENV = "DBT_EXCLUDE_RESOURCE_TYPES"


def pytest_configure(config):
    # The fast tier (-m "not slow") runs no dbt: a test that does, unmarked, fails on
    # its first dbt run with this reason instead of slowing the tier down.
    if "not slow" in (config.option.markexpr or ""):
        os.environ["NEUROSTOCK_NO_DBT"] = (
            "the fast tier runs no dbt: mark this test @pytest.mark.slow")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    # A stable sort: a module's tests keep their order.
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))


# Where a dbt parse made for one warehouse waits for the next warehouse with the same
# vars (_shared_dbt_work below); the project folder in it is this token.
_PROJECT_TOKEN = "@neurostock-project@"


@pytest.fixture(autouse=True, scope="session")
def _shared_dbt_work(tmp_path_factory):
    """dbt parses the project in full (~4 s) in every new warehouse: its saved parse
    (target/partial_parse.msgpack) lives in the warehouse's folder. The workers make
    ~40 new warehouses of 27 sets of dbt vars (7 Dec 2026), so a fresh warehouse starts from
    the parse of an earlier one with the same vars (shared by the workers; its project
    folder rewritten), and dbt's own partial parsing checks it: the vars, the profile,
    the dbt version and every file's checksum, reparsing what differs. dbt runs in
    full either way; only the parse is shared. A user's warehouse parses once, then
    partially on every later run, which is what a test then sees too.

    And each worker's dbt fork server imports torch and transformers once, before its
    first fork, instead of every dbt run that embeds importing them again."""
    import msgpack

    from neurostock.build import dbt_runner
    from neurostock.core import forkserver

    base = tmp_path_factory.getbasetemp()
    # Under pytest-xdist each worker's base is a folder of the run's: share the run's.
    cache = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "dbt-parse"
    cache.mkdir(exist_ok=True)
    original = dbt_runner.run_dbt_child

    def rewrite(payload: bytes, old: str, new: str) -> bytes:
        manifest = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        # The project folder is a whole string, in each file's project_root and each
        # seed's root_path.
        for file in manifest["files"].values():
            if file.get("project_root") == old:
                file["project_root"] = new
        for node in manifest["nodes"].values():
            if node.get("root_path") == old:
                node["root_path"] = new
        return msgpack.packb(manifest, use_bin_type=True)

    def run_dbt_child(args, *, env, cwd):
        work = Path(cwd)
        saved = work / "target" / "partial_parse.msgpack"
        project = str(work / "project")
        vars_at = args.index("--vars") + 1 if "--vars" in args else None
        key = hashlib.sha256("\0".join([
            args[vars_at] if vars_at else "", env.get(dbt_runner.DBT_PATH_ENV, "")
        ]).encode()).hexdigest()[:20]
        shared = cache / f"{key}.msgpack"
        if not saved.exists() and shared.is_file():
            saved.parent.mkdir(parents=True, exist_ok=True)
            saved.write_bytes(rewrite(shared.read_bytes(), _PROJECT_TOKEN, project))
        returncode = original(args, env=env, cwd=cwd)
        if returncode == 0 and saved.is_file() and not shared.is_file():
            partial = shared.with_name(f"{shared.name}.{os.getpid()}")
            partial.write_bytes(rewrite(saved.read_bytes(), project, _PROJECT_TOKEN))
            os.replace(partial, shared)
        return returncode

    dbt_runner.run_dbt_child = run_dbt_child
    # A worker builds dozens of warehouses: its fork server imports torch and
    # transformers once, not each dbt run that embeds (neurostock.core.forkserver).
    forkserver.preload_model_libraries(forkserver.PRELOADABLE)
    yield
    forkserver.preload_model_libraries(())
    dbt_runner.run_dbt_child = original


@pytest.fixture(autouse=True, scope="module")
def _module_data_tests(request):
    """dbt's data and unit tests run in the builds of the module-scoped fixtures of the
    modules that test the warehouse itself, marked `data_tests` (test_warehouse_build,
    test_embeddings, test_scores_build, test_submission, test_team_files,
    test_hostile_ingest): every data and unit test, on every configuration the other
    modules use (each embedder kind, each scorer, the learned models, the gate); and in
    the builds of the tests marked `data_tests` themselves (a build after a changed
    file, new generations, app ratings or a new import, another configuration; a
    `dbt test`, which would otherwise run nothing): _test_data_tests below.
    The other builds are made to be read or raced, and leave them out: they are about
    40% of a small build's time (70% of its dbt nodes)."""
    with data_tests(request.node.get_closest_marker("data_tests") is not None):
        yield


@pytest.fixture(autouse=True)
def _test_data_tests(request):
    """A test's own builds (in its body or its function-scoped fixtures) run dbt's data
    and unit tests only where the test itself is marked `data_tests`: a marked module's
    warehouses (its module-scoped fixtures, built before this fixture applies) are
    tested on every configuration, and a rebuild in one of its tests is tested where
    the test says so (a changed file, a new import, another configuration). The unit
    tests read fixed inputs, and a rebuild's rows are the fixture's rows plus what the
    test changed: run in each of the ~20 rebuilds of those modules' tests they cost
    ~3 s a dbt run and told nothing new (8 Dec 2026)."""
    own = any(marker.name == "data_tests" for marker in request.node.own_markers)
    with data_tests(own):
        yield


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_source(tmp_path: Path) -> Path:
    """Five images, six ratings (one of them of the wrong kind: rating 'x')."""
    images = [image_row(i) for i in range(1, 6)]
    ratings = [
        (3, "2022-10-23T14:11:21.750878+03:00", 1, 1),
        (2, "2022-10-23T15:00:00+03:00", 1, 2),
        (5, "2022-10-23T15:01:00+03:00", 2, 3),
        (4, "2022-10-24T09:00:00+00:00", 1, 4),
        (4, "2022-10-24T09:00:00+00:00", 1, 4),
        ("x", "2022-10-24T09:00:00+00:00", 2, 5),
    ]
    return make_source(tmp_path / "core.download.db", images, ratings)


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "wh" / "warehouse.duckdb"


def run_cli(warehouse: Path, config: Path | str, *args: str) -> int:
    """`neurostock --warehouse W --config C ARGS`, leaving $NEUROSTOCK_CONFIG as it was
    (the CLI sets it for its dbt child)."""
    from neurostock.cli import main
    from neurostock.core.config import CONFIG_ENV

    previous = os.environ.get(CONFIG_ENV)
    try:
        return main(["--warehouse", str(warehouse), "--config", str(config), *args])
    finally:
        if previous is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = previous


def copy_warehouse(warehouse: Path, copy: Path) -> Path:
    """Copy a warehouse file with its own dbt folder (<warehouse>.dbt/: the generated
    models and vars `neurostock dbt` runs with). Keep the file name: dbt's views name
    their catalog after it."""
    import shutil

    from neurostock.core.paths import dbt_work_dir

    copy.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(warehouse, copy)
    if dbt_work_dir(warehouse).is_dir():
        shutil.copytree(dbt_work_dir(warehouse), dbt_work_dir(copy),
                        ignore=shutil.ignore_patterns("target", "logs"))
    return copy


def query(warehouse: Path, sql: str, params=None) -> list[tuple]:
    """Run one read-only query on a warehouse file and return all rows."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@contextmanager
def data_tests(enabled: bool):
    """dbt's data and unit tests on (as every build runs them) or off for the builds
    inside the block."""
    previous = os.environ.get(_EXCLUDE_TYPES_ENV)
    if enabled:
        os.environ.pop(_EXCLUDE_TYPES_ENV, None)
    else:
        os.environ[_EXCLUDE_TYPES_ENV] = "test unit_test"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(_EXCLUDE_TYPES_ENV, None)
        else:
            os.environ[_EXCLUDE_TYPES_ENV] = previous


def built_sample(root: Path, config: str, *, rows: int, seed: int, prepare=None):
    """A sample source of `rows` rows (sampledata, `seed`) under root/sample, a
    neurostock.yml of `config` plus `images: {dest: root/all_data}`, ingested and built
    through the CLI (asserted to succeed). `prepare(db_path)`, when given, edits the
    source before the ingest; what it returns comes back as the fourth item.
    Returns (warehouse, config path, the sample's summary, what prepare returned)."""
    from neurostock.sampledata.source import write_sample

    summary = write_sample(root / "sample", rows=rows, seed=seed)
    prepared = prepare(summary.db_path) if prepare is not None else None
    config_path = root / "neurostock.yml"
    config_path.write_text(config + f"images: {{dest: {root / 'all_data'}}}\n")
    warehouse = root / "warehouse.duckdb"
    assert run_cli(warehouse, config_path, "ingest", str(summary.db_path)) == 0
    assert run_cli(warehouse, config_path, "build") == 0
    return warehouse, config_path, summary, prepared


def last_runs(warehouse: Path) -> dict[tuple[str, str | None], tuple[int, int, int]]:
    """(step, target) -> (computed, skipped, failed) of the newest meta.pipeline_runs row."""
    rows = query(warehouse, "select step, target_id, n_computed, n_skipped, n_failed "
                            "from meta.pipeline_runs qualify row_number() over "
                            "(partition by step, target_id order by finished_at desc) = 1")
    return {(s, t): (c, k, f) for s, t, c, k, f in rows}
