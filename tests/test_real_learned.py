"""The real check of the learned model: 1,200 real AI-generated images of AGIQA-3K
(../shared/data/agiqa3k: prompts, human quality MOS) turned into a source file, the
technical scorer and MiniLM prompt embeddings computed, the learned model trained
in `neurostock build`, and compared out-of-fold with the best single computed
score; shuffled ratings must fall to chance. Skips where ../shared is absent.

The source: one img_info row per image (its real path, prompt and generator as the
experiment model), one rating per image: the MOS quartile, 1 (worst) to 4."""

from __future__ import annotations

import os

import pytest

from neurostock.cli import main
from neurostock.core.config import CONFIG_ENV
from tests.conftest import query
from tests.real_sources import AGIQA, agiqa_config, agiqa_source

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (AGIQA / "data.csv").is_file(), reason="../shared/data/agiqa3k absent"),
]


@pytest.fixture(scope="module")
def agiqa(tmp_path_factory):
    root = tmp_path_factory.mktemp("agiqa")
    n = agiqa_source(root / "core.download.db")
    config = agiqa_config(
        root, "{name: quality, embedders: [minilm], kinds: [prompt], scores: true}")
    warehouse = root / "warehouse.duckdb"
    previous = os.environ.get(CONFIG_ENV)
    try:
        base = ["--warehouse", str(warehouse), "--config", str(config)]
        assert main([*base, "ingest", str(root / "core.download.db")]) == 0
        assert main([*base, "build", "--vars", "{big_set_size: 0}"]) == 0
        assert main([*base, "train", "--name", "shuffled", "--embedder", "minilm", "--kind",
                     "prompt", "--shuffle-labels"]) == 0
    finally:
        os.environ[CONFIG_ENV] = previous if previous is not None else "none"
    return warehouse, n


def test_learned_model_against_the_best_computed_score(agiqa):
    warehouse, n = agiqa
    rows = query(warehouse, """
        select scorer_id, n, spearman, spearman_ci_low, spearman_ci_high, auc
        from rpt_score_agreement where subset = 'all' order by abs(spearman) desc""")
    by_id = {r[0]: r[1:] for r in rows}
    learned = by_id["learned_quality"]
    computed = [r for r in rows if r[0].startswith("technical_")]
    best = computed[0]
    for name, values in (("learned_quality", learned), (best[0], best[1:]),
                         ("learned_shuffled", by_id["learned_shuffled"])):
        count, rho, low, high, auc = values
        print(f"AGIQA-3K {name}: n={count} spearman={rho:.3f} [{low:.3f}, {high:.3f}] "
              f"auc={auc:.3f}")
    assert learned[0] == n == 1200
    assert learned[2] <= learned[1] <= learned[3]
    # Learned from the ratings, judged out of fold, it beats every single computed score.
    assert learned[1] > abs(best[2])
    # Shuffled ratings: nothing to learn, the interval covers zero.
    shuffled = by_id["learned_shuffled"]
    assert shuffled[2] < 0 < shuffled[3]
    assert learned[2] > shuffled[3]


def test_prompts_shared_by_generators_stay_in_one_fold(agiqa):
    warehouse, _ = agiqa
    shared = query(warehouse, """
        select f.prompt, count(distinct s.components['fold'])
        from imported.scores__learned_quality s join full_set f using (image_id)
        group by f.prompt having count(*) > 1""")
    assert len(shared) > 100  # AGIQA renders each prompt with several generators
    assert all(folds == 1 for _, folds in shared)
