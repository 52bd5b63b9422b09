"""The marketplace gate and the upload pack: one small warehouse built through the CLI
from real image files in tmp_path (a text image, one below 4 MP, a near-duplicate pair,
a prompt naming an artist, a transparent PNG, a missing file, two rated images), real
scorers, real dbt; then `neurostock submit` and every limit of the upload CSV."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw, ImageFont
from sklearn.metrics import roc_auc_score

from neurostock.core.errors import NeurostockError
from neurostock.submit.pack import csv_chunks, jpeg_bytes, short_name
from neurostock.submit.policy import load_policy
from neurostock.submit.text import PromptDescriber, singular
from tests.conftest import copy_warehouse, query, sha256_of
from tests.conftest import run_cli as _cli
from tests.source_builder import make_source

pytestmark = [pytest.mark.slow, pytest.mark.data_tests]

SIDE = 2000  # 4.0 MP: the smallest square Adobe Stock takes
HEADER = ["Filename", "Title", "Keywords", "Category", "Releases"]


def landscape(size: tuple[int, int], seed: int = 0) -> Image.Image:
    width, height = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    sky = np.stack([90 + 80 * y / height, 150 + 60 * y / height, 255 - 20 * y / height], -1)
    hill = height * 0.6 + height * 0.05 * np.sin(x / (width / 9))
    grass = np.stack([40 + 0 * x, 130 + 0 * x, 50 + 0 * x], -1).astype(np.float64)
    pixels = np.where((y > hill)[..., None], grass, sky) + rng.normal(0, 4, (height, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")
    ImageDraw.Draw(image).ellipse((width * 0.7, height * 0.1, width * 0.85, height * 0.25),
                                  fill=(255, 230, 120))
    return image


def font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        for path in sorted(Path("/usr/share/fonts").rglob("*.ttf")):
            return ImageFont.truetype(str(path), size)
    pytest.skip("no scalable font available")


def text_picture() -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE), "white")
    draw = ImageDraw.Draw(image)
    for row, words in enumerate(["BIG SALE TODAY", "STOCK PHOTO 2024", "CALL 555 0199"]):
        draw.text((120, 300 + row * 500), words, fill="black", font=font(190))
    return image


def circles() -> Image.Image:
    image = Image.new("RGB", (SIDE, SIDE), (30, 40, 90))
    draw = ImageDraw.Draw(image)
    for i, colour in enumerate([(200, 60, 60), (60, 200, 90), (230, 200, 50)]):
        draw.ellipse((200 + i * 500, 300 + i * 300, 900 + i * 500, 1000 + i * 300), fill=colour)
    return image


def transparent_png() -> Image.Image:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    rgb = np.stack([255 * x / SIDE, 80 + 0 * x, 255 * y / SIDE], -1)
    inside = (x - SIDE / 2) ** 2 + (y - SIDE / 2) ** 2 < (SIDE * 0.4) ** 2
    alpha = np.where(inside, 255, 0)
    # Under the transparent corners: black, which a wrong conversion would show.
    rgb[~inside] = 0
    return Image.fromarray(np.dstack([rgb, alpha]).astype(np.uint8), "RGBA")


def stripes() -> Image.Image:
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    band = ((x + y) // 160) % 2
    pixels = np.where(band[..., None] == 1, [200, 120, 40], [40, 90, 160]).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


BARN = ("A red barn in a green field at sunset, highly detailed, 8k, trending on artstation, "
        "unreal engine, rolling hills, golden light, wooden fence, country road, farmhouse")
IMAGES = {
    # image_id: (prompt, picture or None for a missing file, file name)
    1: (BARN, lambda: landscape((SIDE, SIDE)), "barn.png"),
    2: (BARN.replace("sunset", "dusk"), None, "barn_copy.png"),  # barn + a little noise
    3: ("A shop window sign with big letters", text_picture, "sign.png"),
    4: ("Mountain lake at dawn, mist, pine trees", None, "small.png"),
    5: ("Colourful balloons in a night sky by Greg Rutkowski, in the style of Alphonse Mucha",
        circles, "balloons.png"),
    6: ('Abstract "glass" sphere, purple and blue, soft light', transparent_png, "sphere.png"),
    7: ("A lighthouse on a cliff", None, "missing.png"),
    8: ("Diagonal stripes pattern, orange and blue", stripes, "stripes.png"),
    9: ("A blurry cat, bad anatomy", None, "cat.png"),
}
RATINGS = [(4, "2023-01-02T10:00:00+00:00", 1, 8), (5, "2023-01-02T10:00:00+00:00", 1, 9)]


def _write_images(folder: Path) -> dict[int, Path]:
    folder.mkdir(parents=True)
    paths = {}
    for image_id, (_, make, name) in IMAGES.items():
        paths[image_id] = folder / name
        if make is not None:
            make().save(paths[image_id])
    barn = np.asarray(Image.open(paths[1]).convert("RGB")).astype(np.int16)
    noise = np.random.default_rng(7).normal(0, 6, barn.shape).astype(np.int16)
    Image.fromarray(np.clip(barn + noise, 0, 255).astype(np.uint8)).save(paths[2])
    small = landscape((512, 512), seed=3).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    small.save(paths[4])
    landscape((800, 600), seed=9).transpose(Image.Transpose.ROTATE_90).save(paths[9])
    return paths


CONFIG = """
scorers: [technical, phash, nsfw, text_in_image]
images: {{dest: {dest}}}
submission:
  policy: adobe_stock
  overrides: {{quality_rule: percentile, quality_score: technical_sharpness,
              quality_min_percentile: 0, min_keywords: 5}}
"""


def _axis(*values: float) -> list[float]:
    return [*values, *[0.0] * (8 - len(values))]


# Prompt vectors imported as a text embedder with real weights (as far as the warehouse
# knows): the lighthouse prompt (7) lies near the two barn prompts (1, 2), every other
# prompt far from all; so 7's keywords are filled with the words both barn prompts use.
PROMPT_VECTORS = {1: _axis(1, 0.1), 2: _axis(1, -0.1), 7: _axis(1, 0, 0.2),
                  3: _axis(0, 0, 0, 1), 4: _axis(0, 0, 0, 0, 1), 5: _axis(0, 0, 0, 0, 0, 1),
                  6: _axis(0, 0, 0, 0, 0, 0, 1), 8: _axis(0, 0, 0, 0, 0, 0, 0, 1),
                  9: _axis(0, 0, 0, -1)}


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    root = tmp_path_factory.mktemp("submission")
    source_dir = root / "source"
    paths = _write_images(source_dir / "images")
    rows = [(i, str(paths[i]), paths[i].name, "2023-01-01T10:00:00", 1, 6, f"6_{prompt}")
            for i, (prompt, _, _) in IMAGES.items()]
    source = make_source(source_dir / "core.download.db", rows, RATINGS)
    config = root / "neurostock.yml"
    config.write_text(CONFIG.format(dest=root / "all_data"))
    warehouse = root / "warehouse.duckdb"
    assert _cli(warehouse, config, "ingest", str(source)) == 0
    vectors = root / "prompt_vectors.csv"
    vectors.write_text("id," + ",".join(f"emb{i}" for i in range(8)) + "\n" + "".join(
        f"{i}," + ",".join(map(str, v)) + "\n" for i, v in PROMPT_VECTORS.items()))
    assert _cli(warehouse, config, "embeddings", "import", str(vectors), "--embedder",
                "team_text", "--kind", "prompt") == 0
    assert _cli(warehouse, config, "build") == 0
    return warehouse, config, root


@pytest.fixture
def packs(gate, tmp_path):
    """A copy of the gate's warehouse for a test that packs: `submit` records what it
    packs in the copy's ledger (annotations.submissions)."""
    warehouse, config, root = gate
    return copy_warehouse(warehouse, tmp_path / "wh" / warehouse.name), config, root


def decisions(warehouse: Path) -> dict[int, dict]:
    rows = query(warehouse, "select image_id, verdict, reason_ids, reasons, similar_to_image_id, "
                            "needs_upscaling_only, upscale_factor, title, keywords, "
                            "has_fictional_people, image_set, category_id "
                            "from submission_decisions")
    keys = ["image_id", "verdict", "reason_ids", "reasons", "similar_to", "upscale_only",
            "factor", "title", "keywords", "fictional", "image_set", "category_id"]
    return {r[0]: dict(zip(keys, r, strict=True)) for r in rows}


def detail(row: dict, rule_id: str) -> str:
    return next(r["detail"] for r in row["reasons"] if r["rule_id"] == rule_id)


# --- the verdicts ----------------------------------------------------------------------


@pytest.mark.data_tests
def test_the_default_quality_rule_holds_everything_when_no_threshold_reaches_the_target(
        packs, tmp_path, capsys):
    # The policy's own quality rule is the sell decision; two rated images reach no
    # precision out of sample, so every image waits with that reason: none is passed on
    # a ranking score, none is rejected for quality.
    warehouse, config, root = packs
    default = tmp_path / "default.yml"
    default.write_text(f"scorers: [technical, phash, nsfw, text_in_image]\n"
                       f"images: {{dest: {root / 'all_data'}}}\n")
    assert _cli(warehouse, default, "build", "--skip-images",
                "-s", "submission_decision_rule+") == 0
    rule = query(warehouse, "select quality_rule, is_reached, threshold, reason "
                            "from submission_decision_rule")
    assert len(rule) == 1 and rule[0][:3] == ("decision", False, None), rule
    assert rule[0][3].startswith("no decision:"), rule
    rows = decisions(warehouse)
    assert {r["verdict"] for r in rows.values()} <= {"hold", "reject"}
    for row in rows.values():
        quality = [r for r in row["reasons"] if r["rule_id"] == "quality"]
        assert [(r["status"], r["detail"]) for r in quality] == [("unknown", rule[0][3])], row
    capsys.readouterr()
    assert _cli(warehouse, default, "submit", "--out", str(tmp_path / "pack")) == 0
    out = capsys.readouterr().out
    assert "sell decision: no decision:" in out and "every image held" in out, out
    manifest = json.loads((tmp_path / "pack" / "manifest.json").read_text())
    assert manifest["decision"]["is_reached"] is False
    assert manifest["decision"]["pack"] is None
    assert _packed(tmp_path / "pack") == set()
    assert _cli(warehouse, default, "report", "--out", str(tmp_path / "report"),
                "--no-docs") == 0
    page = (tmp_path / "report" / "submission.html").read_text(encoding="utf-8")
    assert "<strong>Every image is held:</strong> no decision:" in page
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "<strong>Upload nothing yet.</strong> no decision:" in index



def test_every_gate_image_gets_one_verdict_with_its_reasons(gate):
    warehouse, *_ = gate
    rows = decisions(warehouse)
    assert set(rows) == set(IMAGES)
    assert {rows[i]["image_set"] for i in (8, 9)} == {"rated"}
    assert rows[6]["verdict"] == "submit", rows[6]
    assert rows[6]["reason_ids"] == []
    # Synthetic pictures hold no faces: the nsfw scorer's face classes say so.
    assert rows[6]["fictional"] is False


def test_the_per_rule_checks_and_the_decisions_say_the_same(gate):
    # submission_checks (a view, a row per image and rule) and submission_decisions (a
    # row per image) evaluate the same macro: every failed or unknown rule of the one is a
    # reason of the other, with the same detail (people_present's fail is a label).
    warehouse, *_ = gate
    checks = query(warehouse, "select image_id, rule_id, status, on_fail, detail "
                              "from submission_checks")
    assert len(checks) == 11 * len(IMAGES)
    assert {c[2] for c in checks} <= {"pass", "fail", "unknown"}
    problems = {(i, r, s, a, d) for i, r, s, a, d in checks
                if s != "pass" and not (r == "people_present" and s == "fail")}
    reasons = {(i, r["rule_id"], r["status"], r["on_fail"], r["detail"])
               for i, row in decisions(warehouse).items() for r in row["reasons"]
               if r["rule_id"] != "near_duplicate"}
    assert problems == reasons
    assert any(c[2] == "fail" for c in checks) and any(c[2] == "unknown" for c in checks)


def test_text_in_the_image_is_rejected(gate):
    rows = decisions(gate[0])
    assert rows[3]["verdict"] == "reject"
    assert "text_in_image" in rows[3]["reason_ids"]
    assert "text box" in detail(rows[3], "text_in_image")


def test_below_four_megapixels_is_held_with_the_upscaling_factor(gate):
    rows = decisions(gate[0])
    small = rows[4]
    assert small["verdict"] == "hold"
    assert small["reason_ids"] == ["min_megapixels"]
    assert small["upscale_only"] is True
    assert small["factor"] == pytest.approx(3.91)  # sqrt(4e6 / 512^2) = 3.906, rounded up
    assert detail(small, "min_megapixels").startswith("needs x3.91 upscaling to reach 4")


def test_near_duplicates_submit_one_the_best_by_quality(gate):
    warehouse, *_ = gate
    rows = decisions(warehouse)
    pair = [rows[1], rows[2]]
    assert sorted(r["verdict"] for r in pair) == ["hold", "submit"]
    kept = next(r for r in pair if r["verdict"] == "submit")
    held = next(r for r in pair if r["verdict"] == "hold")
    assert held["reason_ids"] == ["near_duplicate"]
    assert held["similar_to"] == kept["image_id"]
    assert detail(held, "near_duplicate") == f"similar to {kept['image_id']}"
    sharpness = dict(query(warehouse, "select image_id, score from scores "
                                      "where scorer_id = 'technical_sharpness' "
                                      "and image_id in (1, 2)"))
    assert sharpness[kept["image_id"]] >= sharpness[held["image_id"]]


def test_a_prompt_naming_an_artist_is_rejected_and_the_name_kept_out_of_the_text(gate):
    row = decisions(gate[0])[5]
    assert row["verdict"] == "reject"
    assert {"prohibited_names", "artist_reference"} <= set(row["reason_ids"])
    assert "Greg Rutkowski" in detail(row, "prohibited_names")
    assert "Alphonse Mucha" in detail(row, "prohibited_names")
    assert "by Greg Rutkowski" in detail(row, "artist_reference")
    text = (row["title"] + " " + " ".join(row["keywords"])).lower()
    assert "rutkowski" not in text and "mucha" not in text and "style" not in text
    assert row["title"] == "Colourful balloons in a night sky"


def test_a_missing_file_is_unknown_never_a_pass(gate):
    row = decisions(gate[0])[7]
    assert row["verdict"] == "hold"
    statuses = {r["rule_id"]: r["status"] for r in row["reasons"]}
    for rule in ("min_megapixels", "max_megapixels", "max_file_mb", "text_in_image", "nsfw",
                 "people_present", "quality"):
        assert statuses[rule] == "unknown", rule


def test_titles_and_keywords_drop_filler_and_fit(gate):
    row = decisions(gate[0])[1]
    assert row["title"] == "A red barn in a green field at sunset"
    assert "," not in row["title"] and len(row["title"]) <= 70
    for filler in ("8k", "artstation", "unreal", "detailed", "trending"):
        assert filler not in row["keywords"]
    assert row["keywords"][:4] == ["red", "barn", "green", "field"]
    assert "hill" in row["keywords"]  # plural made singular
    assert row["category_id"] == 11  # "field", the first keyword the mapping knows
    reasons = query(gate[0], "select rule_id, n_images from rpt_submission_reasons "
                             "where image_set = 'pool' order by rank")
    assert reasons and reasons[0][1] >= reasons[-1][1]


def test_a_rebuild_describes_only_prompts_it_has_not_described(packs, capfd):
    """Titles, own keywords and the names found are kept for prompts described before
    with the same describer (describer_sha); so are the keywords filled from the
    neighbours, but for a prompt whose vector changed (keyword_vector_digest)."""
    warehouse, config, _ = packs
    columns = ("prompt_raw, title, keywords, prompt_keywords, n_prompt_keywords, "
               "category_id, prohibited_terms, artist_references, news_event_terms, "
               "content_type, describer_sha, keyword_fill_sha, keyword_fill_floor, "
               "in_keyword_reference")
    sql = f"select {columns} from submission_prompt_texts order by prompt_raw"
    before = query(warehouse, sql)
    assert before and len({r[10] for r in before}) == 1 and before[0][10]
    assert len({r[11] for r in before}) == 1 and any(r[12] is not None for r in before)
    # One row as if described by another version of the describer, wrongly; another
    # as if filled from another vector, wrongly.
    con = duckdb.connect(str(warehouse))
    try:
        con.execute("update submission_prompt_texts set describer_sha = 'older', "
                    "title = 'stale title' where prompt = 'A lighthouse on a cliff'")
        con.execute("update submission_prompt_texts set keyword_vector_digest = 'other', "
                    "keywords = ['stale'] where prompt = 'A lighthouse on a cliff'")
    finally:
        con.close()
    capfd.readouterr()
    assert _cli(warehouse, config, "dbt", "run", "-s", "submission_prompt_texts") == 0
    printed = capfd.readouterr().err
    assert f"described 1 prompt(s), kept {len(before) - 1} from the last build" in printed
    assert re.search(r"keywords of 1 prompts filled to \d+ from \d+ nearest-prompt "
                     rf"candidates \(team_text\); {len(before) - 1} kept", printed), printed
    assert query(warehouse, sql) == before


def test_few_keywords_are_filled_from_the_nearest_prompts_and_too_few_hold(gate):
    rows = decisions(gate[0])
    # The lighthouse prompt's two words, then the words both barn prompts use (alike
    # in score, so by name): not their colours and light (taken from a prompt itself
    # only), not sunset or dusk (one barn prompt each).
    assert rows[7]["keywords"] == ["lighthouse", "cliff", "barn", "country", "farmhouse",
                                   "fence", "field", "hill", "road", "rolling", "wooden"]
    texts = {r[0]: r[1:] for r in query(gate[0], (
        "select prompt, n_prompt_keywords, keyword_embedder, keyword_note "
        "from submission_prompt_texts"))}
    assert texts["A lighthouse on a cliff"] == (2, "team_text", None)
    # The balloons' four words: no near prompt lends more, so the metadata rule holds
    # it (the policy here asks for 5); the barn's own words are enough.
    metadata = {r["image_id"]: r for r in query_checks(gate[0], "metadata")}
    assert metadata[5][0] == "fail" and metadata[5][1].startswith("4 keyword(s), at least 5"), \
        metadata[5]
    assert "nearest prompts add no more" in metadata[5][1]
    assert metadata[1][0] == "pass" and metadata[7][0] == "pass"
    assert "metadata" in rows[5]["reason_ids"]


def query_checks(warehouse: Path, rule: str) -> list[dict]:
    return [{"image_id": r[0], 0: r[1], 1: r[2]} for r in query(
        warehouse, "select image_id, status, detail from submission_checks where rule_id = ?",
        [rule])]


def test_agreement_with_ratings_covers_each_rating(gate):
    rows = query(gate[0], "select rating, verdict, n_images, share_of_rating "
                          "from rpt_submission_agreement order by rating")
    assert {r[0] for r in rows} == {4, 5}
    assert all(r[3] == 1.0 for r in rows)


# --- the pack --------------------------------------------------------------------------


def test_submit_writes_an_upload_pack_within_every_limit(packs, tmp_path):
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    with (out / "adobe_stock.csv").open(newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert table[0] == HEADER
    body = table[1:]
    # Pool images with verdict submit (1 of the barn pair, the sphere) and the rated 4.
    assert len(body) == 3
    for filename, title, keywords, category, releases in body:
        assert len(filename) <= 30 and filename.endswith(".jpg")
        assert (out / "images" / filename).is_file()
        assert len(title) <= 70 and "," not in title and title
        assert 0 < len(keywords.split(", ")) <= 50
        assert category.isdigit()
        assert releases == ""
    assert len({row[0] for row in body}) == len(body)
    sphere = next(row for row in body if row[0].endswith("-6.jpg"))
    # The prompt's quotes leave the title (a marketplace refuses special characters);
    # the keywords, commas and all, stay one field.
    assert sphere[1] == "Abstract glass sphere"
    assert sphere[2].split(", ")[:3] == ["abstract", "glass", "sphere"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["policy"] == "adobe_stock" and manifest["version"] == 5
    assert {r["id"] for r in manifest["rules"]} >= {"min_megapixels", "near_duplicate"}
    assert all(r["source"].startswith("https://") for r in manifest["rules"])
    assert sum(c["n"] for c in manifest["counts"]["verdicts"]) == len(IMAGES)
    declarations = list(csv.DictReader((out / "declarations.csv").open(encoding="utf-8")))
    assert {d["created_using_generative_ai"] for d in declarations} == {"yes"}
    # No prompt here asks for a photograph: every file goes up as an illustration.
    assert {d["content_type"] for d in declarations} == {"illustration"}
    # The image whose only problem is resolution waits for the upscaler.
    upscale = list(csv.DictReader((out / "upscale.csv").open(encoding="utf-8")))
    assert [u["image_id"] for u in upscale] == ["4"]
    assert float(upscale[0]["factor"]) == pytest.approx(3.91)
    assert (out / "to_upscale" / upscale[0]["name"]).is_file()


def test_the_transparent_png_comes_out_an_srgb_jpeg_without_exif(packs, tmp_path):
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    (path,) = (out / "images").glob("*-6.jpg")
    with Image.open(path) as image:
        assert image.format == "JPEG" and image.mode == "RGB"
        assert not image.getexif()
        profile = ImageCms.ImageCmsProfile(io.BytesIO(image.info["icc_profile"]))
        assert "sRGB" in ImageCms.getProfileDescription(profile)
        corner = image.getpixel((5, 5))
    assert min(corner) >= 245  # transparency on white, not the black under it


def test_every_packed_jpeg_carries_its_title_keywords_and_ai_source_in_xmp(packs, tmp_path):
    # Read back by a real reader: Debian's exiftool (scripts/setup_browser.sh installs it).
    import shutil
    import subprocess

    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool is not installed (scripts/setup_browser.sh installs it)")
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    rows = {r["Filename"]: r for r in csv.DictReader(
        (out / "adobe_stock.csv").open(encoding="utf-8"))}
    assert rows
    read = json.loads(subprocess.run(
        [exiftool, "-j", "-G1", "-XMP:all", *sorted(str(out / "images" / n) for n in rows)],
        check=True, capture_output=True, text=True).stdout)
    for meta in read:
        row = rows[Path(meta["SourceFile"]).name]
        assert meta["XMP-dc:Title"] == row["Title"]
        subject = meta["XMP-dc:Subject"]
        assert (subject if isinstance(subject, list) else [subject]) == \
            row["Keywords"].split(", ")
        assert meta["XMP-iptcExt:DigitalSourceType"] == (
            "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia")


def test_a_second_run_writes_nothing_and_a_full_dir_is_refused(packs, tmp_path, capsys):
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    # Every file but the manifest, which names each pack's own id.
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*")
              if p.is_file() and p.name != "manifest.json"}
    (out / "mine.txt").write_text("not the pack's")
    capsys.readouterr()
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not empty" in err and "--force" in err
    assert _cli(warehouse, config, "submit", "--out", str(out), "--force") == 0
    assert "1 files written" in capsys.readouterr().out  # the manifest
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert (out / "mine.txt").read_text() == "not the pack's"
    # --limit 1: only the best image; the others' earlier files go, nothing else does.
    assert _cli(warehouse, config, "submit", "--out", str(out), "--force", "--limit", "1") == 0
    assert len(list((out / "images").iterdir())) == 1
    assert (out / "mine.txt").is_file()


def test_upscaled_files_come_back_checked_again(packs, tmp_path, capsys):
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    (row,) = csv.DictReader((out / "upscale.csv").open(encoding="utf-8"))
    upscaled = tmp_path / "upscaled"
    upscaled.mkdir()
    with Image.open(out / "to_upscale" / row["name"]) as image:
        image.resize((int(row["min_width"]), int(row["min_height"])),
                     Image.Resampling.LANCZOS).save(upscaled / row["name"])
    assert _cli(warehouse, config, "submit", "--out", str(out), "--force",
                "--upscaled", str(upscaled)) == 0
    names = [r["Filename"] for r in csv.DictReader((out / "adobe_stock.csv").open())]
    assert any(name.endswith("-4.jpg") for name in names)
    assert not (out / "upscale.csv").exists()
    # The next pack, with the same upscaled folder: the upscaled image was sent, and is
    # counted with the rest of what the ledger leaves out (the demo's second pack).
    capsys.readouterr()
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "next"),
                "--upscaled", str(upscaled)) == 0
    printed = capsys.readouterr().out
    assert "0 images" in printed and f"{len(names)} sent in earlier packs" in printed, printed
    assert not (tmp_path / "next" / "upscale.csv").exists()
    # Too small even after "upscaling": checked again, and left out.
    Image.new("RGB", (600, 600), "grey").save(upscaled / row["name"])
    assert _cli(warehouse, config, "submit", "--out", str(out), "--force",
                "--upscaled", str(upscaled)) == 0
    names = [r["Filename"] for r in csv.DictReader((out / "adobe_stock.csv").open())]
    assert not any(name.endswith("-4.jpg") for name in names)


# --- the submission ledger -----------------------------------------------------------


def _ledger(warehouse: Path) -> list[tuple]:
    return query(warehouse, "select pack_id, event, image_id, file_name, file_sha256, title, "
                            "motif from annotations.submissions order by recorded_at, image_id")


def _packed(out: Path) -> set[int]:
    names = [r["Filename"] for r in csv.DictReader((out / "adobe_stock.csv").open())]
    return {int(name.removesuffix(".jpg").rsplit("-", 1)[1]) for name in names}


def test_the_ledger_keeps_a_second_pack_from_sending_an_image_again(packs, tmp_path, capsys):
    warehouse, config, _ = packs
    first = tmp_path / "first"
    assert _cli(warehouse, config, "submit", "--out", str(first)) == 0
    sent = _packed(first)
    assert len(sent) == 3
    pack_id = json.loads((first / "manifest.json").read_text())["pack_id"]
    rows = _ledger(warehouse)
    # One `packed` row per image, with the sha256 of the very file written.
    assert {(r[0], r[1]) for r in rows} == {(pack_id, "packed")}
    assert {r[2] for r in rows} == sent
    for _, _, _, name, digest, title, motif in rows:
        assert sha256_of(first / "images" / name) == digest and title and motif
    # A second pack, into a new folder: nothing new, and it says why.
    capsys.readouterr()
    second = tmp_path / "second"
    assert _cli(warehouse, config, "submit", "--out", str(second)) == 0
    out = capsys.readouterr().out
    assert "0 images" in out and "3 sent in earlier packs" in out, out
    notes = json.loads((second / "manifest.json").read_text())["pack"]["notes"]
    assert sum(f"sent in pack {pack_id}" in n["note"] for n in notes) == 3
    assert len(_ledger(warehouse)) == 3  # an empty pack records nothing
    # --resubmit names what goes again; an id in no pack is one line.
    again = min(sent)
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "third"),
                "--resubmit", str(again)) == 0
    assert _packed(tmp_path / "third") == {again}
    capsys.readouterr()
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "x"),
                "--resubmit", "999999") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "999999" in err and "in no pack" in err
    # Withdrawn (never uploaded): a row is added, none removed; its other images go again.
    assert _cli(warehouse, config, "submissions", "withdraw", pack_id) == 0
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "fourth")) == 0
    assert _packed(tmp_path / "fourth") == sent - {again}
    events = [(r[0], r[1]) for r in _ledger(warehouse)]
    assert events.count((pack_id, "packed")) == 3 and events.count((pack_id, "withdrawn")) == 1
    capsys.readouterr()
    assert _cli(warehouse, config, "submissions", "withdraw", pack_id) == 1
    assert "withdrawn already" in capsys.readouterr().err
    # The ledger as CSV: every row, a new file only.
    ledger_csv = tmp_path / "ledger.csv"
    assert _cli(warehouse, config, "submissions", "export", "--out", str(ledger_csv)) == 0
    exported = list(csv.DictReader(ledger_csv.open(encoding="utf-8")))
    assert len(exported) == len(_ledger(warehouse)) == 3 + 1 + 1 + 2
    assert {r["event"] for r in exported} == {"packed", "withdrawn"}
    assert _cli(warehouse, config, "submissions", "export", "--out", str(ledger_csv)) == 1


def test_a_motif_gets_at_most_its_versions_over_all_packs(packs, tmp_path, capsys):
    warehouse, config, root = packs
    # The three images the gate passes, made one prompt run (one prompt group).
    con = duckdb.connect(str(warehouse))
    con.execute("update pool set prompt_group = 'one motif' where image_id in "
                "(select image_id from submission_decisions where verdict = 'submit')")
    con.close()
    two = tmp_path / "two.yml"
    two.write_text(config.read_text().replace(
        "min_keywords: 5}", "min_keywords: 5, max_versions_per_motif: 2}"))
    assert _cli(warehouse, two, "submit", "--out", str(tmp_path / "a", ), "--limit", "1") == 0
    assert len(_packed(tmp_path / "a")) == 1
    # One sent before: one more may go now, the third waits for nothing (budget spent).
    capsys.readouterr()
    assert _cli(warehouse, two, "submit", "--out", str(tmp_path / "b")) == 0
    assert len(_packed(tmp_path / "b")) == 1
    assert "1 whose motif has its versions already" in capsys.readouterr().out
    notes = json.loads((tmp_path / "b" / "manifest.json").read_text())["pack"]["notes"]
    assert any("2 versions of its motif" in n["note"] for n in notes), notes
    assert {r[6] for r in _ledger(warehouse)} == {"one motif"}


def test_submit_force_replaces_its_own_pack_and_withdraws_it(packs, tmp_path):
    warehouse, config, _ = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    old = json.loads((out / "manifest.json").read_text())["pack_id"]
    assert _cli(warehouse, config, "submit", "--out", str(out), "--force") == 0
    new = json.loads((out / "manifest.json").read_text())["pack_id"]
    assert new != old and len(_packed(out)) == 3
    events = {(r[0], r[1]) for r in _ledger(warehouse)}
    assert events == {(old, "packed"), (old, "withdrawn"), (new, "packed")}


def test_an_unknown_override_is_one_line_at_build(gate, tmp_path, capsys):
    warehouse, _, root = gate
    bad = tmp_path / "bad.yml"
    bad.write_text("submission: {policy: adobe_stock, overrides: {min_megapixel: 4}}\n")
    capsys.readouterr()
    assert _cli(warehouse, bad, "build", "-s", "submission_decisions") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "submission.overrides.min_megapixel" in err and "min_megapixels" in err


# --- the parts, on their own -----------------------------------------------------------


def test_policy_overrides_are_checked_by_name_and_type():
    policy = load_policy("adobe_stock", {"min_megapixels": 2, "near_duplicate_budget": 2})
    assert policy.params["min_megapixels"] == 2 and policy.params["near_duplicate_budget"] == 2
    with pytest.raises(NeurostockError, match="quality_score: must be text"):
        load_policy("adobe_stock", {"quality_score": 3})
    with pytest.raises(NeurostockError, match="unknown submission policy 'shutterstock'"):
        load_policy("shutterstock")


def test_csv_splits_at_5000_rows_and_1_mb_and_quotes_stay_in_one_field():
    header = HEADER
    rows = [[f"img-{i}.jpg", f'Title "{i}", quoted', "a, b, c", "8", ""] for i in range(12_001)]
    chunks = csv_chunks(rows, header, max_rows=5000, max_bytes=1_000_000)
    assert len(chunks) == 3
    parsed = [list(csv.reader(io.StringIO(c.decode("utf-8")))) for c in chunks]
    assert [len(p) - 1 for p in parsed] == [5000, 5000, 2001]
    assert all(p[0] == header for p in parsed)
    assert parsed[0][1] == ["img-0.jpg", 'Title "0", quoted', "a, b, c", "8", ""]
    wide = [[f"img-{i}.jpg", "t", ", ".join(["keyword"] * 49), "8", ""] for i in range(3000)]
    chunks = csv_chunks(wide, header, max_rows=5000, max_bytes=1_000_000)
    assert len(chunks) > 1 and all(len(c) <= 1_000_000 for c in chunks)
    assert sum(len(list(csv.reader(io.StringIO(c.decode())))) - 1 for c in chunks) == 3000


def test_short_names_fit_30_characters_and_stay_unique():
    names = {short_name("A very long title about a majestic castle on a hill at dawn",
                        image_id, 30) for image_id in (1, 22, 2_111_057)}
    assert len(names) == 3 and all(len(n) <= 30 and n.endswith(".jpg") for n in names)
    assert short_name("Ünïcode café", 5, 30) == "unicode-cafe-5.jpg"
    assert short_name("", 5, 30) == "image-5.jpg"


def test_prompt_text_rules():
    describer = PromptDescriber(["Greg Rutkowski", "Disney"], ["8k", "highly detailed"],
                                {"castle": 2}, max_title_chars=70)
    long_prompt = ", ".join(f"word{i} castle tower" for i in range(40))
    text = describer.describe(long_prompt, long_prompt)
    assert len(text.title) <= 70 and "," not in text.title
    assert len(text.keywords) <= 49 and len(set(text.keywords)) == len(text.keywords)
    short = describer.describe("a castle, 8k", "a castle, 8k")
    assert short.keywords == ["castle"] and "only 1 keyword" in short.keyword_note
    assert short.category_id == 2
    # Whole words only: "disneyland" is not "Disney".
    assert describer.prohibited_in("a trip to disneyland") == []
    assert describer.prohibited_in("a DISNEY castle") == ["Disney"]
    assert describer.references_in("6_a_portrait_by_Pierre_Courbet") == ["by Pierre Courbet"]
    assert [singular(w) for w in ("cities", "boxes", "cats", "glass", "bus")] == \
        ["city", "box", "cat", "glass", "bus"]


def test_jpeg_of_a_cmyk_file_is_srgb(tmp_path):
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(path)
    payload, width, height = jpeg_bytes(path)
    with Image.open(io.BytesIO(payload)) as image:
        assert image.mode == "RGB" and (width, height) == (40, 30)
        assert image.getpixel((20, 15))[0] > 200


def _seed_column(name: str, column: str) -> list[str]:
    path = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds" / f"{name}.csv"
    with path.open(newline="", encoding="utf-8") as fh:
        return [row[column] for row in csv.DictReader(fh)]


def test_the_teams_real_prompts_give_titles_and_keywords_within_the_limits():
    from tests.conftest import SHARED_DATA
    from tests.prompt_reference import team_clean_prompt

    source = SHARED_DATA / "seed-research" / "big_set.csv"
    if not source.is_file():
        pytest.skip(f"{source} not present (../shared/data)")
    with source.open(newline="", encoding="utf-8") as fh:
        raw = [row["img_generation_promt"] for row in csv.DictReader(fh)]
    words = dict(zip(_seed_column("submission_category_words", "word"),
                     map(int, _seed_column("submission_category_words", "category_id")),
                     strict=True))
    describer = PromptDescriber(_seed_column("submission_prohibited_names", "term"),
                                _seed_column("submission_filler_terms", "term"), words)
    texts = [describer.describe(r, team_clean_prompt(r)) for r in raw]
    assert len(texts) == 10_000
    assert all(len(t.title) <= 70 and "," not in t.title for t in texts)
    assert all(len(t.keywords) <= 49 for t in texts)
    assert sum(bool(t.title) for t in texts) >= 0.99 * len(texts)
    # The team's prompts do name artists ("by Pierre Courbet", "Greg Rutkowski").
    assert sum(bool(t.prohibited_terms or t.artist_references) for t in texts) > 0
    for t in texts:
        lowered = (t.title + " " + " ".join(t.keywords)).lower()
        assert "artstation" not in lowered and "8k" not in t.keywords


def test_the_report_has_a_submission_page(gate, tmp_path):
    warehouse, config, _ = gate
    out = tmp_path / "report"
    assert _cli(warehouse, config, "report", "--out", str(out), "--no-docs") == 0
    page = (out / "submission.html").read_text(encoding="utf-8")
    assert 'href="submission.html"' in (out / "index.html").read_text(encoding="utf-8")
    assert "adobe_stock, policy version 5" in page
    assert "percentile override" in page
    for rule in ("text_in_image", "min_megapixels", "prohibited_names", "near_duplicate"):
        assert f'id="reason-{rule}-fail"' in page, rule
    assert "needs x3.91 upscaling" in page
    # Each example reason shows its picture (the thumbnail links to the image's page).
    examples = page[page.index("Examples per reason"):]
    assert '<ul class="examples">' in examples
    shown = re.findall(r'<img class="example" src="(submission/thumbs/[^"]+\.jpg)"', examples)
    assert shown and all((out / src).stat().st_size > 500 for src in shown)
    # The group of the barn pair shows the image kept and the one held beside it.
    kept = query(warehouse, "select image_id from submission_decisions "
                            "where image_id in (1, 2) and verdict = 'submit'")[0][0]
    assert f"<strong>image {kept} (kept)</strong>" in page
    assert f"similar to {kept}" in page


def test_the_markets_answer_comes_back_counted_and_never_twice(packs, tmp_path, capsys):
    warehouse, config, _ = packs
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "pack")) == 0
    names = sorted(r["Filename"] for r in csv.DictReader(
        (tmp_path / "pack" / "adobe_stock.csv").open(encoding="utf-8")))
    assert len(names) >= 2, names
    first, second = names[:2]
    # A portal's own column names (mapped), a European decimal comma, and five rows the
    # import cannot use: an unknown file, a second row for one file and date, a status
    # and a count that do not parse, a date that is no date.
    listing = tmp_path / "status.csv"
    listing.write_text(
        "Original filename;Content status;Reason;Downloads;Earnings;Date\n"
        f"{first};Approved;;2;1,25;2026-11-02\n"
        f"{second};Rejected;Similar content;0;0;2026-11-02\n"
        "nobody-1.jpg;Approved;;0;0;2026-11-02\n"
        f"{first};Approved;;2;1,25;2026-11-02\n"
        f"{second};Maybe;;0;0;2026-11-03\n"
        f"{second};Rejected;;two;0;2026-11-04\n"
        f"{second};Rejected;;0;0;yesterday\n", encoding="utf-8")
    capsys.readouterr()
    args = ("submissions", "import", str(listing), "--map", "Original filename=file_name",
            "--map", "Content status=status")
    assert _cli(warehouse, config, *args) == 0
    out = capsys.readouterr().out
    assert "7 rows" in out and "2 outcomes added, 0 imported before, 5 quarantined" in out
    assert "1 file names in no pack" in out and "1 second rows" in out
    assert "3 rows with a status, number or date" in out
    quarantine = query(warehouse, "select line_no, problem from "
                                  "annotations.outcomes_quarantine order by line_no")
    assert quarantine == [(4, "unknown_file"), (5, "duplicate"), (6, "unparsable"),
                          (7, "unparsable"), (8, "unparsable")]
    assert _cli(warehouse, config, *args) == 0
    assert "0 outcomes added, 2 imported before, 5 quarantined" in capsys.readouterr().out
    assert len(query(warehouse, "select 1 from annotations.outcomes")) == 2
    assert len(query(warehouse, "select 1 from annotations.outcomes_quarantine")) == 5
    # The mart and its breakdowns.
    assert _cli(warehouse, config, "build", "--skip-images", "-s",
                "stg_annotations__outcomes+", "stg_annotations__submissions+") == 0
    rows = dict((r[0], r[1:]) for r in query(
        warehouse, "select file_name, status, is_accepted, is_sold, downloads, earnings, "
                   "rejection_reason from submission_outcomes"))
    assert rows[first] == ("accepted", True, True, 2, 1.25, None)
    assert rows[second] == ("rejected", False, None, 0, 0.0, "Similar content")
    assert all(r[0] is None for n, r in rows.items() if n not in (first, second))
    overall = query(warehouse, "select n_sent, n_answered, n_accepted, acceptance_rate, "
                               "acceptance_ci_low, acceptance_ci_high, earnings "
                               "from rpt_submission_outcomes where breakdown = 'all'")[0]
    assert overall[:4] == (len(names), 2, 1, 0.5)
    # Wilson's interval for 1 of 2.
    assert overall[4] == pytest.approx(0.0945, abs=1e-3)
    assert overall[5] == pytest.approx(0.9055, abs=1e-3)
    assert overall[6] == 1.25
    reasons = query(warehouse, "select value, n_sent from rpt_submission_outcomes "
                               "where breakdown = 'rejection_reason'")
    assert reasons == [("Similar content", 1)]
    assert _cli(warehouse, config, "report", "--out", str(tmp_path / "report"),
                "--no-docs") == 0
    page = (tmp_path / "report" / "submission.html").read_text(encoding="utf-8")
    assert 'id="submission-outcomes"' in page and "Similar content" in page


def test_each_score_is_judged_by_the_markets_answer(packs, tmp_path):
    warehouse, config, _ = packs
    assert _cli(warehouse, config, "submit", "--out", str(tmp_path / "pack")) == 0
    names = sorted(r["Filename"] for r in csv.DictReader(
        (tmp_path / "pack" / "adobe_stock.csv").open(encoding="utf-8")))
    assert len(names) == 3, names
    # The first rejected; of the two accepted, the first sold.
    lines = [f"{name},{'Rejected' if i == 0 else 'Approved'},{int(i == 1)},2026-11-02"
             for i, name in enumerate(names)]
    listing = tmp_path / "status.csv"
    listing.write_text("file_name,status,downloads,date\n" + "\n".join(lines) + "\n",
                       encoding="utf-8")
    assert _cli(warehouse, config, "submissions", "import", str(listing)) == 0
    assert _cli(warehouse, config, "build", "--skip-images", "-s",
                "stg_annotations__outcomes+", "stg_annotations__submissions+") == 0
    got = {(r[0], r[1]): r[2:] for r in query(
        warehouse, "select scorer_id, label, n, n_positive, auc, auc_ci_low, auc_ci_high, "
                   "direction from rpt_outcome_agreement")}
    valid = {r[0] for r in query(warehouse, "select scorer_id from signal_summary "
                                            "where is_valid")}
    pairs = query(warehouse, """
        select s.scorer_id, o.is_accepted, o.is_sold, s.score
        from submission_outcomes o join image_signals s using (image_id)
        where o.is_accepted is not null and s.score is not null and isfinite(s.score)""")
    expected = {}
    for label, column in (("accepted", 1), ("sold", 2)):
        for scorer_id in sorted(valid):
            rows = [(r[column], r[3]) for r in pairs
                    if r[0] == scorer_id and r[column] is not None]
            if rows:
                expected[(scorer_id, label)] = rows
    assert set(got) == set(expected) and any(k[1] == "sold" for k in got)
    for key, rows in expected.items():
        y = [bool(r[0]) for r in rows]
        n, n_positive, auc, low, high, direction = got[key]
        assert (n, n_positive) == (len(rows), sum(y)), key
        assert (n, n_positive) == ((3, 2) if key[1] == "accepted" else (2, 1)), key
        reference = roc_auc_score(y, [r[1] for r in rows])
        assert auc == pytest.approx(reference, abs=1e-9), key
        assert direction == ("higher" if reference >= 0.5 else "lower")
        # One image of a class: no interval (Hanley & McNeil's needs two of each).
        assert low is None and high is None, key
    assert _cli(warehouse, config, "report", "--out", str(tmp_path / "report"),
                "--no-docs") == 0
    page = (tmp_path / "report" / "submission.html").read_text(encoding="utf-8")
    assert 'id="outcome-agreement"' in page


def test_an_outcomes_list_without_a_file_name_column_says_so(packs, tmp_path, capsys):
    warehouse, config, _ = packs
    listing = tmp_path / "sales.csv"
    listing.write_text("Asset,Sales\n1,2\n", encoding="utf-8")
    capsys.readouterr()
    assert _cli(warehouse, config, "submissions", "import", str(listing)) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no file name column (header: Asset, Sales)" in err[0]
    assert "use --map COLUMN=file_name" in err[0]


def test_an_empty_pack_forced_into_an_earlier_packs_folder_withdraws_it(packs, tmp_path,
                                                                        capsys):
    # The demo's case: `submit --force` into the folder of a pack, when nothing passes
    # now: no image packed, the earlier pack withdrawn (replaced), no traceback.
    warehouse, config, root = packs
    out = tmp_path / "pack"
    assert _cli(warehouse, config, "submit", "--out", str(out)) == 0
    (first_pack,) = {r[0] for r in _ledger(warehouse)}
    strict = tmp_path / "strict.yml"
    strict.write_text(config.read_text().replace(
        "min_keywords: 5}", "min_keywords: 5, min_megapixels: 1000}"))
    assert _cli(warehouse, strict, "build", "--skip-images", "-s",
                "submission_decision_rule+") == 0
    capsys.readouterr()
    assert _cli(warehouse, strict, "submit", "--out", str(out), "--force") == 0
    assert "0 images" in capsys.readouterr().out
    # The first pack's rows, and one withdrawal of it: no row for the empty pack.
    assert {(r[0], r[1]) for r in _ledger(warehouse)} == {(first_pack, "packed"),
                                                         (first_pack, "withdrawn")}


def test_submit_killed_halfway_leaves_the_ledger_and_the_folder_consistent(packs, tmp_path):
    # A real `neurostock submit` in a process of its own, SIGKILLed as soon as its first
    # JPEG is in the folder (the gate's images are 4 MP: writing them takes a while).
    # Whenever it dies: a pack is in the ledger exactly when its manifest names it and
    # every file the manifest lists is there with the sha256 the ledger holds.
    import os
    import signal
    import subprocess
    import sys
    import time

    warehouse, config, _ = packs
    out = tmp_path / "killed"
    env = {**os.environ, "NEUROSTOCK_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "neurostock.cli", "--warehouse", str(warehouse), "--config",
         str(config), "submit", "--out", str(out)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if out.is_dir() and any((out / "images").glob("*.jpg*")):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    process.wait(timeout=60)
    rows = _ledger(warehouse)
    manifest = out / "manifest.json"
    if manifest.exists():  # it finished before the kill: a whole, recorded pack
        record = json.loads(manifest.read_text())
        assert {r[0] for r in rows} == {record["pack_id"]}
        for _, _, _, name, sha, *_ in rows:
            assert sha256_of(out / "images" / name) == sha
    else:  # killed while writing: nothing recorded, nothing claimed as sent
        print(f"killed while writing: {sorted(p.name for p in out.rglob('*'))}")
        assert rows == [], rows
        assert process.returncode == -signal.SIGKILL
    # Either way the next pack, into a new folder, is consistent with the ledger.
    again = tmp_path / "again"
    assert _cli(warehouse, config, "submit", "--out", str(again)) == 0
    later = [r for r in _ledger(warehouse) if r[0] != (rows[0][0] if rows else None)]
    assert {r[3] for r in later} == set(_packed_names(again))
    for _, _, _, name, sha, *_ in later:
        assert sha256_of(again / "images" / name) == sha


def _packed_names(out: Path) -> list[str]:
    return [r["Filename"] for r in csv.DictReader((out / "adobe_stock.csv").open())]


def test_a_packs_expected_sellable_images_carry_the_decisions_interval():
    from neurostock.submit.pack import expected_in_pack

    decision = {"is_reached": True, "oos_precision": 0.8, "oos_precision_low": 0.8,
                "oos_precision_ci_low": 0.7, "oos_precision_ci_high": 0.9}
    assert expected_in_pack(decision, n_pool=50, n_rated=3) == {
        "unrated_images": 50, "rated_sellable_images": 3, "expected_sellable": 43.0,
        "expected_sellable_ci95": [38.0, 48.0]}
    # Bounds only (a score covering part of the rated images): the cautious low bound.
    bounds = {**decision, "oos_precision": None, "oos_precision_low": 0.6}
    assert expected_in_pack(bounds, 10, 0)["expected_sellable"] == 6.0
    assert expected_in_pack({**decision, "is_reached": False}, 10, 0) is None
    assert expected_in_pack(None, 10, 0) is None


def test_the_quality_rule_and_target_precision_are_checked(tmp_path):
    assert load_policy("adobe_stock").params["quality_rule"] == "decision"
    with pytest.raises(NeurostockError, match="quality_rule: must be one of decision, "
                                              "percentile, got 'median'"):
        load_policy("adobe_stock", {"quality_rule": "median"})
    with pytest.raises(NeurostockError, match="target_precision: must be between 0 and 1"):
        load_policy("adobe_stock", {"target_precision": 1.5})
    assert load_policy("adobe_stock", {"target_precision": 0.6}).params["target_precision"] \
        == 0.6


def test_the_submission_section_of_neurostock_yml_is_typed(tmp_path):
    from neurostock.core.config import load_config

    path = tmp_path / "neurostock.yml"
    path.write_text("submission: {policy: adobe_stock, overrides: {min_megapixels: 2}}\n")
    assert load_config(path).submission.overrides == {"min_megapixels": 2}
    assert load_config(path).submission.policy == "adobe_stock"
    path.write_text("submission: {polcy: adobe_stock}\n")
    with pytest.raises(NeurostockError, match=r"submission\.polcy: unknown key"):
        load_config(path)
    path.write_text("submission: {overrides: [min_megapixels]}\n")
    with pytest.raises(NeurostockError, match=r"submission\.overrides: must be a mapping"):
        load_config(path)
