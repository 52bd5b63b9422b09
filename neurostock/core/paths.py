"""Where things live: the dbt project this package carries, and the files that belong
to one warehouse (all beside it, never inside the source tree)."""

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
