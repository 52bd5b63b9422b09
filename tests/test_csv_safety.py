"""CSV cells no spreadsheet runs (neurostock.core.csvsafe), and upload titles and
keywords that carry no formula, symbol or generator parameter (neurostock.submit.text).
The commands that write CSV files are checked end to end in tests/test_hostile.py."""

from __future__ import annotations

import csv
import io

import duckdb
import pytest

from neurostock.core.csvsafe import FORMULA_STARTS, safe_cell, safe_rows, safe_select
from neurostock.submit.pack import csv_chunks
from neurostock.submit.text import PromptDescriber

HOSTILE = [
    '=HYPERLINK("http://evil.example/a")&A1',
    "=1+1",
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9) a cat",
    "\t=1+1 a dog",
    "\r=1+1 a bird",
    "a cat on a sofa --ar 16:9 --v 5.2 --style raw",
]


def _starts_like_a_formula(cell: str) -> bool:
    return cell.startswith(FORMULA_STARTS)


@pytest.mark.parametrize("value", HOSTILE)
def test_a_cell_that_starts_like_a_formula_is_text(value):
    cell = safe_cell(value)
    if value.startswith(FORMULA_STARTS):
        assert cell == "'" + value
    else:
        assert cell == value


@pytest.mark.parametrize("value", ["-0.25", "+3", "1e-5", "-.5", 7, -2.5, None, "a=b", "",
                                   "café"])
def test_numbers_and_plain_text_are_left_as_they_are(value):
    assert safe_cell(value) == value


def test_duckdb_copy_rule_equals_the_python_rule(tmp_path):
    values = [*HOSTILE, "-0.25", "+3", "1e-5", "-.5", "a=b", "", "café", "-x", "@", None]
    con = duckdb.connect()
    con.execute("create table t (i integer, v varchar, n double)")
    con.executemany("insert into t values (?, ?, ?)",
                    [(i, v, -1.5 * i) for i, v in enumerate(values)])
    out = tmp_path / "t.csv"
    con.execute(f"copy ({safe_select(con, 'select * from t order by i desc')}) "
                f"to '{out}' (format csv, header true)")
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["i", "v", "n"]
    # Order, numbers and every text cell as the Python rule writes it.
    assert [int(r[0]) for r in rows[1:]] == list(range(len(values)))[::-1]
    expected = [safe_cell(v) for v in values][::-1]
    assert [r[1] for r in rows[1:]] == ["" if v is None else v for v in expected]
    assert all(float(r[2]) <= 0 for r in rows[1:])  # negative numbers stay numbers


def test_upload_csv_cells_never_start_like_a_formula():
    rows = [[f"f{i}.jpg", title, "=k, +x", "8", ""] for i, title in enumerate(HOSTILE)]
    chunks = csv_chunks(rows, ["Filename", "Title", "Keywords", "Category", "Releases"],
                        max_rows=5000, max_bytes=1_000_000)
    cells = [cell for chunk in chunks
             for row in csv.reader(io.StringIO(chunk.decode("utf-8"))) for cell in row]
    assert cells and not [c for c in cells if _starts_like_a_formula(c)]
    assert safe_rows([["=1", 2]]) == [["'=1", 2]]


@pytest.fixture
def describer():
    return PromptDescriber(["Disney"], ["8k", "trending on artstation"], {})


@pytest.mark.parametrize("prompt", HOSTILE)
def test_titles_and_keywords_carry_no_formula_or_symbol(describer, prompt):
    text = describer.describe(prompt, prompt)
    assert not _starts_like_a_formula(text.title)
    assert not any(ch in text.title for ch in "=+@,\"()!|&:/\t\r")
    assert all(k and not _starts_like_a_formula(k) for k in text.keywords)


def test_a_prompt_of_symbols_only_has_no_title(describer):
    assert describer.describe("=1+1", "=1+1").title == ""


def test_generator_parameters_and_weights_leave_the_title(describer):
    text = describer.describe(None, "a cat on a sofa --ar 16:9 --v 5.2 --style raw --seed 42")
    assert text.title == "A cat on a sofa"
    assert text.keywords == ["cat", "sofa"]
    text = describer.describe(None, "a (red:1.3) fox in snow, 8k, trending on artstation")
    assert text.title == "A red fox in snow"
    assert text.keywords == ["red", "fox", "snow"]


def test_keywords_keep_letters_of_any_script(describer):
    text = describer.describe(None, "café jalapeño on a table, naïve art")
    assert text.keywords == ["café", "jalapeño", "table", "naïve", "art"]
    assert text.title == "Café jalapeño on a table"


def test_the_seeds_filler_keeps_ai_declarations_and_render_jargon_out():
    from pathlib import Path

    seeds = Path(__file__).resolve().parents[1] / "dbt_project" / "seeds"
    with (seeds / "submission_filler_terms.csv").open(newline="", encoding="utf-8") as fh:
        filler = [row["term"] for row in csv.DictReader(fh)]
    describer = PromptDescriber([], filler, {})
    prompt = "a cat on a sofa, AI generated, generative ai, 3d render, octane render, 8k"
    text = describer.describe(prompt, prompt)
    assert text.title == "A cat on a sofa"
    assert text.keywords == ["cat", "sofa"]


def test_plurals_become_singular_by_the_lemmatiser_not_a_suffix_rule():
    from neurostock.submit.text import singular

    assert [singular(w) for w in ("cities", "mice", "children", "wolves", "series",
                                  "glasses", "news", "boxes", "painted", "running")] == \
        ["city", "mouse", "child", "wolf", "series", "glass", "news", "box", "painted",
         "running"]


@pytest.mark.parametrize(("prompt", "terms"), [
    ("protest in Paris 2020, photorealistic", ("protest", "Paris", "2020")),
    ("a war in Ukraine, soldiers in the snow", ("war", "Ukraine")),
    ("Turkey earthquake 2023, rescue workers", ("earthquake", "Turkey", "2023")),
    ("election night in New York, crowds", ("election", "New York")),
    # Not news: no real place, no event, a disaster without a year, a bird.
    ("a war of colours, abstract", ()),
    ("earthquake in Tokyo, anime style", ()),
    ("flood of light in a cathedral", ()),
    ("roast turkey on a table, 2024 thanksgiving dinner", ()),
    ("a cat on a sofa in Paris, 2021", ()),
])
def test_a_prompt_implying_a_real_news_event_is_named_with_its_words(describer, prompt,
                                                                      terms):
    assert describer.describe(prompt, prompt).news_event_terms == terms


@pytest.mark.parametrize(("prompt", "content"), [
    ("a cat on a sofa, photorealistic, 35mm, bokeh", "photo"),
    ("6_portrait_photo_of_a_woman_in_a_garden", "photo"),
    ("watercolor fox in the snow", "illustration"),
    ("realistic oil painting of a harbour", "illustration"),
    ("a castle on a hill", "illustration"),
])
def test_a_photorealistic_prompt_is_uploaded_as_a_photo(describer, prompt, content):
    assert describer.describe(prompt, prompt).content_type == content
