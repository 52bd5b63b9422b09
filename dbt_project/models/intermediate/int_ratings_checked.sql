-- One row per metadata source row, with every reason it cannot be used:
-- staging's row-level problems, text that was not valid UTF-8 (kept escaped by
-- ingest, meta.load_invalid_text), plus ratings of images that do not exist (or
-- exist only as quarantined rows).
with

ratings as (

    select * from {{ ref('stg_core__ratings') }}

),

valid_images as (

    select image_id from {{ ref('int_images_checked') }} where is_valid

),

invalid_text as (

    select source_rowid as rating_id, invalid_reason as text_reason
    from {{ ref('stg_meta__load_invalid_text') }}
    where table_name = 'metadata'

),

joined as (

    select
        ratings.*,
        valid_images.image_id is not null as has_image,
        invalid_text.text_reason,

    from ratings
    left join valid_images using (image_id)
    left join invalid_text using (rating_id)

),

final as (

    select
        * exclude (invalid_reason, has_image, text_reason),
        nullif(concat_ws('; ',
            text_reason,
            invalid_reason,
            case when image_id is not null and not has_image
                then 'rating of an image that does not exist (id ' || image_id || ')' end
        ), '') as invalid_reason,

    from joined

)

select *, invalid_reason is null as is_valid from final
