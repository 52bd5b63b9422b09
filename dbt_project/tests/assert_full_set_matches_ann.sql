-- full_set is exactly ann's usable rows, each rating shifted down by one.
select ann.image_id, ann.rating, full_set.rating as full_set_rating
from {{ ref('ann') }} as ann
full outer join {{ ref('full_set') }} as full_set using (image_id)
where (ann.rating between 1 and 4) is distinct from (full_set.image_id is not null)
   or full_set.rating is distinct from case when ann.rating between 1 and 4 then ann.rating - 1 end
