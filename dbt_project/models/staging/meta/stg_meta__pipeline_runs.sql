with

source as (

    select * from {{ source('meta', 'pipeline_runs') }}

),

final as (

    select
        run_id,
        step,
        target_id,
        started_at,
        finished_at,
        n_computed,
        n_skipped,
        n_failed,
        detail,

    from source

)

select * from final
