-- One row per rating, from the source file (int_ratings_checked) and from the
-- rating app (stg_annotations__ratings), with its provenance in rating_source
-- ('source' | 'local'), so one rule (int_ratings_aggregated) resolves both.
-- A local rating is valid when it is not retracted (undo) and its image exists;
-- source rows keep their own checks. rating_key is unique across both.
with

source_ratings as (

    select * from {{ ref('int_ratings_checked') }}

),

local_ratings as (

    select * from {{ ref('stg_annotations__ratings') }}

),

valid_images as (

    select image_id from {{ ref('int_images_checked') }} where is_valid

),

from_source as (

    select
        'source:' || rating_id as rating_key,
        'source' as rating_source,
        rating_id,
        image_id,
        rating,
        rated_at,
        annotator_id,
        is_valid,
        invalid_reason,

    from source_ratings

),

from_app as (

    select
        'local:' || local_ratings.rating_id as rating_key,
        'local' as rating_source,
        local_ratings.rating_id,
        local_ratings.image_id,
        local_ratings.rating,
        local_ratings.rated_at,
        local_ratings.annotator_id,
        not local_ratings.is_retracted and valid_images.image_id is not null as is_valid,
        nullif(concat_ws('; ',
            case when local_ratings.is_retracted then 'retracted in the rating app (undo)' end,
            case when valid_images.image_id is null
                then 'rating of an image that does not exist (id ' || local_ratings.image_id || ')' end
        ), '') as invalid_reason,

    from local_ratings
    left join valid_images using (image_id)

),

final as (

    select * from from_source
    union all
    select * from from_app

)

select * from final
