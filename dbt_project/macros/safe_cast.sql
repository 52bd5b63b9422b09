{# An integer only when the text is one (`3`, `-2`, `3.0`); NULL otherwise.
   DuckDB's try_cast('3.5' as bigint) rounds to 4, which would hide a bad value. #}
{% macro safe_integer(column) -%}
case
    when regexp_full_match(trim({{ column }}), '[+-]?[0-9]{1,18}(\.0*)?')
        then cast(cast(trim({{ column }}) as double) as bigint)
end
{%- endmacro %}

{# The reason a non-NULL text value failed to cast, or NULL. #}
{% macro cast_problem(column, typed, label, type_name) -%}
case
    when {{ column }} is not null and {{ typed }} is null
        then '{{ label }} is not {{ type_name }}: ' || left({{ column }}, 80)
end
{%- endmacro %}
