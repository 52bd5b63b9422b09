"""Where things live: the dbt project this package carries, and every file that belongs
to one warehouse (all beside it, never inside the source tree). No other module
builds a warehouse sibling's path.

    <warehouse>.dbt/             dbt's project copy, generated models, target/, logs/
    <warehouse>.lock             the writer lock (core/lock.py)
    <stem>.vectors.sqlite        the resume cache of the UDF steps (compute/cache.py)
    <warehouse>.shards/          the Ray engine's Parquet shards (compute/shards.py)
    <warehouse>.models/          trained learned models (learn/train.py)
    <warehouse>.index/           nearest-neighbour indexes of image vectors
                                 (compute/vector_index.py)
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def dbt_project_dir() -> Path:
    """The committed dbt project: `dbt_project/` of a checkout, or the copy an installed
    distribution carries (package `neurostock_dbt`)."""
    checkout = PACKAGE_ROOT / "dbt_project"
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    import neurostock_dbt

    return Path(next(iter(neurostock_dbt.__path__))).resolve()


def warehouse_sibling(warehouse: Path, suffix: str) -> Path:
    """`<warehouse file name><suffix>` beside the warehouse (e.g. `warehouse.duckdb.dbt`)."""
    return warehouse.with_name(warehouse.name + suffix)


def dbt_work_dir(warehouse: Path) -> Path:
    """Per-warehouse dbt files: generated models, dbt's target/ and logs/."""
    return warehouse_sibling(warehouse, ".dbt")


def lock_file(warehouse: Path) -> Path:
    """`<warehouse>.lock`: the writer lock."""
    return warehouse_sibling(warehouse, ".lock")


def resume_cache_file(warehouse: Path) -> Path:
    """`<stem>.vectors.sqlite` beside the warehouse (e.g. `warehouse.vectors.sqlite`:
    named by the stem since its first release; every existing cache keeps its name)."""
    return warehouse.with_name(warehouse.stem + ".vectors.sqlite")


def shards_dir(warehouse: Path, configured: str | None = None) -> Path:
    """The Ray shard folder: `ray: {shards: …}` of neurostock.yml, else
    `<warehouse>.shards/`."""
    return Path(configured) if configured else warehouse_sibling(warehouse, ".shards")


def models_dir(warehouse: Path) -> Path:
    """`<warehouse>.models/`: the learned models' files."""
    return warehouse_sibling(warehouse, ".models")


def index_dir(warehouse: Path) -> Path:
    """`<warehouse>.index/`: the nearest-neighbour indexes of image vectors."""
    return warehouse_sibling(warehouse, ".index")


def image_index_file(warehouse: Path, embedder_id: str) -> Path:
    """`<warehouse>.index/image__<embedder>.usearch`: the embedder's image-vector index."""
    return index_dir(warehouse) / f"image__{embedder_id}.usearch"


def connection_warehouse(con) -> Path:
    """The warehouse file a DuckDB connection has open, absolute (dbt opens it by a path
    relative to its folder, profiles.yml); `memory.duckdb` in the working folder for an
    in-memory database."""
    path = con.execute("select path from duckdb_databases() "
                       "where database_name = current_database()").fetchone()[0]
    return Path(path).resolve() if path else Path.cwd() / "memory.duckdb"
