"""One row per (image, embedder, keyword group): the group's probability, the sum of its
keywords' zero-shot probabilities over the whole keyword list (the groups of one image
sum to 1; neurostock/analysis/zero_shot.py), for every embedded image: a handful of
rows per image at any pool size.

Incremental like keyword_zero_shot: only new or changed (image, embedder) pairs are
computed; pairs whose image vector left the warehouse are deleted by the post-hook."""

from neurostock.analysis.staged import stage
from neurostock.analysis.zero_shot import (
    GROUP_SCHEMA,
    group_rows,
    keyword_lists,
    resumable,
    todo_batches,
)
from neurostock.core.progress import say

STAGED = "ns_keyword_group_zero_shot_new"


def model(dbt, session):
    dbt.config(materialized="incremental", unique_key=["image_id", "embedder_id"],
               incremental_strategy="delete+insert", on_schema_change="append_new_columns")
    scale = float(dbt.config.get("logit_scale"))
    dbt.ref("int_image_vector_facts")
    dbt.ref("image_embeddings")
    dbt.ref("keyword_embeddings")
    this = str(dbt.this) if dbt.is_incremental and resumable(
        session, "keyword_group_zero_shot") else None
    lists = keyword_lists(session, "keyword_embeddings")
    batches = todo_batches(session, facts="int_image_vector_facts",
                           embeddings_table="image_embeddings", this=this,
                           lists=lists, completeness_sql=None,
                           model="keyword_group_zero_shot")
    n = stage(session, STAGED, GROUP_SCHEMA,
              ((group_rows(batch, scale), len(batch.image_id)) for batch in batches),
              label="keyword_group_zero_shot")
    say(f"keyword_group_zero_shot: {n:,} (image, embedder) pairs computed"
        f"{'' if this else ' (all)'}")
    return session.table(STAGED)
