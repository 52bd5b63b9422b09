-- One row per (gate image, rule of the policy, near_duplicate aside): `pass`, `fail` or
-- `unknown` (the warehouse cannot tell: no file, no score), the value the rule saw and
-- what a failure means (`on_fail`: hold, reject, or label for people_present).
-- A view: the rules are evaluated when read (macro submission_rule, the same expressions
-- submission_decisions evaluates once per image), so a build writes no 9-rows-per-image
-- table (19 M rows at 2.1 M images).
{{ config(materialized='view') }}
with

evidence as (
    {{ submission_evidence() }}
),

checks as (
    {%- for rule in submission_rules() %}
    {%- set check = submission_rule(rule) %}
    select
        image_id,
        '{{ rule }}' as rule_id,
        {{ check['status'] }} as status,
        {{ submission_action(rule) }} as on_fail,
        {{ check['detail'] }} as detail,
        ({{ check['value'] }})::double as value,
    from evidence
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
)

select * from checks
