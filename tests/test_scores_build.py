"""Scores in the DAG: computed scorers as UDF steps, imported scores, aesthetic heads only
where they apply, validity, percentiles, near-duplicates; real dbt, real DuckDB."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import duckdb
import imagehash
import numpy as np
import pytest
from PIL import Image

from neurostock.score.aesthetic_heads import HEADS, load_head, register_heads
from tests.conftest import SHARED_DATA, built_sample, copy_warehouse, query
from tests.conftest import run_cli as _cli
from tests.test_technical_scores import jpeg_copy, phash, scene

AGIQA_IMAGES = SHARED_DATA / "agiqa3k" / "images"

pytestmark = [pytest.mark.slow, pytest.mark.data_tests]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("scored")
    warehouse, config, *_ = built_sample(
        root, "scorers: [technical, phash, nsfw, text_in_image]\n", rows=200, seed=21)
    return warehouse, config, root


def test_every_ok_image_gets_each_technical_measure(scored):
    warehouse, *_ = scored
    n_ok = query(warehouse, "select count(*) from files.images where status = 'ok'")[0][0]
    rows = dict(query(warehouse, "select scorer_id, count(*) from scores group by all"))
    for part in ("sharpness", "luminance_mean", "clipped_dark", "clipped_bright",
                 "colourfulness", "noise", "entropy", "width", "height", "aspect"):
        assert rows[f"technical_{part}"] == n_ok, part
    hashes = query(warehouse, "select count(*), count(distinct score_text) from score__phash")
    assert hashes[0][0] == n_ok and hashes[0][1] > n_ok * 0.9
    assert rows["nsfw"] == n_ok and rows["text_in_image"] == n_ok
    nsfw = query(warehouse, "select min(score), max(score), min(cardinality(components)) "
                            "from score__nsfw")[0]
    assert 0 <= nsfw[0] <= nsfw[1] <= 1 and nsfw[2] == 18
    ocr_keys = query(warehouse, "select distinct unnest(map_keys(components)) "
                                "from score__text_in_image order by 1")
    assert [r[0] for r in ocr_keys] == ["area_fraction", "mean_confidence", "n_boxes"]


def test_constant_measures_are_invalid_and_left_out_of_percentiles(scored):
    warehouse, *_ = scored
    summary = {r[0]: (r[1], r[2]) for r in query(
        warehouse, "select scorer_id, is_valid, invalid_reason from scorer_summary")}
    # The synthetic sample is all square: aspect is constant.
    assert summary["technical_aspect"][0] is False
    assert "constant" in summary["technical_aspect"][1]
    assert summary["technical_sharpness"] == (True, None)
    in_percentiles = {r[0] for r in query(warehouse, "select distinct scorer_id "
                                                     "from score_percentiles")}
    assert "technical_aspect" not in in_percentiles and "technical_sharpness" in in_percentiles
    bounds = query(warehouse, "select min(percentile), max(percentile) from score_percentiles")
    assert bounds == [(0.0, 1.0)]


def test_second_build_scores_nothing(scored):
    warehouse, config, _ = scored
    assert _cli(warehouse, config, "build", "--skip-images") == 0
    runs = query(warehouse, "select target_id, n_computed, n_skipped from meta.pipeline_runs "
                            "where step = 'score' qualify row_number() over "
                            "(partition by target_id order by finished_at desc) = 1")
    assert {r[0]: r[1] for r in runs} == {"technical": 0, "phash": 0, "nsfw": 0,
                                           "text_in_image": 0}
    assert all(r[2] > 50 for r in runs)


@pytest.mark.data_tests
def test_near_duplicates_are_grouped(scored):
    warehouse, config, root = scored
    first, second = query(warehouse, "select resolved_path from files.images "
                                     "where status = 'ok' order by image_id limit 2")
    Path(second[0]).write_bytes(Path(first[0]).read_bytes())
    assert _cli(warehouse, config, "build") == 0
    groups = query(warehouse, "select group_size, count(*) from near_duplicate_groups "
                              "group by all")
    assert (2, 2) in groups


# Hashes whose distances are known: 5 and 7 are 8 bits apart, but 3 is 4 bits from
# each, so at distance 6 the three form one group named after 3; 2 is far from all.
CHAIN = {7: "00000000000000ff", 5: "0000000000000000", 3: "000000000000000f",
         2: "ffffffffffffffff"}


def hamming(a: str, b: str) -> int:
    return imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)


def near_copy_hashes() -> dict[int, str]:
    """pHashes of near-copies made here plus, where present, 150 AGIQA-3K images."""
    hashes = {}
    for seed in range(6):
        base = scene(100 + seed, size=384)
        for k, image in enumerate([base, jpeg_copy(base, 50), base.resize((300, 300))]):
            hashes[100 + seed * 10 + k] = phash(image)
    if AGIQA_IMAGES.is_dir():
        for offset, path in enumerate(sorted(AGIQA_IMAGES.glob("*.jpg"))[:150]):
            with Image.open(path) as image:
                hashes[1000 + offset] = phash(image.convert("RGB"))
    return hashes


def near_duplicates_of(warehouse: Path, config: Path, hashes: dict[int, str],
                       max_distance: int) -> tuple[list[tuple], dict[int, int]]:
    """The warehouse's near_duplicate_pairs and groups (image -> group) built from `hashes`
    stored as score__phash's text, at `max_distance`."""
    con = duckdb.connect(str(warehouse))
    con.execute("delete from score__phash")
    con.executemany("insert into score__phash (image_id, score_text) values (?, ?)",
                    list(hashes.items()))
    con.close()
    assert _cli(warehouse, config, "build", "--skip-images", "-s", "near_duplicate_pairs+",
                "--vars", f"{{near_duplicate_max_distance: {max_distance}}}") == 0
    pairs = query(warehouse, "select image_id_a, image_id_b, hamming_distance "
                             "from near_duplicate_pairs order by all")
    groups = dict(query(warehouse, "select image_id, group_id from near_duplicate_groups"))
    return pairs, groups


def test_near_duplicate_pairs_count_differing_bits_and_chain_groups(scored, tmp_path):
    """The warehouse's models find the pairs (dbt Python model, multi-index hashing)
    and the groups (SQL) of score__phash, at a wide and at the default distance."""
    warehouse, config, _ = scored
    copy = copy_warehouse(warehouse, tmp_path / "hashes" / warehouse.name)
    hashes = {**CHAIN, **near_copy_hashes()}

    pairs, groups = near_duplicates_of(copy, config, hashes, 64)
    # Every pair, its distance imagehash's (hashes at and above 0x8000... included).
    assert pairs == sorted((a, b, hamming(hashes[a], hashes[b]))
                           for a, b in combinations(sorted(hashes), 2))
    assert set(groups.values()) == {min(hashes)}

    pairs, groups = near_duplicates_of(copy, config, hashes, 6)
    assert pairs == sorted((a, b, d) for a, b, d in
                           ((a, b, hamming(hashes[a], hashes[b]))
                            for a, b in combinations(sorted(hashes), 2)) if d <= 6)
    assert (5, 7, 8) not in pairs and 2 not in groups
    assert {i: groups[i] for i in CHAIN if i != 2} == {7: 3, 5: 3, 3: 3}
    # Each image's two near copies join its group, named after the original.
    for seed in range(6):
        original = 100 + seed * 10
        assert [groups[original + k] for k in range(3)] == [original] * 3


def test_a_rebuild_searches_only_new_hashes_and_catches_flipped_copies(scored, tmp_path,
                                                                       capfd):
    warehouse, config, _ = scored
    copy = copy_warehouse(warehouse, tmp_path / "flips" / warehouse.name)
    hashes = near_copy_hashes()
    near_duplicates_of(copy, config, hashes, 6)
    # A flipped copy of 100 arrives as image 9000: its hash is near 100's mirror only.
    original = scene(100, size=384)
    flipped = jpeg_copy(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT), 80)
    mirror_of_original = phash(original.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    con = duckdb.connect(str(copy))
    con.execute("update score__phash set score_text = ? where image_id = 100",
                [f"{hashes[100]} {mirror_of_original}"])
    con.execute("insert into score__phash (image_id, score_text) values (9000, ?)",
                [phash(flipped)])
    con.close()
    capfd.readouterr()
    # The dbt run's own progress line (a child process: file descriptor 2).
    assert _cli(copy, config, "build", "--skip-images", "-s", "near_duplicate_pairs+") == 0
    err = capfd.readouterr().err
    assert "2 new or changed images searched" in err, err
    pairs = {(a, b): (d, m) for a, b, d, m in query(
        copy, "select image_id_a, image_id_b, hamming_distance, mirrored "
              "from near_duplicate_pairs")}
    assert hamming(phash(flipped), hashes[100]) > 6
    assert pairs[(100, 9000)] == (hamming(phash(flipped), mirror_of_original), True)
    # The pairs of the unchanged images are still there, as a whole search finds them.
    expected = {(a, b) for a, b in combinations(sorted(hashes), 2)
                if hamming(hashes[a], hashes[b]) <= 6}
    assert expected <= set(pairs)
    groups = dict(query(copy, "select image_id, group_id from near_duplicate_groups"))
    assert groups[9000] == groups[100] == 100


def test_aesthetic_heads_apply_only_to_their_clip_model(scored):
    warehouse, config, _ = scored
    con = duckdb.connect(str(warehouse))
    con.execute("""insert or replace into meta.embedding_models
        (embedder_id, library, model, pretrained, dim, kinds, is_random_init, is_imported,
         fingerprint) values
        ('b32_openai', 'open_clip', 'ViT-B-32', 'openai', 512, ['image'], false, false, 'x'),
        ('b32_random', 'open_clip', 'ViT-B-32', 'random', 512, ['image'], true, false, 'y')""")
    con.close()
    assert _cli(warehouse, config, "build", "-s", "aesthetic_head_applicability") == 0
    rows = {r[0]: r[1] for r in query(warehouse, "select scorer_id, not_applicable_reason "
                                                 "from aesthetic_head_applicability")}
    assert rows["laion_aesthetic_v1_b32@b32_openai"] is None
    assert rows["simulacra_b32@b32_openai"] is None
    assert rows["laion_aesthetic_v1_l14@b32_openai"] == (
        "head expects ViT-L-14, embedder is ViT-B-32"
    )
    assert rows["laion_aesthetic_v1_b32@b32_random"] == "embedder has random weights"


def test_head_scores_in_sql_equal_the_torch_heads():
    """The effective linear weights (MLP multiplied out) score like the original modules."""
    import torch

    con = duckdb.connect()
    register_heads(con)
    rng = np.random.default_rng(0)
    for spec in HEADS:
        weights, bias, _ = load_head(spec)
        x = rng.normal(size=(5, len(weights)))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        state = torch.load(Path(__file__).parents[1] / "neurostock" / "score" / "heads" / spec.file,
                           map_location="cpu", weights_only=True)
        expected = _torch_forward(state, x, spec.input_scale)
        got = [con.execute(
            "select list_dot_product(?::float[], weights) + bias from meta.aesthetic_heads "
            "where head_id = ?", [row.tolist(), spec.head_id]).fetchone()[0] for row in x]
        assert np.allclose(got, expected, atol=1e-3), spec.head_id


def _torch_forward(state, x, input_scale):
    import torch

    h = torch.tensor(x, dtype=torch.float64)
    if input_scale == "unit_sqrt_dim":
        h = h * np.sqrt(x.shape[1])
    layers = sorted({k.rsplit(".", 1)[0] for k in state if k.endswith("weight")},
                    key=lambda k: int(k.split(".")[-1]) if k.split(".")[-1].isdigit() else 0)
    for layer in layers:
        prefix = f"{layer}." if layer != "weight" else ""
        w = state[f"{prefix}weight"].double()
        b = state[f"{prefix}bias"].double()
        h = h @ w.T + b
    return h[:, 0].numpy()


@pytest.mark.skipif(not (SHARED_DATA / "seed-research").is_dir(), reason="../shared is absent")
def test_team_tanet_ava_is_flagged_invalid(scored, capsys):
    warehouse, config, _ = scored
    code = _cli(warehouse, config, "scores", "import",
                str(SHARED_DATA / "seed-research" / "tanet_ava_my_res.csv"),
                "--format", "tanet", "--scorer-id", "tanet_ava")
    assert code == 0
    assert "INVALID" in capsys.readouterr().out
    assert _cli(warehouse, config, "build", "-s", "scores+") == 0
    valid, reason = query(warehouse, "select is_valid, invalid_reason from scorer_summary "
                                     "where scorer_id = 'tanet_ava'")[0]
    assert valid is False and "constant" in reason
