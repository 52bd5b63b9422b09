{{ config(materialized='view', tags=['score']) }}
-- One row per image with a perceptual hash (score__phash): the hash and the hash of its
-- mirror image as UBIGINT (mirror null for hashes stored before the phash scorer
-- hashed mirrors too), and the text they came from. Empty without the phash scorer.
{%- if 'phash' in var('ns_scorers', []) %}
select
    image_id,
    ('0x' || split_part(score_text, ' ', 1))::ubigint as phash,
    case when contains(score_text, ' ')
        then ('0x' || split_part(score_text, ' ', 2))::ubigint end as mirror_phash,
    score_text,
from {{ ref('score__phash') }}
where score_text is not null
{%- else %}
select null::bigint as image_id, null::ubigint as phash, null::ubigint as mirror_phash,
       null::varchar as score_text
where false
{%- endif %}
