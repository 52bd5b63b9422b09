-- One row per source row that cannot be used, with the reason(s). Nothing is
-- dropped silently: raw rows = usable rows + quarantined rows, per table
-- (tests/assert_raw_reconciles.sql). Text that was not valid UTF-8 shows here as ingest
-- kept it, its bad bytes escaped (bad\xff\xfe), with that reason.
with

images as (

    select
        'img_info' as source_table,
        source_rowid,
        source_id,
        invalid_reason as reason,
        to_json(struct_pack(
            id := source_id,
            img_path := img_path,
            img_name := img_name,
            generation_date := generation_date_text,
            experiment_model_id := experiment_model_id_text,
            experiment_number := experiment_number_text,
            img_generation_promt := prompt_raw
        )) as source_values,

    from {{ ref('int_images_checked') }}
    where not is_valid

),

ratings as (

    select
        'metadata' as source_table,
        rating_id as source_rowid,
        source_id,
        invalid_reason as reason,
        to_json(struct_pack(
            rating := rating_text,
            rating_date := rating_date_text,
            annotator_id := annotator_id_text,
            id := source_id
        )) as source_values,

    from {{ ref('int_ratings_checked') }}
    where not is_valid

),

unioned as (

    select * from images
    union all
    select * from ratings

),

final as (

    select
        source_table || ':' || source_rowid as quarantine_id,
        source_table,
        source_rowid,
        source_id,
        -- The first reason, for grouping; `reason` keeps them all.
        split_part(reason, '; ', 1) as primary_reason,
        reason,
        source_values,

    from unioned

)

select * from final
