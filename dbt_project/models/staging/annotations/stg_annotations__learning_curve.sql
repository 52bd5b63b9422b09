with

source as (

    select * from {{ source('annotations', 'learning_curve') }}

),

final as (

    select
        scorer_id,
        fraction,
        repeat,
        n_ratings,
        n_groups,
        spearman,
        auc_sellable,
        seed,
        folds,
        model,
        computed_at,

    from source

)

select * from final
