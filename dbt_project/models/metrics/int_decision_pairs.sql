-- One row per (valid signal, rated image): the decision population is every rated
-- image, unusable ones included (image_ratings). score is null where the signal
-- does not score the image (coverage). is_sellable comes from image_ratings; the
-- cross-fitting fold is md5(prompt group) mod var decision_folds, the prompt group
-- being pool.prompt_group (macro prompt_group, the one the learned models' folds read
-- too), so one prompt never sits on both sides; an image without a prompt is a group
-- of its own.
with

ratings as (select image_id, is_sellable from {{ ref('image_ratings') }}),

images as (

    -- The rated images' prompt groups (every valid rated image is in the pool).
    select image_id, prompt_group from {{ ref('pool') }} where source_rating is not null

),

population as (

    select
        ratings.image_id,
        ratings.is_sellable,
        -- A rated image outside the pool (no valid img_info row) has no prompt: the
        -- macro makes it a group of its own.
        coalesce(images.prompt_group,
                 {{ prompt_group('null', 'ratings.image_id') }}) as prompt_group,
    from ratings
    left join images using (image_id)

),

valid_signals as (

    select scorer_id from {{ ref('signal_summary') }} where is_valid

),

signals as (

    select image_signals.scorer_id, image_signals.image_id, image_signals.score,
    from {{ ref('image_signals') }} as image_signals
    semi join valid_signals using (scorer_id)

),

final as (

    select
        valid_signals.scorer_id,
        population.image_id,
        signals.score,
        signals.score is not null as is_scored,
        population.is_sellable,
        population.prompt_group,
        (md5_number(population.prompt_group) % {{ var('decision_folds') }})::integer as fold,
    from valid_signals
    cross join population
    left join signals
        on signals.scorer_id = valid_signals.scorer_id
        and signals.image_id = population.image_id

)

select * from final
