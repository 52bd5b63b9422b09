-- One row per img_info source row, with every reason it cannot be used.
-- Adds what staging cannot see row by row: an id that occurs twice keeps its
-- first row (lowest SQLite rowid); the others are quarantined.
-- A table, and without the cleaned prompt: every mart reads it, and cleaning
-- 2.1 million prompts when the marts need a few thousand would dominate the build.
{{ config(materialized='table') }}

with

images as (

    select * exclude (prompt) from {{ ref('stg_core__img_info') }}

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
            images.invalid_reason,
            case when images.source_rowid != first_rows.first_rowid
                then 'duplicate id ' || images.image_id end
        ), '') as invalid_reason,

    from images
    left join first_rows using (image_id)

)

select *, invalid_reason is null as is_valid from final
