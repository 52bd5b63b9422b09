-- big_set holds no rated image and no excluded name.
select big_set.image_id, big_set.img_name
from {{ ref('big_set') }} as big_set
left join {{ ref('image_ratings') }} as rated using (image_id)
where rated.image_id is not null
   or starts_with(big_set.img_name, '{{ var("big_set_excluded_name_prefix") }}')
