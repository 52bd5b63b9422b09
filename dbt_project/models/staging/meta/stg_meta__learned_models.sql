with

source as (

    select * from {{ source('meta', 'learned_models') }}

),

final as (

    select
        scorer_id,
        model,
        model_path,
        model_sha256,
        config,
        features,
        data_sha256,
        n_train,
        fold_scheme,
        metrics,
        is_shuffled,
        sklearn_version,
        trained_at,

    from source

)

select * from final
