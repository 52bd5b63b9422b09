"""score.catalog: the one list of computed scorers, and what reads it."""

from __future__ import annotations

import importlib

import pytest

from neurostock.core.config import SCORERS
from neurostock.core.errors import NeurostockError
from neurostock.score.catalog import CATALOG, load_scorer, scorer_entry
from neurostock.score.technical import TechnicalQuality
from neurostock.score.udfs import scorer_fingerprint


def test_catalog_lists_exactly_the_scorers_the_config_accepts():
    assert set(CATALOG) == set(SCORERS)
    assert all(key == entry.scorer_id for key, entry in CATALOG.items())


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
