-- ann holds exactly the rated images whose resolved rating is 1-4, with that
-- rating; the unusable ones (5) are only in image_ratings.
select ratings.image_id, ratings.rating, ann.rating as ann_rating
from (select * from {{ ref('image_ratings') }} where rating between 1 and 4) as ratings
full outer join {{ ref('ann') }} as ann using (image_id)
where ratings.image_id is null
   or ann.image_id is null
   or ann.rating is distinct from ratings.rating
