"""Opening the DuckDB warehouse, with DuckDB's extensions installed offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import util as importlib_util
from pathlib import Path

import duckdb

from neurostock.core.errors import NeurostockError

DEFAULT_WAREHOUSE = "warehouse.duckdb"
WAREHOUSE_ENV = "NEUROSTOCK_WAREHOUSE"

# Extension name -> the PyPI package that carries its binary. DuckDB would
# otherwise fetch them from the internet, which these machines cannot reach.
_EXTENSION_PACKAGES = {
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "vss": "duckdb_extension_vss",
}


def resolve_warehouse(path: str | os.PathLike | None) -> Path:
    """The warehouse file: `path`, else $NEUROSTOCK_WAREHOUSE, else ./warehouse.duckdb."""
    chosen = path or os.environ.get(WAREHOUSE_ENV) or DEFAULT_WAREHOUSE
    return Path(chosen).expanduser().resolve()


def _bundled_extension_file(name: str) -> Path:
    package = _EXTENSION_PACKAGES[name]
    spec = importlib_util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise NeurostockError(
            f"DuckDB extension {name!r} is not installed: pip install "
            f"'{package.replace('_', '-')}=={duckdb.__version__}'"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob(f"extensions/v{duckdb.__version__}/{name}.duckdb_extension"))
    if not found:
        raise NeurostockError(
            f"package {package} carries no {name}.duckdb_extension for DuckDB "
            f"{duckdb.__version__} (looked under {root}/extensions)"
        )
    return found[0]


def ensure_extensions(con: duckdb.DuckDBPyConnection, names=("sqlite_scanner", "vss")) -> None:
    """Install the named extensions from the files their PyPI packages carry, once per machine."""
    installed = {
        row[0]
        for row in con.execute(
            "select extension_name from duckdb_extensions() where installed"
        ).fetchall()
    }
    for name in names:
        if name not in installed:
            con.execute(f"install {sql_string(_bundled_extension_file(name))}")


@contextmanager
def connect(path: str | os.PathLike | None = None, read_only: bool = False) -> Iterator[
    duckdb.DuckDBPyConnection
]:
    """A connection to the warehouse with the offline extensions installed; closed on exit."""
    target = resolve_warehouse(path)
    if read_only and not target.exists():
        raise NeurostockError(f"warehouse {target} does not exist: run `neurostock ingest` first")
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(target), read_only=read_only)
    except duckdb.IOException as exc:
        raise NeurostockError(f"cannot open warehouse {target}: {_first_line(exc)}") from exc
    try:
        ensure_extensions(con)
        yield con
    finally:
        con.close()


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    """The column names of main.`table` (empty: no such table)."""
    return {r[0] for r in con.execute(
        "select column_name from duckdb_columns() where schema_name = 'main' "
        "and table_name = ?", [table]).fetchall()}


def sql_string(value: str | os.PathLike) -> str:
    """`value` as a quoted SQL string literal (for statements that take no parameters)."""
    return "'" + str(value).replace("'", "''") + "'"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
