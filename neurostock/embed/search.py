"""Nearest neighbours in SQL: images like an image, images like a text.

Exact search with array_cosine_similarity over the embedder's FLOAT[dim]
table: exact by definition, nothing to build or keep in step with the incremental
tables, and it scales linearly (benchmarks/bench_similar.py measures it beside a
blocked numpy scan and a vss HNSW index; docs/embeddings.md has the numbers).
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


def similar_to_image(con, config: Config, image_id: int, embedder_id: str | None = None,
                     k: int = 20) -> list[tuple[int, float]]:
    """The k images nearest to `image_id` by the embedder's image embeddings."""
    embedder_id, _, _ = _embedder(con, config, embedder_id, need_image=True)
    present = con.execute(
        f"select count(*) from emb_image__{embedder_id} where image_id = ? "
        "and embedding is not null", [image_id]
    ).fetchone()[0]
    if not present:
        raise NeurostockError(f"image {image_id} has no {embedder_id} image embedding "
                              "(not in the pool, or its file is not ok)")
    return con.execute(IMAGE_QUERY.format(e=embedder_id), [image_id, k]).fetchall()


def similar_to_text(con, config: Config, text: str, embedder_id: str | None = None,
                    k: int = 20) -> list[tuple[int, float]]:
    """The k images nearest to `text`: by image embeddings where the embedder has them,
    else by the images' prompt embeddings."""
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
    functions = EmbeddingFunctions(config, ResumeCache(resume_cache_file(resolve_warehouse(path))))
    functions.register(con)
    query = TEXT_TO_IMAGE_QUERY if "image" in kinds else TEXT_TO_PROMPT_QUERY
    return con.execute(query.format(e=embedder_id, dim=dim), [text, text, k]).fetchall()
