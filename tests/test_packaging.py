"""The package installs as one distribution that carries its dbt project: a wheel,
installed (not editable) into a fresh venv, runs the demo steps from an empty folder
without the checkout on its path and without writing into the checkout."""

from __future__ import annotations

import os
import subprocess
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests import checkout
from tests.conftest import query

pytestmark = pytest.mark.slow


def _run(command: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{command}: {done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv, clean environment): the wheel of the checkout's files installed in a new
    venv that sees .venv's packages (dependencies) but not the checkout."""
    root = tmp_path_factory.mktemp("packaging")
    # The wheel is built from a copy: an in-tree build writes build/ and *.egg-info.
    source = checkout.copy_checkout(root / "src")
    env = {k: v for k, v in os.environ.items()
           if k not in {"PYTHONPATH", "NEUROSTOCK_WAREHOUSE", "VIRTUAL_ENV"}}
    env["NEUROSTOCK_CONFIG"] = "none"
    python = str(checkout.VENV / "bin" / "python")
    _run([python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
          "-q", "-w", str(root / "dist"), str(source)], root, env)
    (wheel,) = (root / "dist").glob("neurostock-*.whl")
    venv = root / "venv"
    _run([python, "-m", "venv", "--without-pip", str(venv)], root, env)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv),
                                                    "platbase": str(venv)}))
    # A path line in a .pth file adds .venv's packages, but the editable install's own
    # .pth there is not processed: the checkout stays off the path.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "--no-deps", "--no-index",
          "--ignore-installed", "-q", str(wheel)], root, env)
    return venv, env, wheel


STAGES = ("ingest", "sampledata", "images", "embed", "score", "learn", "rate", "analysis",
          "deliver", "submit", "reports")


def test_the_wheel_installs_exactly_two_import_roots(installed):
    """`neurostock` (every stage inside it) and `neurostock_dbt` (the dbt project): no
    generic top-level name (`images`, `score`, ...) that could clash with another
    distribution or a user's own folder."""
    _, _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    roots = {n.split("/")[0] for n in names if ".dist-info/" not in n}
    assert roots == {"neurostock", "neurostock_dbt"}
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    listed = zipfile.ZipFile(wheel).read(top_level).decode().split()
    assert sorted(listed) == ["neurostock", "neurostock_dbt"]


def test_the_wheel_carries_every_stage_and_the_dbt_project(installed):
    _, _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("neurostock", *(f"neurostock/{s}" for s in STAGES), "neurostock_dbt"):
        assert f"{package}/__init__.py" in names, package
    # Every package of the checkout is in the wheel (pyproject lists them by name).
    for init in checkout.REPO.joinpath("neurostock").rglob("__init__.py"):
        assert init.relative_to(checkout.REPO).as_posix() in names, init
    assert "neurostock/core/lock.py" in names and "neurostock/build/pipeline.py" in names
    committed = [f.removeprefix("dbt_project/") for f in checkout.checkout_files()
                 if f.startswith("dbt_project/") and f != "dbt_project/__init__.py"]
    assert committed and {f"neurostock_dbt/{f}" for f in committed} <= set(names)
    for data in ("reports/templates/base.html.j2", "reports/static/style.css",
                 "sampledata/assets/sac_cc0/manifest.csv", "rate/templates/rate.html.j2",
                 "rate/static/rate.js", "submit/policies/adobe_stock.yml",
                 "reports/templates/submission.html.j2"):
        assert f"neurostock/{data}" in names, data
    assert any(n.startswith("neurostock/score/heads/") for n in names)


def test_the_installed_package_runs_the_demo_from_an_empty_folder(installed, tmp_path):
    venv, env, _ = installed
    before = checkout.status()
    work = tmp_path / "empty"
    work.mkdir()
    bin_ = venv / "bin"
    where = _run([str(bin_ / "python"), "-c",
                  "import neurostock, neurostock_dbt, neurostock.reports as reports\n"
                  "from neurostock.core.paths import dbt_project_dir\n"
                  "print(neurostock.__file__); print(reports.__file__); "
                  "print(dbt_project_dir())"], work, env)
    for line in where.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()), where
        assert not Path(line).resolve().is_relative_to(checkout.REPO), where

    ns = str(bin_ / "neurostock")
    _run([ns, "sample", "--rows", "200", "--out", "sample"], work, env)
    _run([ns, "ingest", "sample/core.download.db"], work, env)
    _run([ns, "build"], work, env)
    _run([ns, "export", "--out", "export"], work, env)
    _run([ns, "dbt", "parse"], work, env)
    warehouse = work / "warehouse.duckdb"
    assert query(warehouse, "select count(*) from full_set")[0][0] > 0
    assert (work / "export" / "full_set.csv").is_file()
    # dbt worked on the warehouse's own copy of the installed project.
    copy = work / "warehouse.duckdb.dbt" / "project" / "dbt_project.yml"
    assert copy.is_file()
    assert checkout.written_since(before) == []

