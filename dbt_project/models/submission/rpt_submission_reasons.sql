-- One row per (image set, rule, status): how many images the rule stops (fail) or
-- cannot judge (unknown), and the verdict those images got, ranked by how many.
with

decisions as (
    select * from {{ ref('submission_decisions') }}
),

reasons as (
    select decisions.image_set, decisions.verdict, decisions.image_id, reason.rule_id,
           reason.status, reason.on_fail
    from decisions, unnest(decisions.reasons) as t(reason)
),

final as (
    select
        image_set,
        rule_id,
        status,
        any_value(on_fail) as on_fail,
        count(*) as n_images,
        count(*) filter (where verdict = 'reject') as n_rejected,
        count(*) filter (where verdict = 'hold') as n_held,
        row_number() over (partition by image_set order by count(*) desc, rule_id, status)
            as rank,
    from reasons
    group by image_set, rule_id, status
)

select * from final
