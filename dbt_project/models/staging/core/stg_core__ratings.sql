with

source as (

    select * from {{ source('core', 'metadata') }}

),

typed as (

    select
        _source_rowid as rating_id,
        id as source_id,
        {{ safe_integer('id') }} as image_id,
        rating as rating_text,
        {{ safe_integer('rating') }} as rating,
        -- timestamptz keeps the offset: 14:11+03:00 is 11:11 UTC.
        try_cast(rating_date as timestamptz) as rated_at,
        rating_date as rating_date_text,
        annotator_id as annotator_id_text,
        {{ safe_integer('annotator_id') }} as annotator_id,

    from source

),

final as (

    select
        *,
        rating = 5 as is_unusable,
        nullif(concat_ws('; ',
            case when source_id is null then 'id is NULL' end,
            {{ cast_problem('source_id', 'image_id', 'id', 'an integer') }},
            case when rating_text is null then 'rating is NULL' end,
            {{ cast_problem('rating_text', 'rating', 'rating', 'an integer') }},
            case when rating not between 1 and 5
                then 'rating ' || rating || ' is outside 1-5' end,
            {{ cast_problem('rating_date_text', 'rated_at', 'rating_date', 'a timestamp') }},
            {{ cast_problem('annotator_id_text', 'annotator_id', 'annotator_id', 'an integer') }}
        ), '') as invalid_reason,

    from typed

)

select * from final
