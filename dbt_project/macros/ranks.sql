{#- Ranks and the AUC they give, one formula for every metric model. -#}

{#- The average rank of `column` within `partition_by` (a comma-separated column list):
    tied values share the mean of the ranks they span, as scipy's rankdata does. -#}
{% macro average_rank(column, partition_by) -%}
rank() over (partition by {{ partition_by }} order by {{ column }})
    + (count(*) over (partition by {{ partition_by }}, {{ column }}) - 1) / 2.0
{%- endmacro %}

{#- ROC AUC by Mann-Whitney from the positives' rank sum (average ranks over positives
    and negatives together): the chance that a positive outscores a negative, ties
    counting half; null without a positive or a negative. -#}
{% macro mann_whitney_auc(rank_sum, n_positive, n_negative) -%}
case when {{ n_positive }} > 0 and {{ n_negative }} > 0
    then ({{ rank_sum }} - {{ n_positive }} * ({{ n_positive }} + 1) / 2.0)
        / ({{ n_positive }}::double * {{ n_negative }})
end
{%- endmacro %}
