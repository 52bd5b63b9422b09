"""One row per (image, embedder, input, k) for full_set images, the unusable rated images
(image_set 'unusable': so embedding features such as centroid_distance cover the whole
decision population) and the pool's unrated images (mart pool, source_rating null;
image_set 'pool'): the nearest centroid of full_set's fit (ties: the lower cluster id)
and the Euclidean distance to it. The pool's images are assigned to full_set's
clusters, never refitted. Computed in numpy batches (neurostock/analysis/clusters.py:
assignment_batches), held by DuckDB: at pool size the images x centroids distances never
exist as SQL rows."""

from neurostock.analysis.clusters import ASSIGNMENT_SCHEMA, assignment_batches
from neurostock.analysis.staged import stage

STAGED = "ns_cluster_assignments_new"


def model(dbt, session):
    dbt.config(materialized="table")
    # dbt reads its dependencies from these calls (literal names only).
    dbt.ref("cluster_centroids")
    dbt.ref("full_set")
    dbt.ref("pool")
    dbt.ref("image_embeddings")
    dbt.ref("prompt_embeddings")
    names = {"centroids": "cluster_centroids", "full_set": "full_set", "pool": "pool",
             "images": "image_embeddings", "prompts": "prompt_embeddings"}
    stage(session, STAGED, ASSIGNMENT_SCHEMA, assignment_batches(session, names),
          label="cluster_assignments")
    return session.table(STAGED)
