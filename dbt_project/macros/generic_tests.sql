{# Generic data tests used across the analysis and metric models. #}

{# Rows whose combination of `columns` is not unique (the model's grain). #}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}


{# Values outside [min_value, max_value] (nulls pass). #}
{% test value_between(model, column_name, min_value, max_value) %}
select *
from {{ model }}
where {{ column_name }} < {{ min_value }} or {{ column_name }} > {{ max_value }}
   or isnan({{ column_name }})
{% endtest %}


{# Groups whose `column` does not sum to 1: the team's zero-shot "probabilities"
   were raw similarities that did not. #}
{% test probabilities_sum_to_one(model, group_by, column='probability', tolerance=0.000001) %}
select {{ group_by | join(', ') }}, sum({{ column }}) as total
from {{ model }}
group by {{ group_by | join(', ') }}
having abs(sum({{ column }}) - 1) > {{ tolerance }} or sum({{ column }}) is null
{% endtest %}
