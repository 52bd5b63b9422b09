{% macro submission_param(name) %}
{#- A parameter of the marketplace policy neurostock passes in var ns_submission
    (submit/policy.py: the policy file with neurostock.yml's overrides), as SQL. -#}
{%- set policy = var('ns_submission', none) -%}
{%- if policy is none or name not in policy['params'] -%}
null
{%- elif policy['params'][name] is string -%}
'{{ policy['params'][name] | replace("'", "''") }}'
{%- else -%}
{{ policy['params'][name] }}
{%- endif -%}
{% endmacro %}

{% macro submission_action(rule_id) %}
{%- set policy = var('ns_submission', none) -%}
'{{ policy['actions'].get(rule_id, 'hold') if policy is not none else 'hold' }}'
{%- endmacro %}

{% macro submission_policy_name() %}
{%- set policy = var('ns_submission', none) -%}
{{ "'" ~ policy['policy'] ~ "'" if policy is not none else 'null::varchar' }}
{%- endmacro %}

{% macro submission_policy_version() %}
{%- set policy = var('ns_submission', none) -%}
{{ policy['version'] if policy is not none else 'null::integer' }}
{%- endmacro %}

{% macro submission_enabled() %}
{{- 'true' if var('ns_submission', none) is not none else 'false' -}}
{% endmacro %}

{% macro submission_rules() %}
{#- The gate's rules that submission_checks writes one row each for, by name (the
    near-duplicate budget aside: submission_decisions applies it). -#}
{{- return(['artist_reference', 'max_file_mb', 'max_megapixels', 'min_megapixels', 'nsfw',
            'people_present', 'prohibited_names', 'quality', 'text_in_image']) -}}
{% endmacro %}
