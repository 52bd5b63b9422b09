"""The rating app and `submit` read a recorded file under the roots `images sync` read
it from, `images: base` included: a base outside the source's folder is not refused."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
from PIL import Image

from neurostock.core.config import load_config
from neurostock.images.recorded import FileRefused, FileRules, read_recorded
from tests.conftest import run_cli
from tests.source_builder import image_row, make_source


def test_a_file_under_the_configured_base_outside_the_source_folder_is_read(tmp_path):
    (tmp_path / "source").mkdir()
    source = make_source(tmp_path / "source" / "core.download.db",
                         [image_row(i) for i in range(1, 3)], [(3, "2022-10-23", 1, 1)])
    pictures = tmp_path / "pictures"  # not inside the source's folder
    pictures.mkdir()
    picture = pictures / "1.png"
    Image.new("RGB", (8, 8), "red").save(picture)
    config = tmp_path / "neurostock.yml"
    config.write_text("images: {base: pictures}\n")
    warehouse = tmp_path / "wh" / "warehouse.duckdb"
    assert run_cli(warehouse, config, "ingest", str(source)) == 0
    images = load_config(config).images
    info = os.stat(picture)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rules = FileRules.from_config(con, images)
    finally:
        con.close()
    assert rules.roots == (os.path.realpath(pictures),)
    assert read_recorded(str(picture), info.st_size, info.st_mtime_ns, rules) \
        == picture.read_bytes()
    # The source's folder is no root of its own once a base is configured, as for the sync.
    stray = Path(source).parent / "stray.png"
    Image.new("RGB", (8, 8), "blue").save(stray)
    with pytest.raises(FileRefused, match="outside the allowed roots"):
        read_recorded(str(stray), stray.stat().st_size, stray.stat().st_mtime_ns, rules)
