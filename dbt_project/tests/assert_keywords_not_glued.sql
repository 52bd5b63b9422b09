-- No keyword is two other keywords run together (the team's `heavenlyhorrible`).
select glued.keyword, a.keyword as first_part, b.keyword as second_part
from {{ ref('keywords') }} as glued
cross join {{ ref('keywords') }} as a
cross join {{ ref('keywords') }} as b
where lower(glued.keyword) = lower(a.keyword || b.keyword)
