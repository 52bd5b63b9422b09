{{ config(materialized='table', tags=['score']) }}
-- depends_on: {{ ref('near_duplicate_pairs') }}
-- One row per hash near_duplicate_pairs searched in this build (built after it), with
-- the distance it searched at: what the next build compares the hashes with, so it
-- searches only the new and changed ones.
select
    image_id,
    score_text,
    {{ var('near_duplicate_max_distance', 6) }}::integer as max_distance,
from {{ ref('int_phash_hashes') }}
