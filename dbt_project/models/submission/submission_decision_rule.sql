-- One row (when neurostock passed a policy): the sell decision the gate's `quality`
-- rule applies. The score is the policy's `decision_score` (`auto`: learned_decision
-- when it is trained and valid, else the valid, non-random score whose threshold
-- reaching the target keeps the most images out of sample); the threshold is the
-- operating point of rpt_decision_curves that `neurostock select --precision` picks
-- (the highest out-of-sample keep rate whose cross-fitted precision, its low bound
-- where the score covers part of the rated images, reaches `target_precision` on at
-- least `decision_min_kept` images kept out of sample). is_reached false: no
-- threshold reaches the target, and the gate holds every image with `reason`.
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

final as (

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
    where {{ submission_enabled() }}

)

select * from final
