{#- How many rows a threshold keeps, from cumulative counts over the sorted scores:
    `direction` 'higher' keeps the rows at or above the threshold (all but those
    strictly below), 'lower' those at or below it (strictly below plus those equal).
    The same expression counts the good rows kept, given the good rows' counts. -#}
{% macro kept_at_threshold(direction, total, below, equal) -%}
case {{ direction }}
            when 'higher' then {{ total }} - {{ below }}
            else {{ below }} + {{ equal }}
        end
{%- endmacro %}
