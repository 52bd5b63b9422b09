-- Every upload title and keyword list fits the policy's CSV limits: a title without
-- commas within the title length, at most the keyword limit.
select 'title' as problem, prompt_raw as at
from {{ ref('submission_prompt_texts') }}
where contains(title, ',')
   or length(title) > {{ (var('ns_submission', none) or {}).get('csv', {}).get('max_title_chars', 70) }}
   or len(keywords) > {{ (var('ns_submission', none) or {}).get('csv', {}).get('max_keywords', 49) }}
