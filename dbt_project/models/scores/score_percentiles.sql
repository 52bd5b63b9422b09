{{ config(materialized='table', tags=['score']) }}
-- One row per (image, valid scorer): the score as its rank percentile within the
-- scorer's images (0 = lowest, 1 = highest), so scorers compare on one footing.
select
    scores.image_id,
    scores.scorer_id,
    scores.score,
    percent_rank() over (partition by scores.scorer_id order by scores.score) as percentile,
from {{ ref('scores') }} as scores
inner join {{ ref('scorer_summary') }} as summary using (scorer_id)
where summary.is_valid
