-- The rating queue never holds two images of one near-duplicate group.
select groups.group_id, count(*) as n_queued
from {{ ref('rpt_rating_queue') }} as queue
inner join {{ ref('near_duplicate_groups') }} as groups using (image_id)
group by groups.group_id
having count(*) > 1
