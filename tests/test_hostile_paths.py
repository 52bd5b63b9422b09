"""Relative image paths in the source resolve against one documented base, never the
folder a command runs in: the source database's folder (meta.loads), or
`images: {base: DIR}` of neurostock.yml. The allowed roots still apply after that, so
`../../etc/passwd` ends `outside_root` or `missing`, never read."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3

import pytest

from neurostock.core.config import ImagesConfig, load_config, validated
from neurostock.core.errors import NeurostockError
from neurostock.images.paths import PathMap, resolve_path
from tests.conftest import built_sample, copy_warehouse, query, run_cli

UP_TWO = "../../etc/passwd"
UP_MANY = "../" * 40 + "etc/passwd"  # reaches the real /etc/passwd from anywhere


def _relative(db_path):
    """Make every image path under the source's folder relative to it (`core/...`), and
    point two rated images at /etc/passwd through `..`. Returns {image_id: img_path} of
    the relative rows and the two ids."""
    prefix = str(db_path.parent) + os.sep
    con = sqlite3.connect(db_path)
    try:
        with con:
            con.execute("update img_info set img_path = substr(img_path, ?) "
                        "where img_path like ? || '%'", [len(prefix) + 1, prefix])
            rated = [r[0] for r in con.execute(
                "select distinct m.id from metadata m join img_info i on i.id = m.id "
                "where m.rating in (1, 2, 3, 4) and i.img_path like 'core/%' order by m.id")]
            up_two, up_many = rated[0], rated[1]
            con.execute("update img_info set img_path = ? where id = ?", [UP_TWO, up_two])
            con.execute("update img_info set img_path = ? where id = ?", [UP_MANY, up_many])
        relative = dict(con.execute("select id, img_path from img_info "
                                    "where img_path like 'core/%'").fetchall())
    finally:
        con.close()
    return {"relative": relative, "up_two": up_two, "up_many": up_many}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A sample whose image paths are relative to its folder, built from the test run's
    folder (the repository root, which holds no `core/`)."""
    root = tmp_path_factory.mktemp("hostile_paths")
    warehouse, config, summary, facts = built_sample(root, "", rows=200, seed=31,
                                                     prepare=_relative)
    assert not os.path.exists("core")
    return warehouse, config, summary.db_path.parent, facts


def _files(warehouse) -> dict[int, tuple]:
    return {r[0]: r[1:] for r in query(
        warehouse, "select image_id, status, resolved_path, sha256, bytes from files.images")}


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_relative_paths_resolve_under_the_source_folder(built):
    warehouse, _config, sample, facts = built
    files = _files(warehouse)
    checked = [i for i in facts["relative"] if i in files]
    assert len(checked) > 20
    for image_id in checked:
        status, resolved, sha256, _bytes = files[image_id]
        expected = sample / facts["relative"][image_id]
        assert resolved == str(expected)
        assert status == "ok" and sha256 == _sha(expected), image_id


@pytest.mark.slow
def test_dot_dot_to_etc_passwd_is_never_read(built):
    warehouse, _config, sample, facts = built
    files = _files(warehouse)
    status, resolved, sha256, size = files[facts["up_two"]]
    assert resolved == os.path.normpath(sample / UP_TWO)
    assert status in ("outside_root", "missing") and sha256 is None and size is None
    status, resolved, sha256, size = files[facts["up_many"]]
    assert resolved == "/etc/passwd"
    assert status == "outside_root" and sha256 is None and size is None


@pytest.mark.slow
def test_the_same_sync_from_another_folder_gives_the_same_files(built, tmp_path, monkeypatch):
    """From a folder that holds decoys at the same relative paths, the statuses, resolved
    paths and hashes are the build's: the decoys are never read."""
    warehouse, _config, _sample, facts = built
    copy = copy_warehouse(warehouse, tmp_path / "wh" / "warehouse.duckdb")
    elsewhere = tmp_path / "elsewhere"
    for image_id, rel in list(facts["relative"].items())[:10]:
        decoy = elsewhere / rel
        decoy.parent.mkdir(parents=True, exist_ok=True)
        decoy.write_bytes(b"decoy " + str(image_id).encode())
    config = tmp_path / "neurostock.yml"
    config.write_text(f"images: {{dest: {tmp_path / 'all_data'}}}\n")
    monkeypatch.chdir(elsewhere)

    assert run_cli(copy, config, "images", "sync") == 0

    assert _files(copy) == _files(warehouse)


@pytest.mark.slow
def test_images_base_overrides_the_source_folder(built, tmp_path, capsys):
    warehouse, _config, sample, facts = built
    copy = copy_warehouse(warehouse, tmp_path / "wh" / "warehouse.duckdb")
    moved = tmp_path / "moved"
    shutil.copytree(sample / "core", moved / "core")
    config = tmp_path / "neurostock.yml"
    # Relative to the config's folder, as every path in neurostock.yml.
    config.write_text(f"images: {{dest: {tmp_path / 'all_data'}, base: moved}}\n")

    assert run_cli(copy, config, "images", "sync") == 0

    files = _files(copy)
    checked = [i for i in facts["relative"] if i in files]
    for image_id in checked:
        status, resolved, _sha256, _bytes = files[image_id]
        assert resolved == str(moved / facts["relative"][image_id])
        assert status == "ok", image_id
    # (`moved` lies outside the source's folder: the allowed roots follow the base.)

    config.write_text("images: {base: no_such_folder}\n")
    capsys.readouterr()
    assert run_cli(copy, config, "images", "sync") == 1
    err = capsys.readouterr().err
    assert err.startswith("neurostock: error: images base ") and "not a folder" in err
    assert len(err.strip().splitlines()) == 1


def test_images_base_is_checked_and_resolved_against_the_config(tmp_path):
    config = tmp_path / "neurostock.yml"
    config.write_text("images:\n  base: pictures\n")
    assert load_config(config).images.base == str(tmp_path / "pictures")
    assert load_config(config).images.roots == ()
    for bad, says in (("''", "images.base: must name a folder"),
                      ("[a, b]", "images.base:")):
        config.write_text(f"images:\n  base: {bad}\n")
        with pytest.raises(NeurostockError, match=says) as caught:
            load_config(config)
        assert "\n" not in str(caught.value)
    assert validated(ImagesConfig, {}, "test").base is None


def test_resolve_path_joins_only_unmapped_relative_paths():
    maps = [PathMap.parse("/media/s1=/mnt/s1"), PathMap.parse("server=/mnt/server")]
    assert resolve_path("images/1.jpg", maps, "/data/src") == "/data/src/images/1.jpg"
    assert resolve_path("../../etc/passwd", maps, "/data/src") == \
        "/data/src/../../etc/passwd"
    assert resolve_path("/abs/1.jpg", maps, "/data/src") == "/abs/1.jpg"
    assert resolve_path("/media/s1/a.jpg", maps, "/data/src") == "/mnt/s1/a.jpg"
    assert resolve_path("server/a.jpg", maps, "/data/src") == "/mnt/server/a.jpg"
    # No base known: left relative, and the check calls it missing, never reads it.
    assert resolve_path("images/1.jpg", maps) == "images/1.jpg"
