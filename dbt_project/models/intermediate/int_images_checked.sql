-- One row per img_info source row, with every reason it cannot be used.
-- Adds what staging cannot see row by row: text that was not valid UTF-8 (ingest kept
-- it escaped and named the row in meta.load_invalid_text), and an id that occurs twice
-- keeps its first row (lowest SQLite rowid); the others are quarantined.
-- A table, and without the cleaned prompt: every mart reads it, and cleaning
-- 2.1 million prompts when the marts need a few thousand would dominate the build.
{{ config(materialized='table') }}

with

images as (

    select * exclude (prompt) from {{ ref('stg_core__img_info') }}

),

invalid_text as (

    select source_rowid, invalid_reason as text_reason
    from {{ ref('stg_meta__load_invalid_text') }}
    where table_name = 'img_info'

),

first_rows as (

    select image_id, min(source_rowid) as first_rowid
    from images
    where image_id is not null
    group by image_id
    having count(*) > 1

),

final as (

    select
        images.* exclude (invalid_reason),
        nullif(concat_ws('; ',
            invalid_text.text_reason,
            images.invalid_reason,
            case when images.source_rowid != first_rows.first_rowid
                then 'duplicate id ' || images.image_id end
        ), '') as invalid_reason,

    from images
    left join first_rows using (image_id)
    left join invalid_text using (source_rowid)

)

select *, invalid_reason is null as is_valid from final
