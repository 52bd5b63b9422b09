"""The committed dbt project stands on its own, and one checkout builds two warehouses
with different configurations at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from neurostock.sampledata.source import write_sample
from tests import checkout
from tests.conftest import query

pytestmark = pytest.mark.slow


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "NEUROSTOCK_WAREHOUSE"}
    return {**env, "NEUROSTOCK_CONFIG": "none", **extra}


def test_a_fresh_clones_dbt_project_parses_with_plain_dbt(tmp_path):
    before = checkout.status()
    project = checkout.copy_checkout(tmp_path / "clone", under="dbt_project") / "dbt_project"
    assert (project / "dbt_project.yml").is_file()
    env = _env(NEUROSTOCK_WAREHOUSE=str(tmp_path / "w.duckdb"),
               DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"))
    done = subprocess.run(
        [sys.executable, "-c", "from dbt.cli.main import cli; cli()", "parse",
         "--no-use-colors", "--project-dir", str(project), "--profiles-dir", str(project)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    models = {n["name"] for n in manifest["nodes"].values() if n["resource_type"] == "model"}
    assert {"full_set", "big_set", "ann", "rpt_score_agreement", "cluster_map"} <= models
    assert manifest["metadata"]["send_anonymous_usage_stats"] is False
    assert not (project / "target").exists() and not (project / "logs").exists()
    assert checkout.written_since(before) == []


def _build(warehouse: Path, config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse),
         "--config", str(config), *args],
        cwd=checkout.REPO, env=_env(PYTHONPATH=str(checkout.REPO)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _score_tables(warehouse: Path) -> set[str]:
    return {r[0] for r in query(warehouse, "select table_name from duckdb_tables() "
                                           "where table_name like 'score\\_\\_%' escape '\\'")}


def test_two_warehouses_with_different_configs_build_at_once(tmp_path):
    before = checkout.status()
    sample = write_sample(tmp_path / "sample", rows=200, seed=11)
    scored, plain = tmp_path / "a" / "scored.duckdb", tmp_path / "b" / "plain.duckdb"
    with_scores = tmp_path / "scored.yml"
    with_scores.write_text(f"scorers: [technical]\nimages: {{dest: {tmp_path / 'all_a'}}}\n")
    without = tmp_path / "plain.yml"
    without.write_text(f"images: {{dest: {tmp_path / 'all_b'}}}\n")
    for warehouse, config in ((scored, with_scores), (plain, without)):
        ingest = _build(warehouse, config, "ingest", str(sample.db_path))
        assert ingest.wait(timeout=300) == 0, ingest.stdout.read()
    builds = [_build(scored, with_scores, "build"), _build(plain, without, "build")]
    outputs = [b.communicate(timeout=1500)[0] for b in builds]
    for build, output in zip(builds, outputs, strict=True):
        assert build.returncode == 0, output[-4000:]
    assert _score_tables(scored) and all(t.startswith("score__technical")
                                         for t in _score_tables(scored))
    assert _score_tables(plain) == set()
    for warehouse in (scored, plain):
        assert query(warehouse, "select count(*) from full_set")[0][0] > 0
    # Each warehouse's generated models are its own.
    generated = "project/models/generated"
    assert list((tmp_path / "a" / "scored.duckdb.dbt" / generated).rglob("score__*.sql"))
    assert not list((tmp_path / "b" / "plain.duckdb.dbt" / generated).rglob("score__*.sql"))
    assert checkout.written_since(before) == []
