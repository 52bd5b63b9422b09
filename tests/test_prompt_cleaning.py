"""The SQL prompt cleaning agrees with the team's Python rule on thousands of hostile strings."""

from __future__ import annotations

import random

import pytest

from neurostock.build.dbt_runner import run_dbt
from neurostock.ingest.sqlite_copy import ingest
from tests.conftest import query
from tests.prompt_reference import team_clean_prompt
from tests.source_builder import image_row, make_source

ALPHABET = (
    list("abcXYZ09 ")
    + list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    + ["_", "__", "..", "…", "—", "é", "\u00a0", "\u3000", "\n", "\r\n", "\t", "7_", "12_"]
)


def _hostile_prompts(n: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    prompts = []
    for _ in range(n):
        body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30)))
        prefix = rng.choice(["", "6_", "3_", "123_", "_", "6"])
        prompts.append(prefix + body)
    return prompts


def test_reference_matches_the_issue_examples():
    assert team_clean_prompt(
        "3_Beautiful_animation_and_lighting_shots_of_3d_characters_and_creatures."
    ) == "Beautiful animation and lighting shots of 3d characters and creatures."
    assert team_clean_prompt("7_revolving__amazing__cuddly__overlooke__patte") == (
        "revolving amazing cuddly overlooke patte"
    )


@pytest.mark.slow
def test_sql_cleaning_equals_the_team_rule(tmp_path):
    prompts = _hostile_prompts(3000)
    source = make_source(
        tmp_path / "core.download.db",
        [image_row(i + 1, prompt=p, name=f"{i}.jpg") for i, p in enumerate(prompts)],
    )
    warehouse = tmp_path / "warehouse.duckdb"
    ingest(source, warehouse)
    run_dbt(["run", "--select", "stg_core__img_info"], warehouse)

    rows = query(warehouse, "select image_id, prompt_raw, prompt from stg_core__img_info")

    assert len(rows) == len(prompts)
    mismatches = [
        (raw, sql, team_clean_prompt(raw))
        for _id, raw, sql in rows
        if sql != team_clean_prompt(raw)
    ]
    assert mismatches == []
