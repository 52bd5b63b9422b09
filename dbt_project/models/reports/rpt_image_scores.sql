-- One row per (full_set image, signal): the score and its percentile among the
-- rated images (0 = lowest), for the image pages; invalid signals included,
-- marked.
with

signals as (select * from {{ ref('image_signals') }}),

summary as (select scorer_id, is_valid from {{ ref('signal_summary') }}),

rated as (select image_id from {{ ref('full_set') }}),

final as (

    select
        signals.image_id,
        signals.scorer_id,
        signals.signal_kind,
        signals.is_random_init,
        summary.is_valid,
        signals.score,
        percent_rank() over (partition by signals.scorer_id order by signals.score)
            as percentile,
    from signals
    inner join rated using (image_id)
    inner join summary using (scorer_id)

)

select * from final
