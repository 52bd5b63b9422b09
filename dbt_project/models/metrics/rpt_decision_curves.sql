-- One row per (valid signal, operating point): the sell decision on the decision
-- population (every rated image, unusable ones included; is_sellable from
-- image_ratings). Operating points: each target precision of var
-- decision_target_precisions (+ var target_precision) and the best balanced
-- accuracy. out-of-sample figures (oos_*) are cross-fitted: each fold's threshold
-- was chosen on the other folds (int_decision_folds) and is measured on that fold,
-- pooled over folds, with seeded cluster-bootstrap 95% intervals
-- (int_decision_bootstrap). A score that leaves rows unscored has bounds
-- (oos_*_low / _high), no point figure. The in-sample columns (in_sample_*) are
-- the threshold chosen and measured on every row: what `neurostock select` applies,
-- labelled, never the expected figure. Pool yield: the unrated images of the mart
-- pool (source_rating null; whichever neurostock.yml's `pool:` chose) it keeps.
{%- set folds = var('decision_folds') | int %}
{%- set min_n = var('agreement_min_n') %}
with

fold_rows as (select * from {{ ref('int_decision_folds') }}),

out_of_sample as (

    select
        scorer_id,
        rule,
        target_precision,
        any_value(operating_point) as operating_point,
        sum(n) as n,
        sum(n_good) as n_sellable,
        sum(n_scored) as n_scored,
        sum(n_unscored_good) as n_unscored_sellable,
        sum(n_unscored_bad) as n_unscored_unsellable,
        sum(n_kept) as n_kept,
        sum(n_good_kept) as n_sellable_kept,
        count(*) filter (where threshold is not null) as n_folds_chosen,
        count(*) as n_folds,
        count(distinct direction) > 1 as direction_varies,
    from fold_rows
    where not is_in_sample
    group by scorer_id, rule, target_precision

),

in_sample as (select * from fold_rows where is_in_sample),

bootstrap as (select * from {{ ref('int_decision_bootstrap') }}),

unrated_pool as (select image_id from {{ ref('pool') }} where source_rating is null),

pool as (

    select image_signals.scorer_id, image_signals.score
    from {{ ref('image_signals') }} as image_signals
    semi join unrated_pool using (image_id)

),

pool_kept as (

    select
        in_sample.scorer_id,
        in_sample.rule,
        in_sample.target_precision,
        count(pool.score) as n_pool_scored,
        count(*) filter (where case in_sample.direction
            when 'higher' then pool.score >= in_sample.threshold
            else pool.score <= in_sample.threshold end) as n_pool_kept,
    from in_sample
    left join pool using (scorer_id)
    group by all

),

shift as (select scorer_id, psi, ks_statistic, shift_warning from {{ ref('rpt_population_shift') }}),

figures as (

    select
        out_of_sample.*,
        {{ decision_figures('oos_', 'out_of_sample.n', 'out_of_sample.n_sellable',
                            'out_of_sample.n_kept', 'out_of_sample.n_sellable_kept',
                            'out_of_sample.n_unscored_sellable',
                            'out_of_sample.n_unscored_unsellable') }}
        in_sample.direction,
        in_sample.threshold,
        in_sample.n_kept as in_sample_n_kept,
        {{ decision_figures('in_sample_', 'in_sample.n', 'in_sample.n_good',
                            'in_sample.n_kept', 'in_sample.n_good_kept',
                            'in_sample.n_unscored_good', 'in_sample.n_unscored_bad') }}
    from out_of_sample
    left join in_sample
        on in_sample.scorer_id = out_of_sample.scorer_id
        and in_sample.rule = out_of_sample.rule
        and in_sample.target_precision is not distinct from out_of_sample.target_precision

),

final as (

    select
        figures.scorer_id,
        figures.operating_point,
        figures.rule,
        figures.target_precision,
        figures.n,
        figures.n_sellable,
        figures.n_sellable::double / nullif(figures.n, 0) as base_rate,
        figures.n_scored,
        figures.n_scored::double / nullif(figures.n, 0) as coverage,
        figures.n_kept as oos_n_kept,
        figures.n_sellable_kept as oos_n_sellable_kept,
        figures.n_folds_chosen,
        figures.n_folds,
        figures.oos_precision,
        figures.oos_precision_low,
        figures.oos_precision_high,
        bootstrap.precision_ci_low as oos_precision_ci_low,
        bootstrap.precision_ci_high as oos_precision_ci_high,
        figures.oos_keep_rate,
        figures.oos_keep_rate_low,
        figures.oos_keep_rate_high,
        bootstrap.keep_rate_ci_low as oos_keep_rate_ci_low,
        bootstrap.keep_rate_ci_high as oos_keep_rate_ci_high,
        figures.oos_recall,
        figures.oos_recall_low,
        figures.oos_recall_high,
        bootstrap.recall_ci_low as oos_recall_ci_low,
        bootstrap.recall_ci_high as oos_recall_ci_high,
        figures.oos_balanced_accuracy,
        figures.oos_balanced_accuracy_low,
        figures.oos_balanced_accuracy_high,
        bootstrap.balanced_accuracy_ci_low as oos_balanced_accuracy_ci_low,
        bootstrap.balanced_accuracy_ci_high as oos_balanced_accuracy_ci_high,
        bootstrap.n_bootstrap,
        figures.direction,
        figures.threshold,
        figures.in_sample_n_kept,
        figures.in_sample_precision,
        figures.in_sample_precision_low,
        figures.in_sample_precision_high,
        figures.in_sample_keep_rate,
        figures.in_sample_keep_rate_low,
        figures.in_sample_keep_rate_high,
        figures.in_sample_recall,
        figures.in_sample_balanced_accuracy,
        pool_kept.n_pool_scored,
        pool_kept.n_pool_kept,
        (select count(*) from unrated_pool) as n_pool,
        shift.psi,
        shift.ks_statistic,
        shift.shift_warning,
        -- Said in the row itself, not only in a flag.
        case
            when figures.n_sellable < {{ min_n }} or figures.n - figures.n_sellable < {{ min_n }}
                then 'UNRELIABLE: ' || figures.n_sellable || ' sellable and '
                    || (figures.n - figures.n_sellable) || ' unsellable rated images (fewer than '
                    || {{ min_n }} || ' of one kind)'
            when figures.n_folds_chosen = 0
                then 'no threshold: the target was reached in none of the '
                    || figures.n_folds || ' training folds'
            when figures.n_kept < {{ min_n }}
                then 'UNRELIABLE: ' || figures.n_kept || ' images kept out of sample (fewer than '
                    || {{ min_n }} || ')'
            when figures.n_scored < figures.n
                then 'BOUNDS ONLY: the score covers ' || figures.n_scored || ' of '
                    || figures.n || ' rated images'
            when figures.n_folds_chosen < figures.n_folds
                then 'partly reached: ' || figures.n_folds_chosen || ' of ' || figures.n_folds
                    || ' training folds reached the target (the others keep nothing)'
            else 'reliable'
        end as reliability,
        figures.n_kept >= {{ min_n }} and figures.n_sellable >= {{ min_n }}
            and figures.n - figures.n_sellable >= {{ min_n }} as is_reliable,
    from figures
    left join bootstrap
        on bootstrap.scorer_id = figures.scorer_id
        and bootstrap.rule = figures.rule
        and bootstrap.target_precision is not distinct from figures.target_precision
    left join pool_kept
        on pool_kept.scorer_id = figures.scorer_id
        and pool_kept.rule = figures.rule
        and pool_kept.target_precision is not distinct from figures.target_precision
    left join shift on shift.scorer_id = figures.scorer_id

)

select * from final
