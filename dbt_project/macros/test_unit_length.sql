{# Rows whose vector is not unit length (the team's cosine maths assumed it). #}
{% test unit_length(model, column_name, tolerance=0.001) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and abs(list_dot_product({{ column_name }}::float[], {{ column_name }}::float[]) - 1) > {{ tolerance }}
{% endtest %}
