{{ config(materialized='table', tags=['score']) }}
-- One row per pair of images whose perceptual hashes differ in at most
-- var('near_duplicate_max_distance') bits.
{%- if 'phash' in var('ns_scorers', []) %}
with hashes as (
    select image_id, ('0x' || score_text)::ubigint as phash
    from {{ ref('score__phash') }}
    where score_text is not null
)
select a.image_id as image_id_a, b.image_id as image_id_b,
       bit_count(xor(a.phash, b.phash)) as hamming_distance
from hashes as a
inner join hashes as b
    on a.image_id < b.image_id
    and bit_count(xor(a.phash, b.phash)) <= {{ var('near_duplicate_max_distance', 6) }}
{%- else %}
select null::bigint as image_id_a, null::bigint as image_id_b, null::bigint as hamming_distance
where false
{%- endif %}
