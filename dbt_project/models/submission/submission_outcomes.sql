-- One row per image of a pack in the ledger that was not withdrawn (its newest such
-- pack): the market's latest answer (annotations.outcomes: the newest row by the list's
-- date, then by import), null while no list has named it; is_accepted / is_sold (null:
-- no answer yet), and what the warehouse said of it: the gate's verdict today, the
-- decision score (quality_rank: higher is better) and its decile among these images,
-- the name prefix and experiment model. The targets `neurostock train --target
-- accepted|sold` learn from, and rpt_submission_outcomes' breakdowns.
with

ledger as (select * from {{ ref('stg_annotations__submissions') }}),

withdrawn as (select distinct pack_id from ledger where event = 'withdrawn'),

packed as (

    select image_id, pack_id, file_name, recorded_at as packed_at, policy
    from ledger
    where event = 'packed' and pack_id not in (select pack_id from withdrawn)
    qualify row_number() over (partition by image_id order by recorded_at desc) = 1

),

latest as (

    select *
    from {{ ref('stg_annotations__outcomes') }}
    qualify row_number() over (
        partition by image_id
        order by outcome_date desc nulls last, imported_at desc, line_no desc
    ) = 1

),

images as (

    select
        image_id,
        {{ image_batch_columns() }}
    from {{ ref('int_images_checked') }}

),

gate as (

    select image_id, verdict, quality_score, quality_rank
    from {{ ref('submission_decisions') }}

),

final as (

    select
        packed.image_id,
        packed.pack_id,
        packed.file_name,
        packed.packed_at,
        packed.policy,
        latest.status,
        latest.rejection_reason,
        latest.downloads,
        latest.earnings,
        latest.outcome_date,
        latest.import_id,
        case latest.status when 'accepted' then true when 'rejected' then false end
            as is_accepted,
        case
            when coalesce(latest.downloads, 0) > 0 or coalesce(latest.earnings, 0) > 0 then true
            when latest.status = 'accepted' then false
        end as is_sold,
        gate.verdict as gate_verdict,
        gate.quality_score as decision_score,
        gate.quality_rank as decision_rank,
        case when gate.quality_rank is not null
            then ntile(10) over (partition by gate.quality_rank is not null
                                 order by gate.quality_rank)
        end as decision_decile,
        images.name_prefix,
        images.experiment_model,
    from packed
    left join latest using (image_id)
    left join gate using (image_id)
    left join images using (image_id)

)

select * from final
