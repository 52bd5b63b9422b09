-- One row per (valid signal, held-out fold, operating point): the threshold chosen
-- on the training folds and what it keeps on the held-out fold (cross-fitting).
-- held_out = var decision_folds is the in-sample row: trained and measured on every
-- fold; its threshold is the one `neurostock select` applies. Operating points: the
-- highest-keep-rate threshold reaching each target precision (var
-- decision_target_precisions + var target_precision + the policy's target_precision)
-- on at least var agreement_min_n kept training images (none: that fold keeps
-- nothing), and the best balanced-accuracy threshold. The direction is chosen on the training folds
-- too (AUC of sellable >= 0.5: higher is better). Only scored rows choose; the
-- held-out counts include the unscored rows so coverage bounds can be drawn.
{%- set folds = var('decision_folds') | int %}
{#- The marketplace gate's target too (submission_decision_rule), when a policy is passed. #}
{%- set policy = var('ns_submission', none) %}
{%- set gate_target = [policy['params']['target_precision']]
    if policy is not none and 'target_precision' in policy['params'] else [] %}
{%- set targets = (var('decision_target_precisions') + [var('target_precision')] + gate_target)
    | map('float') | unique | sort %}
with

pairs as (select * from {{ ref('int_decision_pairs') }}),

score_values as (

    select
        scorer_id,
        fold,
        score,
        count(*) as n_value,
        count(*) filter (where is_sellable) as n_good_value,
    from pairs
    where is_scored
    group by scorer_id, fold, score

),

held_out_folds as (select unnest(range({{ folds + 1 }})) as held_out),

training_values as (

    select
        score_values.scorer_id,
        held_out_folds.held_out,
        score_values.score,
        sum(score_values.n_value)::bigint as n_value,
        sum(score_values.n_good_value)::bigint as n_good_value,
    from score_values
    cross join held_out_folds
    where score_values.fold != held_out_folds.held_out
    group by all

),

cumulative as (

    select
        *,
        -- Sums of doubles (exact for counts): twice as fast as DuckDB's hugeint sums.
        coalesce(sum(n_value::double) over strictly_below, 0)::bigint as n_below,
        coalesce(sum(n_good_value::double) over strictly_below, 0)::bigint as n_good_below,
        (sum(n_value::double) over training)::bigint as n_train,
        (sum(n_good_value::double) over training)::bigint as n_good_train,
    from training_values
    window
        strictly_below as (
            partition by scorer_id, held_out order by score
            rows between unbounded preceding and 1 preceding
        ),
        training as (partition by scorer_id, held_out)

),

directions as (

    -- AUC of sellable on the training rows (Mann-Whitney, ties count one half).
    select
        scorer_id,
        held_out,
        case when coalesce(
            sum(n_good_value * ((n_below - n_good_below) + 0.5 * (n_value - n_good_value)))
                / nullif(any_value(n_good_train)::double
                         * any_value(n_train - n_good_train), 0),
            0.5) >= 0.5 then 'higher' else 'lower' end as direction,
    from cumulative
    group by scorer_id, held_out

),

candidates as (

    select
        cumulative.scorer_id,
        cumulative.held_out,
        cumulative.score as threshold,
        directions.direction,
        cumulative.n_train,
        cumulative.n_good_train,
        {{ kept_at_threshold('directions.direction', 'cumulative.n_train',
                             'cumulative.n_below', 'cumulative.n_value') }} as n_kept,
        {{ kept_at_threshold('directions.direction', 'cumulative.n_good_train',
                             'cumulative.n_good_below', 'cumulative.n_good_value') }}
            as n_good_kept,
    from cumulative
    inner join directions using (scorer_id, held_out)

),

measured as (

    select
        *,
        n_good_kept::double / n_kept as training_precision,
        (n_good_kept::double / nullif(n_good_train, 0)
         + (n_train - n_good_train - (n_kept - n_good_kept))::double
            / nullif(n_train - n_good_train, 0)) / 2 as training_balanced_accuracy,
    from candidates

),

targets as (

    select unnest([{{ targets | join(', ') }}]::double[]) as target_precision

),

reaching as (

    select
        measured.scorer_id,
        measured.held_out,
        targets.target_precision,
        arg_max(measured.threshold, measured.n_kept) as threshold,
    from measured
    inner join targets on measured.training_precision >= targets.target_precision
    where measured.n_kept >= {{ var('agreement_min_n') }}
    group by all

),

precision_points as (

    select
        directions.scorer_id,
        directions.held_out,
        'precision' as rule,
        targets.target_precision,
        directions.direction,
        reaching.threshold,
    from directions
    cross join targets
    left join reaching using (scorer_id, held_out, target_precision)

),

balanced_points as (

    -- Ties: the threshold that keeps more.
    select
        scorer_id,
        held_out,
        'balanced_accuracy' as rule,
        null::double as target_precision,
        any_value(direction) as direction,
        arg_max(threshold, (training_balanced_accuracy, n_kept)) as threshold,
    from measured
    where training_balanced_accuracy is not null
    group by scorer_id, held_out

),

chosen as (

    select points.*, measured.n_train, measured.n_kept as n_train_kept,
           measured.training_precision, measured.training_balanced_accuracy,
    from (select * from precision_points union all by name select * from balanced_points)
        as points
    left join measured using (scorer_id, held_out, threshold)

),

fold_totals as (

    -- The rows each choice is measured on: the held-out fold, or every fold for
    -- the in-sample row. Unscored rows count here (bounds), never as kept.
    select
        held_out_folds.held_out,
        pairs.scorer_id,
        count(*) as n,
        count(*) filter (where pairs.is_sellable) as n_good,
        count(*) filter (where pairs.is_scored) as n_scored,
        count(*) filter (where not pairs.is_scored and pairs.is_sellable) as n_unscored_good,
        count(*) filter (where not pairs.is_scored and not pairs.is_sellable)
            as n_unscored_bad,
    from pairs
    inner join held_out_folds
        on pairs.fold = held_out_folds.held_out or held_out_folds.held_out = {{ folds }}
    group by all

),

kept as (

    select
        chosen.scorer_id,
        chosen.held_out,
        chosen.rule,
        chosen.target_precision,
        coalesce(sum(score_values.n_value), 0)::bigint as n_kept,
        coalesce(sum(score_values.n_good_value), 0)::bigint as n_good_kept,
    from chosen
    left join score_values
        on score_values.scorer_id = chosen.scorer_id
        and (score_values.fold = chosen.held_out or chosen.held_out = {{ folds }})
        and case chosen.direction
            when 'higher' then score_values.score >= chosen.threshold
            else score_values.score <= chosen.threshold
        end
    group by all

),

final as (

    select
        chosen.scorer_id,
        chosen.held_out,
        chosen.held_out = {{ folds }} as is_in_sample,
        chosen.rule,
        chosen.target_precision,
        case chosen.rule
            when 'precision' then 'precision >= ' || chosen.target_precision
            else 'best balanced accuracy'
        end as operating_point,
        chosen.direction,
        chosen.threshold,
        chosen.n_train,
        chosen.n_train_kept,
        chosen.training_precision,
        chosen.training_balanced_accuracy,
        coalesce(fold_totals.n, 0) as n,
        coalesce(fold_totals.n_good, 0) as n_good,
        coalesce(fold_totals.n_scored, 0) as n_scored,
        -- A fold without a threshold keeps nothing, whatever an unscored image would
        -- score: its unscored rows widen no bound.
        case when chosen.threshold is null then 0
            else coalesce(fold_totals.n_unscored_good, 0) end as n_unscored_good,
        case when chosen.threshold is null then 0
            else coalesce(fold_totals.n_unscored_bad, 0) end as n_unscored_bad,
        kept.n_kept,
        kept.n_good_kept,
    from chosen
    inner join kept
        on kept.scorer_id = chosen.scorer_id
        and kept.held_out = chosen.held_out
        and kept.rule = chosen.rule
        and kept.target_precision is not distinct from chosen.target_precision
    left join fold_totals
        on fold_totals.scorer_id = chosen.scorer_id
        and fold_totals.held_out = chosen.held_out

)

select * from final
