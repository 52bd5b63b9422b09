-- full_set is exactly ann (one row per usable rated image), each rating shifted
-- down by one and the image path built from the shifted rating.
select ann.image_id, ann.rating, full_set.rating as full_set_rating
from {{ ref('ann') }} as ann
full outer join {{ ref('full_set') }} as full_set using (image_id)
where ann.image_id is null
   or full_set.image_id is null
   or full_set.rating is distinct from ann.rating - 1
   or full_set.prompt is distinct from ann.prompt
   or full_set.dataset_img_path is distinct from
      '{{ var("dataset_image_root") }}/' || (ann.rating - 1) || '/' || ann.image_id || '.jpg'
