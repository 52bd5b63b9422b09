-- One row per (breakdown, value) of the submitted images (submission_outcomes): how
-- many were sent, answered, accepted (rate with its Wilson 95% interval among the
-- answered: accepted or rejected), sold, and their downloads and earnings. Breakdowns:
-- all, gate_verdict (today's verdict), decision_decile (1 = lowest decision score),
-- rejection_reason (the rejected only), experiment_model, name_prefix.
with

outcomes as (select * from {{ ref('submission_outcomes') }}),

long as (

    select 'all' as breakdown, 'all' as value, * from outcomes
    union all
    select 'gate_verdict', coalesce(gate_verdict, 'not judged'), * from outcomes
    union all
    select 'decision_decile', coalesce(decision_decile::varchar, 'no score'), * from outcomes
    union all
    select 'rejection_reason', coalesce(rejection_reason, '(none given)'), *
    from outcomes where status = 'rejected'
    union all
    select 'experiment_model', experiment_model, * from outcomes
    union all
    select 'name_prefix', name_prefix, * from outcomes

),

counted as (

    select
        breakdown,
        value,
        count(*) as n_sent,
        count(*) filter (where is_accepted is not null) as n_answered,
        count(*) filter (where is_accepted) as n_accepted,
        count(*) filter (where status = 'rejected') as n_rejected,
        count(*) filter (where status = 'pending' or status is null) as n_waiting,
        count(*) filter (where is_sold) as n_sold,
        coalesce(sum(downloads), 0) as downloads,
        coalesce(sum(earnings), 0) as earnings,
    from long
    group by breakdown, value

),

final as (

    select
        *,
        n_accepted::double / nullif(n_answered, 0) as acceptance_rate,
        {{ wilson_interval("n_accepted", "n_answered", "acceptance_") }}
        n_sold::double / nullif(n_accepted, 0) as sold_rate,
    from counted

)

select * from final
