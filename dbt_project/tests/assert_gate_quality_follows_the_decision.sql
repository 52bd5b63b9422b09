-- The gate's quality rule is the sell decision: a decision row either has a threshold
-- (reached) or a reason (not reached), and no image passes the quality rule on the
-- wrong side of the threshold, or at all when the target is not reached.
with

rule as (select * from {{ ref('submission_decision_rule') }}),

inconsistent_rule as (
    select 'decision row' as problem, null::bigint as image_id
    from rule
    where is_reached != (threshold is not null) or is_reached != (reason is null)
),

passed_wrongly as (
    select 'quality passed against the decision' as problem, images.image_id
    from {{ ref('submission_images') }} as images, rule
    where rule.quality_rule = 'decision' and images.quality_passes
      and (not rule.is_reached
           or (rule.direction = 'higher' and images.quality_score < rule.threshold)
           or (rule.direction = 'lower' and images.quality_score > rule.threshold))
)

select * from inconsistent_rule
union all
select * from passed_wrongly
