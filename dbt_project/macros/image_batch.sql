{#- An image's batch as the team names it: the name prefix (`3_`, `6_`, ...; `(none)`
    without one) and the experiment model (`unknown` without one), as two select
    columns. rpt_population_mix and submission_outcomes break their figures down by them. -#}
{% macro image_batch_columns(img_name='img_name', experiment_model_id='experiment_model_id') -%}
        coalesce(nullif(regexp_extract({{ img_name }}, '^([0-9]+)_', 1), '') || '_', '(none)')
            as name_prefix,
        coalesce({{ experiment_model_id }}::varchar, 'unknown') as experiment_model,
{%- endmacro %}
