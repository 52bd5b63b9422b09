-- One row per usable rating row (rating 1-5 as in the file): the team's list
-- of image files to fetch. The name's spelling is the team's, kept on purpose.
with

ratings as (

    select * from {{ ref('int_ratings_checked') }} where is_valid

),

images as (

    select * from {{ ref('int_images_checked') }} where is_valid

),

final as (

    select
        ratings.rating_id,
        ratings.image_id,
        images.img_path,
        images.img_name,
        ratings.rating,
        ratings.rated_at,
        ratings.annotator_id,

    from ratings
    inner join images using (image_id)

)

select * from final
