with

source as (

    select * from {{ source('annotations', 'queue_simulation') }}

),

final as (

    select
        scorer_id,
        arm,
        seed,
        round,
        n_rated,
        n_test,
        auc_sellable,
        spearman,
        batch,
        start_share,
        test_share,
        model,
        computed_at,

    from source

)

select * from final
