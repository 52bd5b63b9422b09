-- Every usable rated image (full_set) and every image rated unusable is in the pool.
select image_id
from {{ ref('full_set') }}
anti join {{ ref('pool') }} using (image_id)
union all
select ratings.image_id
from {{ ref('image_ratings') }} as ratings
inner join {{ ref('int_images_checked') }} as images using (image_id)
where ratings.rating = 5 and images.is_valid
  and ratings.image_id not in (select image_id from {{ ref('pool') }})
