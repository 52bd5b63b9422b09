-- One row per (valid signal, market label): how well each score and feature tells what
-- the market answered, as rpt_score_agreement tells the ratings. Labels (from
-- submission_outcomes): `accepted` among the answered images (accepted or rejected),
-- `sold` among the accepted ones. n (answered images the signal scores), n_positive,
-- coverage (of the labelled images, the share the signal scores), ROC AUC
-- (Mann-Whitney from average ranks: the chance that a positive image outscores a
-- negative one) with its 95% interval by Hanley & McNeil's standard error (clipped to
-- [0, 1]; null below 2 positives and 2 negatives), and the direction in which the
-- signal is better (higher: AUC >= 0.5).
-- Out of sample throughout: no score is fitted on these answers, except a model trained
-- with `neurostock train --target accepted|sold`, whose scores of its training images
-- are cross-fitted (out of fold), as every learned score is.
with

outcomes as (

    select image_id, 'accepted' as label, is_accepted as is_positive
    from {{ ref('submission_outcomes') }}
    where is_accepted is not null
    union all
    select image_id, 'sold', is_sold
    from {{ ref('submission_outcomes') }}
    where is_sold is not null

),

labelled as (

    select label, count(*) as n_labelled from outcomes group by label

),

valid_signals as (

    select scorer_id from {{ ref('signal_summary') }} where is_valid

),

pairs as (

    select
        signals.scorer_id,
        outcomes.label,
        outcomes.image_id,
        outcomes.is_positive,
        signals.score,
        {{ average_rank('signals.score', 'signals.scorer_id, outcomes.label') }} as score_rank,
    from outcomes
    inner join {{ ref('image_signals') }} as signals using (image_id)
    semi join valid_signals using (scorer_id)
    where signals.score is not null and isfinite(signals.score)

),

counted as (

    select
        scorer_id,
        label,
        count(*) as n,
        count(*) filter (where is_positive) as n_positive,
        count(*) filter (where not is_positive) as n_negative,
        sum(score_rank) filter (where is_positive) as positive_rank_sum,
    from pairs
    group by scorer_id, label

),

with_auc as (

    select
        counted.*,
        counted.n::double / labelled.n_labelled as coverage,
        {{ mann_whitney_auc('positive_rank_sum', 'n_positive', 'n_negative') }} as auc,
    from counted
    inner join labelled using (label)

),

with_error as (

    -- Hanley & McNeil (1982): Q1 = A / (2 - A), Q2 = 2A^2 / (1 + A).
    select
        *,
        case when n_positive >= 2 and n_negative >= 2 then sqrt(greatest(0,
            (auc * (1 - auc)
             + (n_positive - 1) * (auc / (2 - auc) - auc * auc)
             + (n_negative - 1) * (2 * auc * auc / (1 + auc) - auc * auc))
            / (n_positive::double * n_negative)))
        end as auc_standard_error,
    from with_auc

),

final as (

    select
        scorer_id,
        label,
        n,
        n_positive,
        n_negative,
        coverage,
        auc,
        -- (greatest / least skip a null argument: the case keeps a missing end null)
        case when auc_standard_error is not null
            then greatest(0, auc - 1.959963984540054 * auc_standard_error) end as auc_ci_low,
        case when auc_standard_error is not null
            then least(1, auc + 1.959963984540054 * auc_standard_error) end as auc_ci_high,
        case when auc is null then null when auc >= 0.5 then 'higher' else 'lower' end
            as direction,
    from with_error

)

select * from final
