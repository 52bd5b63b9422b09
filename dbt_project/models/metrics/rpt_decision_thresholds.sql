-- One row per valid signal that scores at least one rated image: the sell decision at var target_precision and at the
-- best balanced accuracy, from rpt_decision_curves (cross-fitted, out of sample,
-- with bootstrap intervals; bounds where the score does not cover every rated
-- image), beside the in-sample threshold `neurostock select` applies, the AUC of
-- sellable on the rated images it scores, its coverage, the pool's yield and the
-- population-shift warning.
with

curves as (select * from {{ ref('rpt_decision_curves') }}),

at_target as (

    select * from curves
    where rule = 'precision' and target_precision = {{ var('target_precision') }}::double

),

balanced as (select * from curves where rule = 'balanced_accuracy'),

ranked as (

    select
        scorer_id,
        is_sellable,
        {{ average_rank('score', 'scorer_id') }} as score_rank,
    from {{ ref('int_decision_pairs') }}
    where is_scored

),

auc as (

    -- Mann-Whitney from average ranks; ties count one half. Higher = more sellable.
    select
        scorer_id,
        count(*) filter (where is_sellable) as n_good,
        count(*) filter (where not is_sellable) as n_bad,
        {{ mann_whitney_auc('sum(score_rank) filter (where is_sellable)',
                            'count(*) filter (where is_sellable)',
                            'count(*) filter (where not is_sellable)') }} as auc_sellable_scored,
    from ranked
    group by scorer_id

),

signals as (select * from {{ ref('signal_summary') }} where is_valid),

final as (

    select
        signals.scorer_id,
        signals.signal_kind,
        signals.embedder_id,
        signals.is_random_init,
        at_target.n,
        at_target.n_sellable,
        at_target.base_rate,
        at_target.n_scored,
        at_target.coverage,
        auc.auc_sellable_scored,
        {{ var('target_precision') }}::double as target_precision,
        at_target.direction,
        at_target.threshold as precision_threshold,
        at_target.in_sample_precision,
        at_target.oos_precision,
        at_target.oos_precision_low,
        at_target.oos_precision_high,
        at_target.oos_precision_ci_low,
        at_target.oos_precision_ci_high,
        at_target.oos_keep_rate,
        at_target.oos_keep_rate_low,
        at_target.oos_keep_rate_high,
        at_target.oos_keep_rate_ci_low,
        at_target.oos_keep_rate_ci_high,
        at_target.oos_recall,
        at_target.oos_recall_low,
        at_target.oos_recall_high,
        at_target.oos_recall_ci_low,
        at_target.oos_recall_ci_high,
        at_target.n_folds_chosen,
        at_target.n_pool_kept,
        at_target.n_pool_scored,
        at_target.n_pool,
        at_target.reliability,
        balanced.threshold as balanced_accuracy_threshold,
        balanced.in_sample_balanced_accuracy,
        balanced.oos_balanced_accuracy,
        balanced.oos_balanced_accuracy_low,
        balanced.oos_balanced_accuracy_high,
        balanced.oos_balanced_accuracy_ci_low,
        balanced.oos_balanced_accuracy_ci_high,
        balanced.oos_precision as balanced_oos_precision,
        balanced.oos_keep_rate as balanced_oos_keep_rate,
        balanced.n_pool_kept as balanced_n_pool_kept,
        balanced.reliability as balanced_reliability,
        at_target.psi,
        at_target.ks_statistic,
        at_target.shift_warning,
    from signals
    inner join at_target using (scorer_id)
    left join balanced using (scorer_id)
    left join auc using (scorer_id)

)

select * from final
