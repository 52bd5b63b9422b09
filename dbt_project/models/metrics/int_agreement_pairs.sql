-- One row per (valid signal, subset, rated image): the score beside the rating
-- (0-3), is_good (rating >= var good_rating_min), and both average ranks within
-- the (signal, subset) - ties share the mean of their positions, as in scipy.
with

signals as (

    select image_signals.*
    from {{ ref('image_signals') }} as image_signals
    inner join {{ ref('signal_summary') }} as summary using (scorer_id)
    where summary.is_valid

),

images as (select image_id, rating from {{ ref('full_set') }}),

subsets as (select * from {{ ref('image_subsets') }}),

paired as (

    select
        signals.scorer_id,
        subsets.subset,
        signals.image_id,
        signals.score,
        images.rating,
        images.rating >= {{ var('good_rating_min') }} as is_good,
    from signals
    inner join images using (image_id)
    inner join subsets using (image_id)

),

final as (

    select
        *,
        {{ average_rank('score', 'scorer_id, subset') }} as score_rank,
        {{ average_rank('rating', 'scorer_id, subset') }} as rating_rank,
    from paired

)

select * from final
