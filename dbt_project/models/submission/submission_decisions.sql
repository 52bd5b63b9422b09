-- One row per (gate image, policy): the verdict (`submit`, `hold`, `reject`), every
-- reason (each failed or unknown rule with what it saw), quality score and percentile,
-- near-duplicate group and the image kept from it, the fictional-people flag, and the
-- upload's title, keywords and category. The pool's unrated images (mart pool) and rated
-- images alike.
{%- set problem_columns = [] %}
{%- for rule in submission_rules() %}{% do problem_columns.append('problem_' ~ rule) %}{% endfor %}
with

images as (
    select * from {{ ref('submission_images') }}
),

checks as (
    select * from {{ ref('submission_checks') }}
),

texts as (
    select * from {{ ref('submission_prompt_texts') }}
),

groups as (
    select * from {{ ref('submission_similar_groups') }}
),

judged_by_rule as (
    select
        image_id,
        bool_or(status = 'fail' and on_fail = 'reject') as has_reject,
        bool_or((status = 'fail' and on_fail = 'hold') or status = 'unknown') as has_hold,
        -- Eligible for a near-duplicate slot: nothing wrong but (maybe) resolution.
        bool_and(status = 'pass' or (status = 'fail' and on_fail = 'label')
                 or (status = 'fail' and rule_id = 'min_megapixels')) as is_eligible,
        bool_and(status = 'pass' or (status = 'fail' and on_fail = 'label')
                 or (status = 'fail' and rule_id = 'min_megapixels'))
            and bool_or(status = 'fail' and rule_id = 'min_megapixels') as only_resolution,
        max(case when rule_id = 'min_megapixels' and status = 'fail' then value end)
            as upscale_factor,
        max(case when rule_id = 'people_present' then
            case status when 'fail' then 1 when 'pass' then 0 end end) as people_flag,
        -- One column per rule, not list(): a list aggregate cannot spill to disk, and at
        -- 2.1 M images it does not fit DuckDB's memory limit; fixed columns do.
        {%- for rule in submission_rules() %}
        max(case when rule_id = '{{ rule }}' and status != 'pass'
                      and not (rule_id = 'people_present' and status = 'fail')
                 then struct_pack(rule_id := rule_id, status := status, on_fail := on_fail,
                                  detail := detail) end) as problem_{{ rule }},
        {%- endfor %}
    from checks
    group by image_id
),

judged as (
    select
        * exclude ({{ problem_columns | join(', ') }}),
        -- The failed or unknown rules, in rule id order.
        list_filter([{{ problem_columns | join(', ') }}], problem -> problem is not null)
            as problems,
    from judged_by_rule
),

ranked as (
    -- The budget goes to the best eligible images of a group by the quality score.
    select
        images.image_id,
        groups.group_id,
        groups.group_size,
        row_number() over (
            partition by groups.group_id
            order by images.quality_score desc nulls last, images.image_id
        ) as rank_in_group,
        first(images.image_id) over (
            partition by groups.group_id
            order by images.quality_score desc nulls last, images.image_id
        ) as best_in_group,
    from images
    inner join groups using (image_id)
    inner join judged using (image_id)
    where judged.is_eligible
),

final as (
    select
        images.image_id,
        images.policy,
        images.policy_version,
        images.image_set,
        images.rating,
        case
            when judged.has_reject then 'reject'
            when judged.has_hold then 'hold'
            when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
                then 'hold'
            else 'submit'
        end as verdict,
        list_concat(
            coalesce(judged.problems, []),
            case when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
                then [struct_pack(rule_id := 'near_duplicate', status := 'fail',
                                  on_fail := {{ submission_action('near_duplicate') }},
                                  detail := 'similar to ' || ranked.best_in_group)]
                else [] end
        ) as reasons,
        images.quality_score,
        images.quality_percentile,
        groups.group_id as near_duplicate_group_id,
        groups.group_size as near_duplicate_group_size,
        case when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
            then ranked.best_in_group end as similar_to_image_id,
        judged.people_flag = 1 as has_fictional_people,
        judged.only_resolution
            and coalesce(ranked.rank_in_group, 1) <= {{ submission_param('near_duplicate_budget') }}
            as needs_upscaling_only,
        judged.upscale_factor,
        texts.title,
        texts.keywords,
        texts.n_keywords,
        texts.keyword_note,
        texts.category_id,
        categories.category_name,
        images.prompt,
        images.file_status,
        images.resolved_path,
        images.width,
        images.height,
    from images
    inner join judged using (image_id)
    left join groups using (image_id)
    left join ranked using (image_id)
    left join texts on texts.prompt_raw is not distinct from images.prompt_raw
    left join {{ ref('submission_categories') }} as categories
        on categories.category_id = texts.category_id
)

select
    *,
    [r.rule_id for r in reasons] as reason_ids,
from final
