"""Zero-shot keyword probabilities of image vectors, in batches (the dbt Python models
keyword_zero_shot and keyword_group_zero_shot).

A probability is a softmax over the embedder's whole keyword list of
logit_scale x cosine(image, keyword), as CLIP is trained to be read, computed in float64
on a batch of images at a time: one matrix product per batch, so the pool's images x
keywords never exist as rows in SQL (at 400,000 images and ~150 keywords that was 60 M
rows through two window functions, which ran DuckDB out of its memory limit).

Incremental: only (image, embedder) pairs whose image vector (vector_hash), keyword list
(keyword_list_hash) or, for the per-keyword rows, completeness changed are computed; the
models write them with delete+insert on (image_id, embedder_id). What is to compute is
found in the vectors' facts (int_image_vector_facts: hashes, lengths, problems) and only
those vectors are read: a build with nothing new reads none. Vectors no keyword can be
compared with (int_image_vectors.problem: a NaN or infinite value, another length than
the embedder's usual one, all zeros; or another length than its keywords') are counted,
said in the build log and left out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from neurostock.core.progress import say

BATCH = 20_000


@dataclass(frozen=True)
class KeywordList:
    """One embedder's keywords, sorted by keyword (the rank's tie-break), unit length."""

    embedder_id: str
    keywords: np.ndarray  # str, sorted
    groups: np.ndarray  # str, 'unlisted' for a keyword the seed does not list
    unit: np.ndarray  # (n_keywords, dim) float64
    list_hash: int


@dataclass(frozen=True)
class Batch:
    """A batch of one embedder's images to compute: ids, their vectors' facts, vectors."""

    keywords: KeywordList
    image_id: np.ndarray
    is_random_init: np.ndarray
    vector_hash: np.ndarray
    is_complete: np.ndarray | None
    vectors: np.ndarray  # (n, dim) float64


def softmax(vectors: np.ndarray, unit_keywords: np.ndarray,
            scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(logits, probabilities), each (n_images, n_keywords): scale x cosine, and its
    softmax along each row (minus the row's largest logit: exp() cannot overflow)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    logits = scale * ((vectors / norms) @ unit_keywords.T)
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return logits, weights / weights.sum(axis=1, keepdims=True)


def resumable(session, table: str, *columns: str) -> bool:
    """Whether the model's table from the last build holds the hashes (and `columns`)
    that tell what is done: a table built before the models were incremental is
    computed again whole, once (on_schema_change adds the new columns)."""
    present = {row[0] for row in session.execute(
        "select column_name from duckdb_columns() where schema_name = 'main' "
        "and table_name = ?", [table]).fetchall()}
    return {"vector_hash", "keyword_list_hash", *columns} <= present


def keyword_lists(session, keywords_table: str) -> list[KeywordList]:
    """Every embedder's keyword list. Its hash is the one the SQL models stored before
    (a table built by them is taken up, not computed again)."""
    frame = session.execute(f"""
        select embedder_id, keyword, coalesce(keyword_group, 'unlisted') as keyword_group,
               embedding::double[] as embedding, hash(embedding)::varchar as vector_hash
        from {keywords_table} order by embedder_id, keyword""").df()
    lists = []
    for embedder_id, rows in frame.groupby("embedder_id", sort=True):
        hashed = session.execute(
            "select hash(string_agg(k || '=' || g || '=' || h, '|' order by k)) "
            "from (select unnest(?::varchar[]) as k, unnest(?::varchar[]) as g, "
            "unnest(?::varchar[]) as h)",
            [rows["keyword"].tolist(), rows["keyword_group"].tolist(),
             rows["vector_hash"].tolist()]).fetchone()[0]
        dims = {len(v) for v in rows["embedding"]}
        if len(dims) != 1:
            say(f"zero-shot: {embedder_id}: keyword vectors of {len(dims)} lengths "
                f"({sorted(dims)}): no zero-shot probabilities")
            continue
        unit = np.array(rows["embedding"].tolist(), dtype=np.float64)
        norms = np.linalg.norm(unit, axis=1, keepdims=True)
        if not np.isfinite(unit).all() or not norms.all():
            say(f"zero-shot: {embedder_id}: a keyword vector is not finite or all zeros: "
                "no zero-shot probabilities")
            continue
        lists.append(KeywordList(embedder_id, rows["keyword"].to_numpy(dtype=object),
                                 rows["keyword_group"].to_numpy(dtype=object),
                                 unit / norms, int(hashed)))
    return lists


def todo_batches(session, *, facts: str, embeddings_table: str, this: str | None,
                 lists: list[KeywordList], completeness_sql: str | None,
                 model: str) -> Iterator[Batch]:
    """The batches of (image, embedder) pairs to compute: new, or changed since `this`
    computed them (None: all). facts: the vectors' facts (int_image_vector_facts); the
    vectors to compute, and only those, are read from embeddings_table (image_embeddings, the rows
    int_image_vectors reads) by image and embedder.
    completeness_sql: the SQL of is_complete (per-keyword rows) or None (group rows)."""
    for keywords in lists:
        complete = f", {completeness_sql} as is_complete" if completeness_sql else ""
        done = ""
        if this is not None:
            matched = ("done.vector_hash = wanted.vector_hash and "
                       "done.keyword_list_hash = wanted.keyword_list_hash")
            if completeness_sql:
                matched += " and done.is_complete = wanted.is_complete"
            done = (f"anti join (select distinct image_id, vector_hash, keyword_list_hash"
                    f"{', is_complete' if completeness_sql else ''} from {this} "
                    f"where embedder_id = $embedder) as done "
                    f"on done.image_id = wanted.image_id and {matched}")
        dim = keywords.unit.shape[1]
        params = {"embedder": keywords.embedder_id, "list_hash": keywords.list_hash}
        for why, n in session.execute(f"""
                select why, count(*) from (
                    select case when problem is not null then problem
                                when dim != $dim then 'not the keywords'' length ' || $dim
                           end as why
                    from {facts} where embedder_id = $embedder)
                where why is not null group by all order by all""",
                {"embedder": keywords.embedder_id, "dim": dim}).fetchall():
            say(f"{model}: {n:,} {keywords.embedder_id} image vectors left out ({why})")
        # What to compute, from the facts alone (ids and hashes, no vector). Nothing: no
        # vector is read.
        todo = session.execute(f"""
            with wanted as (
                select image_id, is_random_init, vector_hash,
                       $list_hash::ubigint as keyword_list_hash{complete}
                from {facts}
                where embedder_id = $embedder and problem is null and dim = {dim}
            )
            select wanted.* from wanted {done}""", params).to_arrow_table()
        if not todo.num_rows:
            continue
        # The vectors, streamed on a cursor of its own: the caller writes each batch's
        # rows on `session` between reads, which would end a result streamed on it.
        cursor = session.cursor()
        try:
            cursor.register("ns_zero_shot_todo", todo)
            reader = cursor.execute(f"""
                select todo.*, vectors.embedding
                from ns_zero_shot_todo as todo
                inner join {embeddings_table} as vectors
                    on vectors.image_id = todo.image_id and vectors.embedder_id = $embedder
                   and vectors.embedding is not null""",
                {"embedder": keywords.embedder_id}).to_arrow_reader(BATCH)
            for batch in _rebatched(reader):
                flat = batch.column("embedding").flatten().to_numpy(zero_copy_only=False)
                yield Batch(
                    keywords, batch.column("image_id").to_numpy(),
                    batch.column("is_random_init").to_numpy(zero_copy_only=False),
                    batch.column("vector_hash").to_numpy(),
                    batch.column("is_complete").to_numpy(zero_copy_only=False)
                    if completeness_sql else None,
                    flat.astype(np.float64).reshape(-1, dim))
        finally:
            cursor.close()


def _rebatched(reader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, non-empty."""
    for batch in reader:
        if batch.num_rows:
            yield batch


def keyword_rows(batch: Batch, scale: float, top_k: int) -> pa.Table:
    """The per-keyword rows of a batch: every keyword of a complete image, its top_k of
    another; keyword_rank 1 = the most probable (ties: by keyword)."""
    logits, probabilities = softmax(batch.vectors, batch.keywords.unit, scale)
    n, k = probabilities.shape
    # Stable: equal probabilities keep the keywords' (alphabetical) order.
    order = np.argsort(-probabilities, axis=1, kind="stable")
    kept = np.where(batch.is_complete, k, min(top_k, k))
    mask = np.arange(k)[None, :] < kept[:, None]
    rows, ranks = np.nonzero(mask)
    columns = order[rows, ranks]
    keywords = batch.keywords
    return pa.table({
        "image_id": pa.array(batch.image_id[rows], pa.int64()),
        "embedder_id": _repeated(keywords.embedder_id, len(rows)),
        "is_random_init": pa.array(batch.is_random_init[rows], pa.bool_()),
        "keyword": _coded(columns, keywords.keywords),
        "keyword_group": _coded(columns, keywords.groups),
        "logit": pa.array(logits[rows, columns], pa.float64()),
        "probability": pa.array(probabilities[rows, columns], pa.float64()),
        "keyword_rank": pa.array(ranks + 1, pa.int64()),
        "is_complete": pa.array(batch.is_complete[rows], pa.bool_()),
        "vector_hash": pa.array(batch.vector_hash[rows], pa.uint64()),
        "keyword_list_hash": pa.array(np.full(len(rows), keywords.list_hash, np.uint64)),
    })


def _coded(codes: np.ndarray, names: np.ndarray) -> pa.Array:
    """names[codes] as Arrow strings, decoded by Arrow (no Python string per row)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32)), pa.array(list(names), pa.string())
    ).cast(pa.string())


def _repeated(value: str, n: int) -> pa.Array:
    return _coded(np.zeros(n, dtype=np.int32), np.array([value], dtype=object))


def group_rows(batch: Batch, scale: float) -> pa.Table:
    """The per-group rows of a batch: each keyword group's summed probability."""
    _, probabilities = softmax(batch.vectors, batch.keywords.unit, scale)
    keywords = batch.keywords
    names, members = np.unique(keywords.groups.astype(str), return_inverse=True)
    one_hot = np.zeros((len(keywords.groups), len(names)))
    one_hot[np.arange(len(members)), members] = 1.0
    sums = probabilities @ one_hot
    n, g = sums.shape
    rows = np.repeat(np.arange(n), g)
    groups = np.tile(np.arange(g), n)
    return pa.table({
        "image_id": pa.array(batch.image_id[rows], pa.int64()),
        "embedder_id": _repeated(keywords.embedder_id, len(rows)),
        "keyword_group": _coded(groups, names.astype(object)),
        "is_random_init": pa.array(batch.is_random_init[rows], pa.bool_()),
        "probability": pa.array(sums.reshape(-1), pa.float64()),
        "n_keywords": pa.array(one_hot.sum(axis=0).astype(np.int64)[groups], pa.int64()),
        "vector_hash": pa.array(batch.vector_hash[rows], pa.uint64()),
        "keyword_list_hash": pa.array(np.full(len(rows), keywords.list_hash, np.uint64)),
    })


KEYWORD_SCHEMA = pa.schema([
    ("image_id", pa.int64()), ("embedder_id", pa.string()), ("is_random_init", pa.bool_()),
    ("keyword", pa.string()), ("keyword_group", pa.string()), ("logit", pa.float64()),
    ("probability", pa.float64()), ("keyword_rank", pa.int64()), ("is_complete", pa.bool_()),
    ("vector_hash", pa.uint64()), ("keyword_list_hash", pa.uint64()),
])

GROUP_SCHEMA = pa.schema([
    ("image_id", pa.int64()), ("embedder_id", pa.string()), ("keyword_group", pa.string()),
    ("is_random_init", pa.bool_()), ("probability", pa.float64()), ("n_keywords", pa.int64()),
    ("vector_hash", pa.uint64()), ("keyword_list_hash", pa.uint64()),
])
