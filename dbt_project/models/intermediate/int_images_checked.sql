-- One row per img_info source row, with every reason it cannot be used.
-- Adds what staging cannot see row by row: an id that occurs twice keeps its
-- first row (lowest SQLite rowid); the others are quarantined.
with

images as (

    select * from {{ ref('stg_core__img_info') }}

),

ranked as (

    select
        *,
        case
            when image_id is not null
                then row_number() over (partition by image_id order by source_rowid)
        end as id_occurrence,

    from images

),

final as (

    select
        * exclude (invalid_reason, id_occurrence),
        nullif(concat_ws('; ',
            invalid_reason,
            case when id_occurrence > 1 then 'duplicate id ' || image_id end
        ), '') as invalid_reason,

    from ranked

)

select *, invalid_reason is null as is_valid from final
