-- One row per (learned scorer, side, position): the rated images on which a learned
-- model and the best outside score (valid, not learned, highest |Spearman| over all
-- rated images) disagree most. Both scores as oriented percentiles (1 = best by
-- that score); side 'learned_higher' lists images the learned model likes more.
with

agreement as (select * from {{ ref('rpt_score_agreement') }} where subset = 'all'),

learned as (select scorer_id from agreement where starts_with(scorer_id, 'learned_')),

best_outside as (

    select arg_max(scorer_id, abs(spearman)) as other_scorer_id
    from agreement
    where not starts_with(scorer_id, 'learned_') and spearman is not null

),

oriented as (

    select
        pairs.scorer_id,
        pairs.image_id,
        pairs.rating,
        percent_rank() over (
            partition by pairs.scorer_id
            order by case when agreement.direction = 'higher' then pairs.score
                          else -pairs.score end
        ) as percentile,
    from {{ ref('int_agreement_pairs') }} as pairs
    inner join agreement using (scorer_id)
    where pairs.subset = 'all'

),

compared as (

    select
        mine.scorer_id,
        best_outside.other_scorer_id,
        mine.image_id,
        mine.rating,
        mine.percentile as learned_percentile,
        other.percentile as other_percentile,
        mine.percentile - other.percentile as difference,
    from oriented as mine
    inner join learned using (scorer_id)
    cross join best_outside
    inner join oriented as other
        on other.scorer_id = best_outside.other_scorer_id and other.image_id = mine.image_id

),

ranked as (

    select
        *,
        row_number() over (partition by scorer_id order by difference desc, image_id)
            as learned_higher_position,
        row_number() over (partition by scorer_id order by difference asc, image_id)
            as other_higher_position,
    from compared

),

final as (

    select scorer_id, other_scorer_id, 'learned_higher' as side,
           learned_higher_position as position, image_id, rating, learned_percentile,
           other_percentile, difference,
    from ranked
    where learned_higher_position <= {{ var('report_examples', 4) * 2 }}
    union all
    select scorer_id, other_scorer_id, 'other_higher', other_higher_position, image_id,
           rating, learned_percentile, other_percentile, difference,
    from ranked
    where other_higher_position <= {{ var('report_examples', 4) * 2 }}

)

select * from final
