"""Writing a learned model's scores: the table `imported.scores__learned_<name>` and its
`meta.scorers` row, so that everything downstream treats it like any outside score."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from neurostock.core.config import LearnedConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.scorers import ScorerInfo, ensure_scorers_table, get_scorer, upsert_scorer
from neurostock.core.warehouse import sql_string

SCHEMA = "imported"


def scores_table(cfg: LearnedConfig) -> str:
    """The qualified name of `cfg`'s scores table."""
    return f"{SCHEMA}.scores__{cfg.scorer_id}"


def write_scores(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, ids: np.ndarray,
                 predictions: np.ndarray, fold_of: np.ndarray, others: np.ndarray,
                 other_scores: np.ndarray, path: Path, model_sha: str,
                 forward=None) -> bool:
    """Replace the scores table (rated images out-of-fold with their fold, the others from
    the refitted model) and register the scorer, in one transaction; True when that
    changed anything. Scores, registry row and model file identical to what the table
    and registry already hold are left as they are (False): nothing downstream needs
    rebuilding. Raises NeurostockError when the scorer id belongs to a scorer of another
    kind."""
    components_type = pa.map_(pa.string(), pa.float64())
    oof_components = [[("fold", float(f)), ("out_of_fold", 1.0)] for f in fold_of]
    if forward is not None:
        # A decision model's forward score (learn/forward.py: from the model fitted on
        # what was generated before the image's period) and the period, beside it.
        for row, score, period in zip(forward.rows.tolist(), forward.scores.tolist(),
                                      forward.period.tolist(), strict=True):
            oof_components[row] += [("forward", float(score)),
                                    ("forward_period", float(period))]
    other_components = [[("out_of_fold", 0.0)] for _ in others]
    rows = pa.table({
        "image_id": pa.array(np.r_[ids, others].astype(np.int64)),
        "score": pa.array(np.r_[predictions, other_scores].astype(np.float64)),
        "components": pa.array(oof_components + other_components, type=components_type),
        "source_row": pa.array(np.arange(1, len(ids) + len(others) + 1), pa.int64()),
    })
    learned_from = ("every rated image (unusable included): P(usable) x E[rating 0-3 | "
                    "usable]" if cfg.model == "decision" else "full_set's ratings")
    description = (f"{cfg.model} learned from {learned_from}: out-of-fold for rated "
                   f"images, refitted model for the others; features: "
                   f"{', '.join(cfg.embedders) or 'no embeddings'} ({', '.join(cfg.kinds)})"
                   f"{' + valid scores' if cfg.use_scores else ''}"
                   f"{' + ' + ', '.join(cfg.context_blocks) if cfg.context_blocks else ''}"
                   f"{'; RATINGS SHUFFLED (leakage control)' if cfg.shuffle_labels else ''}")
    registered = get_scorer(con, cfg.scorer_id)
    if registered is not None and registered.kind != "learned":
        raise NeurostockError(f"scorer id {cfg.scorer_id} is a {registered.kind} scorer: "
                              "choose another name")
    info = ScorerInfo(
        scorer_id=cfg.scorer_id, kind="learned", source_file=str(path),
        source_sha256=model_sha, version=None,
        higher_is=("more sellable: expected rating 0-3, unusable counted as 0"
                   if cfg.model == "decision" else "better predicted rating (0-3)"),
        expected_min=None, expected_max=None,
        is_valid=True, invalid_reason=None, n_scored=rows.num_rows, description=description)
    if registered is not None and _same_scores(con, cfg, rows, info, registered):
        return False
    con.execute("begin transaction")
    try:
        con.execute(f"create schema if not exists {SCHEMA}")
        ensure_scorers_table(con)
        con.register("ns_learned_rows", rows)
        try:
            con.execute(
                f"create or replace table {scores_table(cfg)} as "
                "select image_id, score, components, source_row, "
                f"{sql_string(str(path))}::varchar as source_file, "
                f"{sql_string(model_sha)}::varchar as source_sha256, "
                "current_timestamp as imported_at from ns_learned_rows order by source_row")
        finally:
            con.unregister("ns_learned_rows")
        upsert_scorer(con, info)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return True


def _same_scores(con: duckdb.DuckDBPyConnection, cfg: LearnedConfig, rows: pa.Table,
                 info: ScorerInfo, registered: ScorerInfo) -> bool:
    """Whether the table and the registry row already hold exactly these rows (every
    score bit for bit, the same model file and sha256) and this row."""
    if registered != info:
        return False
    table = scores_table(cfg)
    exists = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = ? and table_name = ?", [SCHEMA, f"scores__{cfg.scorer_id}"]
    ).fetchone()[0]
    if not exists:
        return False
    con.register("ns_learned_rows", rows)
    try:
        differing = con.execute(f"""
            select count(*) from (
                (select image_id, score, components, source_row, source_file, source_sha256
                 from {table}
                 except all
                 select image_id, score, components, source_row,
                        {sql_string(info.source_file)}, {sql_string(info.source_sha256)}
                 from ns_learned_rows)
                union all
                (select image_id, score, components, source_row,
                        {sql_string(info.source_file)}, {sql_string(info.source_sha256)}
                 from ns_learned_rows
                 except all
                 select image_id, score, components, source_row, source_file, source_sha256
                 from {table}))""").fetchone()[0]
    finally:
        con.unregister("ns_learned_rows")
    return differing == 0
