with

source as (

    select * from {{ source('annotations', 'annotators') }}

),

final as (

    select
        annotator_id,
        name as annotator_name,
        is_source_user,
        created_at,

    from source

)

select * from final
