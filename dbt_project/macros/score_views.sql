{#
  The validity rules of a score column, in one place: scorer_summary (each score)
  and signal_summary (each feature; scores take scorer_summary's verdict) both
  describe their columns with distribution_summary.
#}

{% macro distribution_summary(signals) %}
{#- One row per scorer_id of `signals` (a relation or CTE with scorer_id, score):
    its distribution, and distribution_problem, the reasons it cannot carry agreement
    ('; '-separated) or NULL. -#}
select
    stats.*,
    nullif(concat_ws('; ',
        {{ distribution_problems('stats', 'modal.n_modal') }}
    ), '') as distribution_problem,
from (
    select
        scorer_id,
        count(*) as n,
        count(distinct score) as n_distinct,
        min(score) as min_score,
        max(score) as max_score,
        avg(score) as mean_score,
        stddev_samp(score) as stddev_score,
        count(*) filter (where isnan(score) or isinf(score)) as n_not_finite,
    from {{ signals }}
    group by scorer_id
) as stats
inner join (
    select scorer_id, max(n) as n_modal
    from (select scorer_id, score, count(*) as n from {{ signals }} group by all)
    group by scorer_id
) as modal using (scorer_id)
{% endmacro %}


{% macro distribution_problems(stats, n_modal) %}
{#- The rules (comma-separated SQL expressions, null where fine): the team's
    constant TANet-AVA column is the case in point. -#}
            case when {{ stats }}.n_distinct < 2
                then 'constant: every one of ' || {{ stats }}.n || ' values is '
                    || {{ stats }}.min_score end,
            case when {{ stats }}.n_distinct >= 2 and {{ n_modal }} > 0.95 * {{ stats }}.n
                then 'near-constant: ' || round(100.0 * {{ n_modal }} / {{ stats }}.n, 1)
                    || '% of values are equal' end,
            case when {{ stats }}.n_not_finite > 0
                then {{ stats }}.n_not_finite || ' NaN/inf values' end
{%- endmacro %}
