-- One row per (gate image, policy): the verdict (`submit`, `hold`, `reject`), every
-- reason (each failed or unknown rule with what it saw), quality score and percentile,
-- near-duplicate group and the image kept from it, the fictional-people flag, and the
-- upload's title, keywords and category. The pool's unrated images (mart pool) and rated
-- images alike. Each rule is evaluated once per image, in one pass (macro
-- submission_rule; submission_checks is the same rules a row each): no aggregation over
-- image x rule rows, which at 2.1 M images neither fits DuckDB's memory as lists nor is
-- fast as one column per rule.
{%- set rules = submission_rules() %}
{%- set checks = {} %}
{%- for rule in rules %}{% do checks.update({rule: submission_rule(rule)}) %}{% endfor %}
{#- What a failed rule means, known when the model compiles. #}
{%- set action = {} %}
{%- for rule in rules %}{% do action.update({rule: submission_action_name(rule)}) %}{% endfor %}
{#- Fails that leave an image eligible for a near-duplicate slot: a label, or resolution. #}
{%- set eligible_fail = [] %}
{%- for rule in rules %}{% if action[rule] == 'label' or rule == 'min_megapixels' %}{% do eligible_fail.append(rule) %}{% endif %}{% endfor %}
with

groups as (
    select * from {{ ref('submission_similar_groups') }}
),

statuses as (
    select
        evidence.*,
        {%- for rule in rules %}
        {{ checks[rule]['status'] }} as status_{{ rule }},
        {%- endfor %}
    from ({{ submission_evidence() }}) as evidence
),

judged as (
    select
        statuses.*,
        {%- set rejects = [] %}{% set holds = [] %}
        {%- for rule in rules %}
        {%- if action[rule] == 'reject' %}{% do rejects.append("status_" ~ rule ~ " = 'fail'") %}{% endif %}
        {%- do holds.append("status_" ~ rule ~ " = 'unknown'") %}
        {%- if action[rule] == 'hold' %}{% do holds.append("status_" ~ rule ~ " = 'fail'") %}{% endif %}
        {%- endfor %}
        {{ rejects | join(' or ') if rejects else 'false' }} as has_reject,
        {{ holds | join(' or ') }} as has_hold,
        -- Eligible for a near-duplicate slot: nothing wrong but (maybe) resolution.
        {%- set eligible = [] %}
        {%- for rule in rules %}
        {%- if rule in eligible_fail %}{% do eligible.append("status_" ~ rule ~ " != 'unknown'") %}
        {%- else %}{% do eligible.append("status_" ~ rule ~ " = 'pass'") %}{% endif %}
        {%- endfor %}
        {{ eligible | join(' and ') }} as is_eligible,
        {{ eligible | join(' and ') }} and status_min_megapixels = 'fail' as only_resolution,
        case when status_min_megapixels = 'fail' then {{ checks['min_megapixels']['value'] }}
            end as upscale_factor,
        case status_people_present when 'fail' then 1 when 'pass' then 0 end as people_flag,
        -- The failed or unknown rules, in rule id order (people_present's fail is a
        -- label, carried by has_fictional_people, not a problem).
        list_filter([
            {%- for rule in rules %}
            case when status_{{ rule }} != 'pass'
                      {%- if rule == 'people_present' %} and status_{{ rule }} != 'fail'{% endif %}
                 then struct_pack(rule_id := '{{ rule }}', status := status_{{ rule }},
                                  on_fail := '{{ action[rule] }}',
                                  detail := {{ checks[rule]['detail'] }}) end
            {%- if not loop.last %},{% endif %}
            {%- endfor %}
        ], problem -> problem is not null) as problems,
    from statuses
),

ranked as (
    -- The budget goes to the best eligible images of a group by the decision score
    -- (quality_rank: higher is better whichever way the score points).
    select
        images.image_id,
        groups.group_id,
        groups.group_size,
        row_number() over (
            partition by groups.group_id
            order by images.quality_rank desc nulls last, images.image_id
        ) as rank_in_group,
        first(images.image_id) over (
            partition by groups.group_id
            order by images.quality_rank desc nulls last, images.image_id
        ) as best_in_group,
    from judged as images
    inner join groups using (image_id)
    where images.is_eligible
),

final as (
    select
        images.image_id,
        images.policy,
        images.policy_version,
        images.image_set,
        images.rating,
        case
            when images.has_reject then 'reject'
            when images.has_hold then 'hold'
            when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
                then 'hold'
            else 'submit'
        end as verdict,
        list_concat(
            coalesce(images.problems, []),
            case when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
                then [struct_pack(rule_id := 'near_duplicate', status := 'fail',
                                  on_fail := {{ submission_action('near_duplicate') }},
                                  detail := 'similar to ' || ranked.best_in_group)]
                else [] end
        ) as reasons,
        images.quality_score,
        images.quality_percentile,
        images.quality_rank,
        groups.group_id as near_duplicate_group_id,
        groups.group_size as near_duplicate_group_size,
        case when ranked.rank_in_group > {{ submission_param('near_duplicate_budget') }}
            then ranked.best_in_group end as similar_to_image_id,
        images.people_flag = 1 as has_fictional_people,
        images.only_resolution
            and coalesce(ranked.rank_in_group, 1) <= {{ submission_param('near_duplicate_budget') }}
            as needs_upscaling_only,
        images.upscale_factor,
        images.title,
        images.keywords,
        images.n_keywords,
        images.keyword_note,
        images.category_id,
        categories.category_name,
        images.content_type,
        images.prompt,
        images.file_status,
        images.resolved_path,
        images.width,
        images.height,
    from judged as images
    left join groups using (image_id)
    left join ranked using (image_id)
    left join {{ ref('submission_categories') }} as categories
        on categories.category_id = images.category_id
)

select
    *,
    [r.rule_id for r in reasons] as reason_ids,
from final
