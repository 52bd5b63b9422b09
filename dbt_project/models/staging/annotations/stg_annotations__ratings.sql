with

source as (

    select * from {{ source('annotations', 'ratings') }}

),

retractions as (

    select distinct retracts_rating_id as rating_id
    from source
    where retracts_rating_id is not null

),

given as (

    select * from source where retracts_rating_id is null

),

final as (

    select
        given.rating_id,
        given.image_id,
        given.rating,
        given.rated_at,
        given.annotator_id,
        given.annotator,
        given.queue,
        given.app_session,
        retractions.rating_id is not null as is_retracted,

    from given
    left join retractions using (rating_id)

)

select * from final
