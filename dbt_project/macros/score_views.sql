{#
  The validity rules of a score column, shared by scorer_summary (scores) and
  signal_summary (every signal).
#}

{% macro distribution_problems(stats, n_modal) %}
{#- Reasons a score column cannot carry agreement (comma-separated SQL expressions,
    null where fine): the team's constant TANet-AVA column is the case in point. -#}
            case when {{ stats }}.n_distinct < 2
                then 'constant: every one of ' || {{ stats }}.n || ' values is '
                    || {{ stats }}.min_score end,
            case when {{ stats }}.n_distinct >= 2 and {{ n_modal }} > 0.95 * {{ stats }}.n
                then 'near-constant: ' || round(100.0 * {{ n_modal }} / {{ stats }}.n, 1)
                    || '% of values are equal' end,
            case when {{ stats }}.n_not_finite > 0
                then {{ stats }}.n_not_finite || ' NaN/inf values' end
{%- endmacro %}


{% macro score_percentiles() %}
-- One row per (image, valid scorer): the score as its rank percentile within the
-- scorer's images (0 = lowest, 1 = highest), so scorers compare on one footing.
select
    scores.image_id,
    scores.scorer_id,
    scores.score,
    percent_rank() over (partition by scores.scorer_id order by scores.score) as percentile,
from {{ ref('scores') }} as scores
inner join {{ ref('scorer_summary') }} as summary using (scorer_id)
where summary.is_valid
{% endmacro %}
