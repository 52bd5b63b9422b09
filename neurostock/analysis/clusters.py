"""k-means clusters and 2-D maps of embeddings, for the dbt Python models
`cluster_solutions` and `cluster_map` (models/analysis/).

Per embedder, what is clustered (its input, `embedding_kind`): by default the
image embeddings of full_set where the embedder sees images, otherwise its prompt
embeddings (a text-only embedder such as MiniLM still groups the prompts). With
`both=True`, an embedder that has image and prompt embeddings is also clustered
on "both": the unit image vector and the unit prompt vector of an image, end to
end (the team's concatenated vectors), a second input beside the default.
Vectors are L2-normalised first, so k-means' Euclidean distance orders pairs the
way cosine similarity does. Every fit is seeded: the same warehouse gives the
same clusters.

A rebuild fits only what changed: each row carries `input_sha`, a digest of its
input (embedder, input kind, image ids, vectors, parameters, scikit-learn's
version), and an input whose digest the last build's table already holds takes its
rows from there instead of fitting again (t-SNE alone is ~1 CPU-second per 100
images). New images, changed vectors or parameters give a new digest: that input
is fitted again, whole.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from neurostock.core.progress import say
from neurostock.core.warehouse import table_columns

# Fewer images than this per embedder: no map, no clusters (the row says why).
MIN_IMAGES = 10

# The "both" input: each half made unit length first, so neither kind outweighs
# the other whatever its norm; cluster_assignments.sql builds the same vector.
BOTH_SQL = """,
    both_kinds as (
        select i.embedder_id, 'both' as embedding_kind, i.image_id,
               list_concat(
                   list_transform(i.embedding::double[],
                       lambda x: x / sqrt(list_dot_product(i.embedding::double[],
                                                           i.embedding::double[]))),
                   list_transform(p.embedding::double[],
                       lambda x: x / sqrt(list_dot_product(p.embedding::double[],
                                                           p.embedding::double[]))))
                   as embedding
        from {images} as i
        inner join {prompts} as p using (embedder_id, image_id)
        semi join {members} using (image_id)
        where list_dot_product(i.embedding::double[], i.embedding::double[]) > 0
          and list_dot_product(p.embedding::double[], p.embedding::double[]) > 0
    )
"""


@dataclass(frozen=True)
class EmbedderVectors:
    embedder_id: str
    embedding_kind: str  # the input: image, prompt or both
    image_ids: np.ndarray
    vectors: np.ndarray  # (n, dim) float64, unit rows
    is_default_input: bool = True


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms == 0, 1.0, norms)


def load_full_set_vectors(session: duckdb.DuckDBPyConnection,
                          image_embeddings: duckdb.DuckDBPyRelation,
                          prompt_embeddings: duckdb.DuckDBPyRelation,
                          full_set: duckdb.DuckDBPyRelation,
                          both: bool = False) -> list[EmbedderVectors]:
    """The vectors each embedder's clusters are fitted on, per (embedder, input),
    ordered by image id: the default input of every embedder, and with `both` the
    concatenated image+prompt vectors of every embedder that has both kinds."""
    # Unique names: dbt runs the map and the clusters at the same time on one database.
    tag = uuid.uuid4().hex[:12]
    names = {kind: f"ns_{kind}_{tag}" for kind in ("images", "prompts", "members")}
    for kind, relation in (("images", image_embeddings), ("prompts", prompt_embeddings),
                           ("members", full_set)):
        relation.create_view(names[kind], replace=True)
    try:
        table = session.sql(f"""
            with images as (
                select embedder_id, 'image' as embedding_kind, image_id, embedding
                from {names['images']} semi join {names['members']} using (image_id)
            ),
            prompts as (
                select embedder_id, 'prompt' as embedding_kind, image_id, embedding
                from {names['prompts']} semi join {names['members']} using (image_id)
                where embedder_id not in (select embedder_id from images)
            )
            {BOTH_SQL.format(images=names['images'], prompts=names['prompts'],
                             members=names['members']) if both else ''}
            select *, true as is_default_input from images
            union all select *, true from prompts
            {'union all select *, false from both_kinds' if both else ''}
            order by embedder_id, is_default_input desc, embedding_kind, image_id
        """).arrow()
        if hasattr(table, "read_all"):  # a lazy RecordBatchReader: read before the views go
            table = table.read_all()
    finally:
        for name in names.values():
            session.execute(f"drop view if exists {name}")
    keys = list(zip(table.column("embedder_id").to_pylist(),
                    table.column("embedding_kind").to_pylist(), strict=True))
    defaults = table.column("is_default_input").to_pylist()
    ids = table.column("image_id").to_numpy()
    embeddings = table.column("embedding").to_pylist()
    out = []
    start = 0
    while start < len(keys):
        end = start
        while end < len(keys) and keys[end] == keys[start]:
            end += 1
        vectors = np.asarray(embeddings[start:end], dtype=np.float64)
        out.append(EmbedderVectors(keys[start][0], keys[start][1], ids[start:end],
                                   _unit(vectors), bool(defaults[start])))
        start = end
    return out


def _progress(message: str) -> None:
    say(f"clusters: {message}")


def input_digest(data: EmbedderVectors, *params) -> str:
    """The digest of one input and the parameters of its fit (module doc)."""
    from importlib.metadata import version

    digest = hashlib.sha256(repr((data.embedder_id, data.embedding_kind,
                                  data.is_default_input, version("scikit-learn"),
                                  *params)).encode())
    digest.update(np.ascontiguousarray(data.image_ids, dtype=np.int64).tobytes())
    digest.update(np.ascontiguousarray(data.vectors, dtype=np.float64).tobytes())
    return digest.hexdigest()[:32]


def previous_rows(session: duckdb.DuckDBPyConnection, table: str) -> dict[str, pa.Table]:
    """The rows the last build wrote to main.`table`, by input_sha (empty on a first
    build, or from a table written before the digests)."""
    if "input_sha" not in table_columns(session, table):
        return {}
    rows = session.sql(f'select * from main."{table}"').arrow()
    if hasattr(rows, "read_all"):
        rows = rows.read_all()
    shas = rows.column("input_sha").to_pylist()
    return {sha: rows.filter(pc.equal(rows.column("input_sha"), sha))
            for sha in dict.fromkeys(shas)}


def _reused(previous: dict[str, pa.Table], sha: str, schema: pa.Schema,
            data: EmbedderVectors, what: str) -> pa.Table | None:
    rows = previous.get(sha)
    if rows is None:
        return None
    _progress(f"{data.embedder_id}: {what} of {len(data.image_ids)} "
              f"{data.embedding_kind} vectors unchanged since the last build: kept")
    return rows.select(schema.names).cast(schema)


# dbt runs the two cluster models on two threads; two first imports of scikit-learn at
# once can fail half-way ("partially initialized module 'sklearn.base'"). The imports
# go one at a time, here, when a model first needs them, so a dbt run without a cluster
# model never pays for importing scikit-learn.
_SKLEARN_IMPORT = threading.Lock()


def fit_solutions(data: EmbedderVectors, k_values: list[int], seed: int,
                  silhouette_sample: int) -> list[dict]:
    """One row per requested k: the fit (silhouette, inertia, centroids) or why not."""
    with _SKLEARN_IMPORT:
        from sklearn.cluster import KMeans
        from sklearn.metrics import silhouette_score

    n = len(data.image_ids)
    rows = []
    for k in sorted(set(int(k) for k in k_values)):
        row = {"embedder_id": data.embedder_id, "embedding_kind": data.embedding_kind, "k": k,
               "n_images": n, "silhouette": None, "inertia": None, "centroids": None,
               "skipped_reason": None, "is_default_input": data.is_default_input}
        if k < 2:
            row["skipped_reason"] = "k must be at least 2"
        elif n < max(MIN_IMAGES, k + 1):
            row["skipped_reason"] = (f"{n} images: need at least {max(MIN_IMAGES, k + 1)} "
                                     f"for k={k}")
        else:
            _progress(f"{data.embedder_id}: k-means k={k} on {n} {data.embedding_kind} vectors")
            fit = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(data.vectors)
            labels = fit.labels_
            if len(set(labels.tolist())) < 2:
                row["skipped_reason"] = "every vector fell into one cluster"
            else:
                sample = silhouette_sample if n > silhouette_sample else None
                row["silhouette"] = float(silhouette_score(
                    data.vectors, labels, sample_size=sample, random_state=seed))
                row["inertia"] = float(fit.inertia_)
                row["centroids"] = fit.cluster_centers_.tolist()
        rows.append(row)
    fitted = [r for r in rows if r["silhouette"] is not None]
    best = max(fitted, key=lambda r: (r["silhouette"], -r["k"]), default=None)
    for row in rows:
        row["is_chosen"] = best is not None and row is best
    return rows


SOLUTIONS_SCHEMA = pa.schema([
    ("embedder_id", pa.string()), ("embedding_kind", pa.string()), ("k", pa.int64()),
    ("n_images", pa.int64()), ("silhouette", pa.float64()), ("inertia", pa.float64()),
    ("is_chosen", pa.bool_()), ("skipped_reason", pa.string()),
    ("centroids", pa.list_(pa.list_(pa.float64()))), ("is_default_input", pa.bool_()),
    ("input_sha", pa.string()),
])

MAP_SCHEMA = pa.schema([
    ("image_id", pa.int64()), ("embedder_id", pa.string()), ("embedding_kind", pa.string()),
    ("x", pa.float64()), ("y", pa.float64()), ("method", pa.string()),
    ("input_sha", pa.string()),
])


def solutions_table(vectors: list[EmbedderVectors], k_values: list[int], seed: int,
                    silhouette_sample: int,
                    previous: dict[str, pa.Table] | None = None) -> pa.Table:
    """Typed even when empty, so the SQL built on it always binds. An input whose
    digest is in `previous` (previous_rows) keeps its rows."""
    tables = [pa.Table.from_pylist([], schema=SOLUTIONS_SCHEMA)]
    for data in vectors:
        sha = input_digest(data, "kmeans", sorted(set(int(k) for k in k_values)), seed,
                           silhouette_sample)
        kept = _reused(previous or {}, sha, SOLUTIONS_SCHEMA, data, "k-means")
        if kept is None:
            rows = [{**row, "input_sha": sha}
                    for row in fit_solutions(data, k_values, seed, silhouette_sample)]
            kept = pa.Table.from_pylist(rows, schema=SOLUTIONS_SCHEMA)
        tables.append(kept)
    return pa.concat_tables(tables)


def map_2d(data: EmbedderVectors, seed: int, tsne_max: int) -> tuple[np.ndarray, str]:
    """(n, 2) coordinates and the method: PCA to 50 dimensions, then t-SNE when the
    embedder has between MIN_IMAGES and `tsne_max` images, else the first two PCs."""
    with _SKLEARN_IMPORT:
        from sklearn.decomposition import PCA
        from sklearn.manifold import TSNE

    n, dim = data.vectors.shape
    reduced = PCA(n_components=min(50, dim, n), random_state=seed).fit_transform(data.vectors)
    if MIN_IMAGES <= n <= tsne_max:
        _progress(f"{data.embedder_id}: t-SNE on {n} {data.embedding_kind} vectors")
        perplexity = float(min(30.0, (n - 1) / 3))
        coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                      n_jobs=1).fit_transform(reduced)
        return coords, f"pca{reduced.shape[1]}+tsne(perplexity={perplexity:g})"
    coords = reduced[:, :2] if reduced.shape[1] >= 2 else np.column_stack(
        [reduced[:, 0], np.zeros(n)])
    return coords, "pca2"


def map_table(vectors: list[EmbedderVectors], seed: int, tsne_max: int,
              previous: dict[str, pa.Table] | None = None) -> pa.Table:
    """The maps; an input whose digest is in `previous` (previous_rows) keeps its rows."""
    tables = [pa.Table.from_pylist([], schema=MAP_SCHEMA)]
    for data in vectors:
        if len(data.image_ids) < 2:
            continue
        sha = input_digest(data, "map", seed, tsne_max, MIN_IMAGES)
        kept = _reused(previous or {}, sha, MAP_SCHEMA, data, "the map")
        if kept is not None:
            tables.append(kept)
            continue
        coords, method = map_2d(data, seed, tsne_max)
        n = len(data.image_ids)
        tables.append(pa.table({
            "image_id": data.image_ids.astype("int64"), "embedder_id": [data.embedder_id] * n,
            "embedding_kind": [data.embedding_kind] * n, "x": coords[:, 0], "y": coords[:, 1],
            "method": [method] * n, "input_sha": [sha] * n,
        }, schema=MAP_SCHEMA))
    return pa.concat_tables(tables)


# cluster_assignments: one row per (image, embedder, input, k).
ASSIGNMENT_SCHEMA = pa.schema([
    ("image_id", pa.int64()), ("embedder_id", pa.string()), ("k", pa.int64()),
    ("embedding_kind", pa.string()), ("image_set", pa.string()),
    ("is_chosen_k", pa.bool_()), ("is_default_input", pa.bool_()),
    ("cluster_id", pa.int32()), ("centroid_distance", pa.float64()),
])

ASSIGN_BATCH = 20_000

# The images assigned: full_set's, the unusable rated images and the pool's unrated.
_MEMBERS = """
    select image_id, min(image_set) as image_set from (
        select image_id, 'full_set' as image_set from {full_set}
        union all
        select image_id, 'unusable' from {pool} where image_set = 'unusable'
        union all
        select image_id, 'pool' from {pool} where source_rating is null
    ) group by image_id
"""


def _assignment_sql(kind: str, names: dict[str, str]) -> str:
    members = _MEMBERS.format(full_set=names["full_set"], pool=names["pool"])
    if kind == "both":
        return f"""
            with members as ({members})
            select members.image_id, members.image_set, i.embedding as embedding,
                   p.embedding as prompt_embedding
            from members
            inner join {names['images']} as i using (image_id)
            inner join {names['prompts']} as p using (image_id, embedder_id)
            where i.embedder_id = $embedder"""
    table = names["images"] if kind == "image" else names["prompts"]
    return f"""
        with members as ({members})
        select members.image_id, members.image_set, e.embedding as embedding
        from members inner join {table} as e using (image_id)
        where e.embedder_id = $embedder"""


def _both_vectors(images: np.ndarray, prompts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows kept, vectors): each half made unit length, the whole too (BOTH_SQL's
    vector); rows with an all-zero half are left out."""
    image_sq = (images * images).sum(axis=1)
    prompt_sq = (prompts * prompts).sum(axis=1)
    kept = (image_sq > 0) & (prompt_sq > 0)
    images, prompts = images[kept], prompts[kept]
    return kept, np.concatenate([images / np.sqrt(2 * image_sq[kept])[:, None],
                                 prompts / np.sqrt(2 * prompt_sq[kept])[:, None]], axis=1)


def assignment_batches(session: duckdb.DuckDBPyConnection, names: dict[str, str]):
    """(table, n_images) batches of cluster_assignments: every member image's nearest
    centroid per (embedder, input, k) of cluster_centroids (ties: the lower cluster id;
    chosen by squared distances from one matrix product, as scikit-learn's k-means
    labels its points) and the Euclidean distance to it, in float64, ASSIGN_BATCH images
    at a time. `names`:
    the tables centroids, full_set, pool, images, prompts."""
    centroids = session.execute(f"""
        select embedder_id, embedding_kind, k, is_chosen_k, is_default_input, cluster_id,
               centroid
        from {names['centroids']}
        order by embedder_id, embedding_kind, k, cluster_id""").df()
    for (embedder_id, kind), group in centroids.groupby(["embedder_id", "embedding_kind"],
                                                        sort=True):
        matrix = np.array(group["centroid"].tolist(), dtype=np.float64)
        centroid_sq = (matrix * matrix).sum(axis=1)
        ks = group["k"].to_numpy(dtype=np.int64)
        cluster_ids = group["cluster_id"].to_numpy(dtype=np.int32)
        chosen = group["is_chosen_k"].to_numpy(dtype=bool)
        default = bool(group["is_default_input"].iloc[0])
        solutions = [np.flatnonzero(ks == k) for k in np.unique(ks)]
        # A cursor of its own: each batch's rows are written on `session` between reads.
        cursor = session.cursor()
        left_out = 0
        try:
            reader = cursor.execute(_assignment_sql(kind, names),
                                    {"embedder": embedder_id}).to_arrow_reader(ASSIGN_BATCH)
            for batch in reader:
                if not batch.num_rows:
                    continue
                ids = batch.column("image_id").to_numpy()
                sets = batch.column("image_set").to_numpy(zero_copy_only=False)
                if kind == "both":
                    images = batch.column("embedding")
                    image_dim = _usual_length(images)
                    ok_image, image_rows = _rows_of_length(images, image_dim)
                    ok_prompt, prompt_rows = _rows_of_length(
                        batch.column("prompt_embedding"), matrix.shape[1] - image_dim)
                    usable = ok_image & ok_prompt
                    kept, vectors = _both_vectors(image_rows[usable[ok_image]],
                                                  prompt_rows[usable[ok_prompt]])
                    usable[usable] = kept
                else:
                    usable, vectors = _rows_of_length(batch.column("embedding"),
                                                      matrix.shape[1])
                finite = np.isfinite(vectors).all(axis=1)
                vectors = vectors[finite]
                usable[usable] = finite
                left_out += int((~usable).sum())
                ids, sets = ids[usable], sets[usable]
                if not len(ids):
                    continue
                # Squared distances by one matrix product (|x|^2 + |c|^2 - 2 x.c), the
                # nearest centroid per k from them; the distance to it then exactly.
                squared = ((vectors * vectors).sum(axis=1)[:, None] + centroid_sq[None, :]
                           - 2 * (vectors @ matrix.T))
                for columns in solutions:
                    # The first minimum: the lowest cluster id among equal distances.
                    best = columns[np.argmin(squared[:, columns], axis=1)]
                    distance = np.linalg.norm(vectors - matrix[best], axis=1)
                    yield pa.table({
                        "image_id": ids,
                        "embedder_id": pa.array([embedder_id] * len(ids), pa.string()),
                        "k": np.full(len(ids), ks[columns[0]]),
                        "embedding_kind": pa.array([kind] * len(ids), pa.string()),
                        "image_set": pa.array(sets, pa.string()),
                        "is_chosen_k": np.full(len(ids), chosen[columns[0]]),
                        "is_default_input": np.full(len(ids), default),
                        "cluster_id": cluster_ids[best],
                        "centroid_distance": distance,
                    }), len(ids) if columns is solutions[0] else 0
        finally:
            cursor.close()
        if left_out:
            say(f"cluster_assignments: {embedder_id} {kind}: {left_out:,} vectors left out "
                f"(not the centroids' length {matrix.shape[1]}, not finite, or all zeros)")


def _usual_length(column: pa.Array) -> int:
    """The most common length of a batch's vectors."""
    lengths = pc.list_value_length(column).fill_null(0).to_numpy(zero_copy_only=False)
    values, counts = np.unique(lengths, return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else 0


def _rows_of_length(column: pa.Array, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """(which rows are vectors of length `dim`, those rows as a float64 matrix)."""
    lengths = pc.list_value_length(column).fill_null(-1).to_numpy(zero_copy_only=False)
    mask = lengths == dim
    flat = column.filter(pa.array(mask)).flatten().to_numpy(zero_copy_only=False)
    return mask, flat.astype(np.float64).reshape(int(mask.sum()), max(dim, 0))
