"""score.catalog: the one list of computed scorers, and what reads it."""

from __future__ import annotations

import importlib

import pytest

from neurostock.core.config import SCORERS
from neurostock.core.errors import NeurostockError
from neurostock.score.catalog import (
    CATALOG,
    ENTRIES,
    ScorerEntry,
    catalog_of,
    load_scorer,
    scorer_entry,
)
from neurostock.score.technical import TechnicalQuality
from neurostock.score.udfs import scorer_fingerprint


def test_catalog_lists_exactly_the_scorers_the_config_accepts(tmp_path):
    # The config accepts every catalogued id and nothing else.
    from neurostock.core.config import load_config

    config = tmp_path / "neurostock.yml"
    config.write_text(f"scorers: [{', '.join(CATALOG)}]\n")
    assert set(load_config(config).scorers) == set(CATALOG)
    config.write_text("scorers: [technical, nima]\n")
    with pytest.raises(NeurostockError, match="scorers"):
        load_config(config)


def test_the_catalog_refuses_to_load_when_it_drifts_from_the_config():
    extra = ScorerEntry("nima", "x.nima", "Nima", "more aesthetic", 0.0, 10.0)
    with pytest.raises(ImportError, match="SCORERS is technical"):
        catalog_of((*ENTRIES, extra), SCORERS)
    with pytest.raises(ImportError, match="SCORERS is"):
        catalog_of(ENTRIES[1:], SCORERS)
    with pytest.raises(ImportError, match="lists scorer phash twice"):
        catalog_of((*ENTRIES, ENTRIES[1]), SCORERS)
    assert catalog_of(ENTRIES, SCORERS) == CATALOG


@pytest.mark.parametrize("scorer_id", sorted(CATALOG))
def test_each_entry_names_a_class_that_scores_under_its_id(scorer_id):
    entry = CATALOG[scorer_id]
    cls = getattr(importlib.import_module(entry.module), entry.class_name)
    assert cls.scorer_id == scorer_id
    assert callable(cls.score_images)
    assert entry.higher_is.strip()
    low, high = entry.expected_min, entry.expected_max
    assert low is None or high is None or low < high


def test_load_scorer_builds_the_catalogued_class_and_refuses_an_unknown_id():
    assert isinstance(load_scorer("technical"), TechnicalQuality)
    with pytest.raises(NeurostockError, match="unknown scorer 'nima' .known: technical"):
        scorer_entry("nima")


def test_fingerprint_is_unchanged_by_the_move_to_core_fileio():
    # Recorded with every cached result: a new value would recompute every score.
    # sha256 of json.dumps(["technical", "1", null]), first 16 hex digits.
    assert scorer_fingerprint(TechnicalQuality()) == "9a6192fb4c84e220"
