-- One row per metadata source row, with every reason it cannot be used:
-- staging's row-level problems plus ratings of images that do not exist (or
-- exist only as quarantined rows).
with

ratings as (

    select * from {{ ref('stg_core__ratings') }}

),

valid_images as (

    select image_id from {{ ref('int_images_checked') }} where is_valid

),

joined as (

    select
        ratings.*,
        valid_images.image_id is not null as has_image,

    from ratings
    left join valid_images using (image_id)

),

final as (

    select
        * exclude (invalid_reason, has_image),
        nullif(concat_ws('; ',
            invalid_reason,
            case when image_id is not null and not has_image
                then 'rating of an image that does not exist (id ' || image_id || ')' end
        ), '') as invalid_reason,

    from joined

)

select *, invalid_reason is null as is_valid from final
