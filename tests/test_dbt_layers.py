"""The dbt project's layers, read from its files: source() only in staging, a source and
a staging view for every table Python writes, nothing outside staging reading those
schemas by name. Fast: no build (tests/test_warehouse_build.py checks the manifest)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from neurostock.core import meta
from neurostock.core.paths import dbt_project_dir

PROJECT = dbt_project_dir()
STAGING = PROJECT / "models" / "staging"
SOURCE_CALL = re.compile(r"\bsource\s*\(")
# A table in a schema Python writes, read by name instead of through staging.
DIRECT_READ = re.compile(r"\b(?:from|join)\s+(raw|meta|files|imported)\.", re.IGNORECASE)
CREATE_TABLE = re.compile(r"create table if not exists (\w+)\.(\w+)", re.IGNORECASE)


def _dbt_files(*folders: str) -> list[Path]:
    return sorted(p for folder in folders for p in (PROJECT / folder).rglob("*")
                  if p.suffix in {".sql", ".py"})


def _outside_staging(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not p.is_relative_to(STAGING)]


def test_only_staging_calls_source():
    files = _dbt_files("models", "macros", "tests", "analyses")
    offenders = [str(p.relative_to(PROJECT)) for p in _outside_staging(files)
                 if SOURCE_CALL.search(p.read_text())]
    assert offenders == [], f"source() outside models/staging/: {offenders}"
    # The check looks where the sources are really called.
    assert any(SOURCE_CALL.search(p.read_text()) for p in STAGING.rglob("*.sql"))


def test_no_model_outside_staging_reads_a_python_schema_by_name():
    offenders = [f"{p.relative_to(PROJECT)}: {m.group(0)}"
                 for p in _outside_staging(_dbt_files("models"))
                 for m in DIRECT_READ.finditer(p.read_text())]
    assert offenders == [], offenders


def _staging_yaml() -> tuple[dict[tuple[str, str], str], set[str]]:
    """(source, table) -> schema, and every staging model with a YAML entry."""
    sources, models = {}, set()
    for path in STAGING.rglob("*.yml"):
        doc = yaml.safe_load(path.read_text()) or {}
        for source in doc.get("sources", []):
            for table in source.get("tables", []):
                sources[(source["name"], table["name"])] = source.get("schema", source["name"])
        models |= {m["name"] for m in doc.get("models", [])}
    return sources, models


def _python_written_tables() -> set[tuple[str, str]]:
    """(schema, table) of every CREATE in neurostock.core.meta and the ingest's meta DDL."""
    ddl = [getattr(meta, name) for name in dir(meta) if name.endswith("_DDL")]
    ingest = (Path(__file__).parents[1] / "neurostock" / "ingest" / "sqlite_copy.py").read_text()
    return {m.groups() for text in (*ddl, ingest) for m in CREATE_TABLE.finditer(text)}


def test_every_table_python_writes_is_a_source_with_one_staging_view():
    sources, models = _staging_yaml()
    declared = {(schema, table) for (_, table), schema in sources.items()}
    written = _python_written_tables()
    assert {("files", "images"), ("meta", "loads"), ("meta", "scorers")} <= written
    assert written - declared == set(), "tables Python writes that are not dbt sources"
    readers: dict[tuple[str, str], list[str]] = {key: [] for key in sources}
    for sql in STAGING.rglob("*.sql"):
        for call in re.finditer(r"source\('(\w+)', '(\w+)'\)", sql.read_text()):
            readers[call.groups()].append(sql.stem)
    for (source, table), schema in sources.items():
        if (schema, table) not in written:
            continue  # the SQLite copy: stg_core__ratings is named for what metadata holds
        assert readers[(source, table)] == [f"stg_{source}__{table}"], (source, table)
        assert f"stg_{source}__{table}" in models, f"stg_{source}__{table} has no YAML entry"


def test_every_staging_model_is_described_by_its_grain_and_keyed():
    for path in STAGING.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            assert model.get("description", "").lower().startswith("one row per"), model["name"]
            column_tests = {t if isinstance(t, str) else next(iter(t))
                            for c in model.get("columns", []) for t in c.get("data_tests", [])}
            model_tests = {next(iter(t)) for t in model.get("data_tests", [])}
            assert "not_null" in column_tests, model["name"]
            assert "unique" in column_tests or "unique_combination" in model_tests, model["name"]
