"""One row per (image, embedder, keyword) kept: the zero-shot probability of the
keyword, a softmax over the whole keyword list of var zero_shot_logit_scale x cosine
similarity (neurostock/analysis/zero_shot.py), with its logit. Every keyword of a rated
image (what the metrics read; and of every image with var zero_shot_keyword_signals,
where each keyword is a signal); the var zero_shot_pool_top_k most probable keywords of
an unrated pool image (is_complete false): at pool size every keyword of every image
would be ~300 M rows per embedder. keyword_rank: 1 = the image's most probable.

Incremental: only (image, embedder) pairs that are new, or whose vector, keyword list or
completeness changed, are computed (in numpy batches), and replace that pair's rows;
pairs whose image vector left the warehouse (or can no longer be compared) are deleted
by the post-hook (macros/zero_shot.sql)."""

from neurostock.analysis.staged import stage
from neurostock.analysis.zero_shot import (
    KEYWORD_SCHEMA,
    keyword_lists,
    keyword_rows,
    resumable,
    todo_batches,
)
from neurostock.core.progress import say

STAGED = "ns_keyword_zero_shot_new"


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key=["image_id", "embedder_id"],
               incremental_strategy="delete+insert", on_schema_change="append_new_columns")
    scale = float(dbt.config.get("logit_scale"))
    top_k = int(dbt.config.get("pool_top_k"))
    signals = str(dbt.config.get("keyword_signals")).lower() == "true"
    dbt.ref("int_image_vector_facts")
    dbt.ref("image_embeddings")
    dbt.ref("keyword_embeddings")
    dbt.ref("image_ratings")
    this = str(dbt.this) if dbt.is_incremental and resumable(session, "keyword_zero_shot",
                                                             "is_complete") else None
    lists = keyword_lists(session, "keyword_embeddings")
    completeness = "true" if signals else \
        "image_id in (select image_id from image_ratings)"
    batches = todo_batches(session, facts="int_image_vector_facts",
                           embeddings_table="image_embeddings", this=this,
                           lists=lists, completeness_sql=completeness,
                           model="keyword_zero_shot")
    n = stage(session, STAGED, KEYWORD_SCHEMA,
              ((keyword_rows(batch, scale, top_k), len(batch.image_id)) for batch in batches),
              label="keyword_zero_shot")
    say(f"keyword_zero_shot: {n:,} (image, embedder) pairs computed"
        f"{'' if this else ' (all)'}")
    return session.table(STAGED)
