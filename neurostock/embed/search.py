"""Nearest neighbours: images like an image, images like a text.

Where the build left the embedder's image index beside the warehouse
(`<warehouse>.index/`, written by image_embedding_pairs; compute/vector_index.py), it
is opened as a read-only memory map and asked for 2k+1 candidates, which are ranked
again here with array_cosine_similarity on the stored vectors: what is returned is
exact for the candidates, and the index's recall decides which candidates there are
(benchmarks/bench_embedding_index.py; docs/embeddings.md). Without an index (never
built, a prompt-only embedder, a warehouse copied without it) the search is the exact
scan over the embedder's FLOAT[dim] table: linear in the rows, ~0.7 s per 100k.
"""

from __future__ import annotations

import duckdb

from neurostock.core.config import Config
from neurostock.core.errors import NeurostockError

IMAGE_QUERY = """
select other.image_id,
       array_cosine_similarity(target.embedding, other.embedding) as similarity,
from emb_image__{e} as target
join emb_image__{e} as other on other.image_id != target.image_id
where target.image_id = ? and other.embedding is not null
order by similarity desc, other.image_id
limit ?
"""

# Rank the index's candidates exactly on the stored vectors.
CANDIDATES_QUERY = """
select other.image_id,
       array_cosine_similarity(?::float[{dim}], other.embedding) as similarity,
from emb_image__{e} as other
where other.image_id in (select unnest(?::bigint[]))
    and other.image_id != ? and other.embedding is not null
order by similarity desc, other.image_id
limit ?
"""

QUERY_VECTOR = """
select ns_embed_text('{e}', 'query', ?, sha256(?), 1).embedding::float[{dim}]
"""

TEXT_TO_IMAGE_QUERY = """
with query as (
    select ns_embed_text('{e}', 'query', ?, sha256(?), 1).embedding::float[{dim}] as embedding
)
select image.image_id,
       array_cosine_similarity(query.embedding, image.embedding) as similarity,
from emb_image__{e} as image, query
where image.embedding is not null
order by similarity desc, image.image_id
limit ?
"""

# Text-only embedders: images whose prompts are nearest to the text.
TEXT_TO_PROMPT_QUERY = """
with query as (
    select ns_embed_text('{e}', 'query', ?, sha256(?), 1).embedding::float[{dim}] as embedding
),
prompts as (select image_id, content_sha256 from int_prompts_hashed)
select prompts.image_id,
       array_cosine_similarity(query.embedding, e.embedding) as similarity,
from emb_prompt__{e} as e
join prompts using (content_sha256), query
where e.embedding is not null
order by similarity desc, prompts.image_id
limit ?
"""


def _embedder(con: duckdb.DuckDBPyConnection, config: Config, embedder_id: str | None,
              need_image: bool) -> tuple[str, int, list[str]]:
    """The embedder to search with, its dim and kinds.

    Its id is pasted into SQL as part of table names, so only an id registered in
    meta.embedding_models (where ids were checked against the id rule) gets that
    far; anything else is a one-line NeurostockError.
    """
    registered = con.execute(
        "select count(*) from duckdb_tables() where database_name = current_database() "
        "and schema_name = 'meta' and table_name = 'embedding_models'"
    ).fetchone()[0]
    if not registered:
        raise NeurostockError("no embedder is registered (meta.embedding_models is missing): "
                              "run `neurostock build` first")
    rows = con.execute(
        "select embedder_id, dim, kinds from meta.embedding_models order by embedder_id"
    ).fetchall()
    known = {r[0]: (r[1], r[2]) for r in rows}
    if embedder_id is None:
        configured = [e.id for e in config.embedders if e.id in known]
        pick = [i for i in configured if "image" in known[i][1]] if need_image else configured
        if not pick:
            raise NeurostockError("no embedder to search with: configure one and run "
                                  "`neurostock build`, or pass --embedder")
        embedder_id = pick[0]
    if embedder_id not in known:
        raise NeurostockError(
            f"embedder {embedder_id!r} is not in meta.embedding_models "
            f"(known: {', '.join(known) or 'none'})"
        )
    dim, kinds = known[embedder_id]
    return embedder_id, dim, kinds


def _through_index(con, embedder_id: str, dim: int, vector, exclude: int,
                   k: int) -> list[tuple[int, float]] | None:
    """The k nearest through the embedder's saved index (None: there is none)."""
    import numpy as np

    from neurostock.compute.vector_index import SIMILAR_EXPANSION, VectorIndex
    from neurostock.core.paths import connection_warehouse, image_index_file

    index = VectorIndex.load(image_index_file(connection_warehouse(con), embedder_id), dim,
                             view=True)
    if index is None or not len(index):
        return None
    keys, _ = index.search(np.asarray([vector], dtype=np.float32), min(len(index), 2 * k + 1),
                           expansion=SIMILAR_EXPANSION)
    candidates = [int(key) for key in keys[0].tolist() if key >= 0]
    return con.execute(CANDIDATES_QUERY.format(e=embedder_id, dim=dim),
                       [vector, candidates, exclude, k]).fetchall()


def similar_to_image(con, config: Config, image_id: int, embedder_id: str | None = None,
                     k: int = 20, exact: bool = False) -> list[tuple[int, float]]:
    """The k images nearest to `image_id` by the embedder's image embeddings (through
    its index where there is one, unless `exact`)."""
    embedder_id, dim, _ = _embedder(con, config, embedder_id, need_image=True)
    present = con.execute(
        f"select count(*) from emb_image__{embedder_id} where image_id = ? "
        "and embedding is not null", [image_id]
    ).fetchone()[0]
    if not present:
        raise NeurostockError(f"image {image_id} has no {embedder_id} image embedding "
                              "(not in the pool, or its file is not ok)")
    if not exact:
        vector = con.execute(f"select embedding from emb_image__{embedder_id} "
                             "where image_id = ?", [image_id]).fetchone()[0]
        found = _through_index(con, embedder_id, dim, vector, image_id, k)
        if found is not None:
            return found
    return con.execute(IMAGE_QUERY.format(e=embedder_id), [image_id, k]).fetchall()


def similar_to_text(con, config: Config, text: str, embedder_id: str | None = None,
                    k: int = 20, exact: bool = False) -> list[tuple[int, float]]:
    """The k images nearest to `text`: by image embeddings where the embedder has them
    (through its index where there is one, unless `exact`), else by the images' prompt
    embeddings."""
    from neurostock.compute.cache import ResumeCache
    from neurostock.core.paths import resume_cache_file
    from neurostock.core.warehouse import resolve_warehouse
    from neurostock.embed.udfs import EmbeddingFunctions

    embedder_id, dim, kinds = _embedder(con, config, embedder_id, need_image=False)
    if embedder_id not in {e.id for e in config.embedders}:
        raise NeurostockError(f"embedder {embedder_id!r} is not configured in neurostock.yml, "
                              "so a text cannot be embedded with it")
    path = con.execute("select path from duckdb_databases() "
                       "where database_name = current_database()").fetchone()[0]
    if not con.execute("select count(*) from duckdb_functions() "
                       "where function_name = 'ns_embed_text'").fetchone()[0]:
        # (A second query on the connection reuses the functions the first registered.)
        functions = EmbeddingFunctions(config, ResumeCache(resume_cache_file(
            resolve_warehouse(path))))
        functions.register(con)
    if "image" in kinds and not exact:
        vector = con.execute(QUERY_VECTOR.format(e=embedder_id, dim=dim),
                             [text, text]).fetchone()[0]
        found = _through_index(con, embedder_id, dim, vector, -1, k)
        if found is not None:
            return found
    query = TEXT_TO_IMAGE_QUERY if "image" in kinds else TEXT_TO_PROMPT_QUERY
    return con.execute(query.format(e=embedder_id, dim=dim), [text, text, k]).fetchall()
