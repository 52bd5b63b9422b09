{#
  The Wilson score 95% interval of a proportion k / n (E. B. Wilson, 1927): two
  columns, <prefix>ci_low and <prefix>ci_high, null where n = 0. Unlike p +- 1.96 se
  it stays inside [0, 1] and is honest for small n and for 0 or n successes.
#}
{% macro wilson_interval(k, n, prefix='') -%}
    {%- set z2 = '3.8416' -%}
    {%- set p = '(' ~ k ~ '::double / nullif(' ~ n ~ ', 0))' -%}
    {%- set center = '(' ~ p ~ ' + ' ~ z2 ~ ' / (2 * ' ~ n ~ '))' -%}
    {%- set half = '1.96 * sqrt(' ~ p ~ ' * (1 - ' ~ p ~ ') / ' ~ n ~ ' + ' ~ z2 ~ ' / (4 * ' ~ n ~ ' * ' ~ n ~ '))' -%}
    {%- set scale = '(1 + ' ~ z2 ~ ' / ' ~ n ~ ')' -%}
        greatest(0, ({{ center }} - {{ half }}) / {{ scale }}) as {{ prefix }}ci_low,
        least(1, ({{ center }} + {{ half }}) / {{ scale }}) as {{ prefix }}ci_high,
{%- endmacro %}
