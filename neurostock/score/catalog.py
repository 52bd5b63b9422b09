"""The computed scorers: one entry per scorer id, the only list of them in score/.

Each entry says where the scorer's class lives (imported only when the scorer is
loaded: the models are heavy), what a higher summary score means and the range it is
expected in; the registry row (`meta.scorers`), the dbt models and the UDF all read
it. neurostock/core/config.py keeps the plain tuple of ids (`SCORERS`) to check
neurostock.yml without importing score/; this module refuses to load when the two
disagree.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from neurostock.core.config import SCORERS
from neurostock.core.errors import NeurostockError


@dataclass(frozen=True)
class ScorerEntry:
    """One computed scorer: `module`.`class_name` scores images; `higher_is` and
    (`expected_min`, `expected_max`) describe its summary score (None: unbounded)."""

    scorer_id: str
    module: str
    class_name: str
    higher_is: str
    expected_min: float | None
    expected_max: float | None

    def load(self):
        """A new scorer object (its model loaded)."""
        return getattr(importlib.import_module(self.module), self.class_name)()


ENTRIES = (
    ScorerEntry("technical", "neurostock.score.technical", "TechnicalQuality",
                "sharper (variance of the Laplacian)", 0.0, None),
    ScorerEntry("phash", "neurostock.score.phash", "PerceptualHash",
                "n/a: a perceptual hash (score_text)", None, None),
    ScorerEntry("nsfw", "neurostock.score.nsfw", "NsfwDetector",
                "more likely not safe for work", 0.0, 1.0),
    ScorerEntry("text_in_image", "neurostock.score.text_in_image", "TextInImage",
                "more of the image covered by text", 0.0, 1.0),
)


def catalog_of(entries: tuple[ScorerEntry, ...], config_ids: tuple[str, ...]
               ) -> dict[str, ScorerEntry]:
    """scorer id -> entry; ImportError when an id is listed twice or the ids differ from
    the ones neurostock.yml accepts (core/config.py SCORERS): the two lists change
    together or the package does not load."""
    ids = [entry.scorer_id for entry in entries]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise ImportError(f"score/catalog.py lists scorer {', '.join(twice)} twice")
    if set(ids) != set(config_ids):
        raise ImportError(f"score/catalog.py lists scorers {', '.join(ids)} but "
                          f"neurostock/core/config.py SCORERS is {', '.join(config_ids)}: "
                          "change both together")
    return {entry.scorer_id: entry for entry in entries}


CATALOG: dict[str, ScorerEntry] = catalog_of(ENTRIES, SCORERS)


def scorer_entry(scorer_id: str) -> ScorerEntry:
    """The catalogue entry of `scorer_id`; NeurostockError naming the known ids otherwise."""
    try:
        return CATALOG[scorer_id]
    except KeyError:
        raise NeurostockError(f"unknown scorer {scorer_id!r} (known: "
                              f"{', '.join(CATALOG)})") from None


def load_scorer(scorer_id: str):
    """The scorer object for a configured id (its model loaded)."""
    return scorer_entry(scorer_id).load()
