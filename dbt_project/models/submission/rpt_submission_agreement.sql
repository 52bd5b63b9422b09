-- One row per (rating 1-5 of the team's scale, verdict): how the gate's verdicts on the
-- rated images agree with the ratings (what share of images rated 5, unusable, it
-- rejects; what share of 3-4 it submits).
with

rated as (
    select * from {{ ref('submission_decisions') }} where image_set = 'rated'
),

final as (
    select
        rating,
        verdict,
        count(*) as n_images,
        count(*) / sum(count(*)) over (partition by rating) as share_of_rating,
    from rated
    group by rating, verdict
)

select * from final
