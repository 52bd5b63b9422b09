-- One row (when neurostock passed a policy): the sell decision the gate's `quality`
-- rule applies. The score is the policy's `decision_score` (`auto`: learned_decision
-- when it is trained and valid, else the valid, non-random score whose threshold
-- reaching the target keeps the most images out of sample); the threshold is the
-- operating point of rpt_decision_curves that `neurostock select --precision` picks
-- (the highest out-of-sample keep rate whose cross-fitted precision, its low bound
-- where the score covers part of the rated images, reaches `target_precision` on at
-- least `decision_min_kept` images kept out of sample). is_reached false: no
-- threshold reaches the target, and the gate holds every image with `reason`.
-- When the score is a learned decision model whose forward AUC (rpt_learned_forward:
-- later generations judged by models fitted before them) disagrees with its
-- grouped-fold AUC beyond their intervals, the forward figure is the one relied on
-- (measured_by 'forward in time', forward_reason says why): the threshold and the
-- promised precision are rpt_forward_operating_points' for the target, chosen on
-- earlier periods' forward scores and measured on later ones.
-- Empty when neurostock passed no policy.
{%- set policy = var('ns_submission', none) %}
{%- set params = policy['params'] if policy is not none else {} %}
{%- set p = submission_param %}
{%- set named = params.get('decision_score', 'auto') %}
with

curves as (

    select curves.*, signals.is_random_init
    from {{ ref('rpt_decision_curves') }} as curves
    inner join {{ ref('signal_summary') }} as signals using (scorer_id)
    where signals.is_valid

),

reaching as (

    select
        *,
        row_number() over (
            partition by scorer_id order by oos_keep_rate_low desc, target_precision
        ) as pick,
    from curves
    where rule = 'precision' and threshold is not null
        and oos_precision_low >= {{ p('target_precision') }}
        and oos_n_kept >= {{ p('decision_min_kept') }}

),

best_point as (select * exclude (pick) from reaching where pick = 1),

per_scorer as (

    select
        scorer_id,
        bool_or(is_random_init) as is_random_init,
        max(oos_precision_low) filter (where oos_n_kept >= {{ p('decision_min_kept') }})
            as best_precision_low,
        max(oos_precision_high) filter (where oos_n_kept >= {{ p('decision_min_kept') }})
            as best_precision_high,
        any_value(n) as n,
        any_value(coverage) as coverage,
        any_value(shift_warning) as shift_warning,
    from curves
    group by scorer_id

),

forward_check as (

    -- The pooled forward row of a learned decision model, when it has one.
    select scorer_id, disagrees, auc_sellable, auc_sellable_ci_low, auc_sellable_ci_high,
        grouped_auc_sellable, grouped_auc_sellable_ci_low, grouped_auc_sellable_ci_high,
    from {{ ref('rpt_learned_forward') }}
    where split = 'forward' and part = 'pooled'

),

forward_point as (

    select * from {{ ref('rpt_forward_operating_points') }}
    where target_precision = {{ p('target_precision') }}::double

),

unrated_scores as (

    select signals.scorer_id, signals.score
    from {{ ref('image_signals') }} as signals
    semi join (select image_id from {{ ref('pool') }} where source_rating is null) using (image_id)

),

chosen as (

    {%- if named == 'auto' %}
    select
        per_scorer.scorer_id,
        case
            when per_scorer.scorer_id = 'learned_decision'
                then 'auto: learned_decision, the trained sell decision'
            else 'auto: no valid learned_decision; ' || per_scorer.scorer_id
                || ' keeps the most images at the target out of sample'
        end as chosen_by,
    from per_scorer
    left join best_point using (scorer_id)
    where not per_scorer.is_random_init
    order by
        per_scorer.scorer_id = 'learned_decision' desc,
        best_point.oos_keep_rate_low desc nulls last,
        per_scorer.best_precision_low desc nulls last,
        per_scorer.scorer_id
    limit 1
    {%- else %}
    select {{ p('decision_score') }} as scorer_id, 'named by the policy' as chosen_by
    {%- endif %}

),

grouped as (

    select
        {{ submission_policy_name() }} as policy,
        {{ submission_policy_version() }} as policy_version,
        {{ p('quality_rule') }} as quality_rule,
        {{ p('decision_score') }} as decision_score,
        chosen.scorer_id,
        chosen.chosen_by,
        coalesce(per_scorer.is_random_init, false) as is_random_init,
        {{ p('target_precision') }}::double as target_precision,
        {{ p('decision_min_kept') }}::integer as min_kept,
        best_point.scorer_id is not null as is_reached,
        best_point.direction,
        best_point.threshold,
        best_point.operating_point,
        best_point.oos_precision,
        best_point.oos_precision_low,
        best_point.oos_precision_high,
        best_point.oos_precision_ci_low,
        best_point.oos_precision_ci_high,
        best_point.oos_keep_rate,
        best_point.oos_n_kept,
        per_scorer.n as measured_on,
        per_scorer.coverage,
        per_scorer.shift_warning,
        best_point.reliability,
        coalesce(forward_check.disagrees, false) as forward_disagrees,
        forward_check.auc_sellable as forward_auc,
        forward_check.auc_sellable_ci_low as forward_auc_ci_low,
        forward_check.auc_sellable_ci_high as forward_auc_ci_high,
        forward_check.grouped_auc_sellable_ci_low,
        forward_check.grouped_auc_sellable_ci_high,
        best_point.n_pool,
        best_point.n_pool_kept,
        case
            when best_point.scorer_id is not null then null
            when per_scorer.scorer_id is null
                then 'no decision: ' || coalesce(chosen.scorer_id, 'no valid score')
                    || ' has no decision curve (not a valid score scoring rated images)'
            else 'no decision: ' || chosen.scorer_id || ' reaches precision '
                || {{ p('target_precision') }} || ' out of sample at no threshold keeping at least '
                || {{ p('decision_min_kept') }} || ' images ('
                || coalesce('at best ' || round(per_scorer.best_precision_low, 3),
                            'none keeps enough images')
                || '; cross-fitted on ' || coalesce(per_scorer.n, 0) || ' rated images)'
        end as reason,
    -- One row even when no score qualifies (chosen is then empty).
    from (select 1) as one_row
    left join chosen on true
    left join per_scorer using (scorer_id)
    left join best_point using (scorer_id)
    left join forward_check using (scorer_id)
    where {{ submission_enabled() }}

),

{#- The forward operating point reaches the target: a threshold, a precision that is a
    number (no image kept: NaN, which DuckDB orders above every number) at least the
    target, and enough images kept. Not reached: no threshold, as in the grouped row. #}
{%- set forward_reached = "(forward_point.threshold is not null"
    ~ " and not isnan(forward_point.oos_precision)"
    ~ " and forward_point.oos_precision >= grouped.target_precision"
    ~ " and forward_point.oos_n_kept >= grouped.min_kept)" %}
final as (

    select
        grouped.* replace (
            case when forward_disagrees then {{ forward_reached }}
                else grouped.is_reached end as is_reached,
            {#- Column of the grouped row: what the forward operating point puts there. #}
            {%- for column, forward in [
                ('direction', 'forward_point.direction'),
                ('threshold', 'case when ' ~ forward_reached ~ ' then forward_point.threshold end'),
                ('operating_point', "'forward: precision >= ' || grouped.target_precision"),
                ('oos_precision', 'forward_point.oos_precision'),
                ('oos_precision_low', 'forward_point.oos_precision'),
                ('oos_precision_high', 'forward_point.oos_precision'),
                ('oos_precision_ci_low', 'forward_point.oos_precision_ci_low'),
                ('oos_precision_ci_high', 'forward_point.oos_precision_ci_high'),
                ('oos_keep_rate', 'forward_point.oos_keep_rate'),
                ('oos_n_kept', 'forward_point.oos_n_kept'),
                ('measured_on', 'forward_point.measured_on')] %}
            case when forward_disagrees then {{ forward }}
                else grouped.{{ column }} end as {{ column }},
            {%- endfor %}
            case when forward_disagrees then 'forward: ' || forward_point.oos_n_kept
                || ' later-period images kept by thresholds chosen on earlier periods'
                else grouped.reliability end as reliability,
            case when not forward_disagrees then grouped.n_pool_kept
                when {{ forward_reached }} then (
                    select count(*) from unrated_scores
                    where unrated_scores.scorer_id = grouped.scorer_id
                        and unrated_scores.score >= forward_point.threshold)
                end as n_pool_kept,
            case
                when not forward_disagrees then grouped.reason
                when {{ forward_reached }} then null
                else 'no decision: ' || grouped.scorer_id || ' reaches precision '
                    || grouped.target_precision || ' forward in time (later generations) '
                    || 'at no threshold keeping at least ' || grouped.min_kept || ' images ('
                    || coalesce('at best ' || round(forward_point.oos_precision, 3)
                        || ' on ' || forward_point.oos_n_kept || ' kept',
                        forward_point.reason, 'no forward operating point')
                    || '; its forward AUC disagrees with the grouped folds)'
            end as reason
        ),
        case when forward_disagrees then 'forward in time' else 'grouped folds' end
            as measured_by,
        case when forward_disagrees then
            'the forward AUC ' || round(forward_auc, 3) || ' [' || round(forward_auc_ci_low, 3)
            || ', ' || round(forward_auc_ci_high, 3) || '] and the grouped folds'' ['
            || round(grouped_auc_sellable_ci_low, 3) || ', '
            || round(grouped_auc_sellable_ci_high, 3) || '] disagree beyond their intervals:'
            || ' the threshold and its precision are chosen and measured on later'
            || ' generations (rpt_forward_operating_points)'
        end as forward_reason,
    from grouped
    left join forward_point using (scorer_id)

)

select * from final
