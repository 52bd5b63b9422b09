{#
  The sell decision's figures from counts (docs/analysis.md, "The sell decision"):
  n rows of the decision population, good sellable ones, kept / kept_good by the
  threshold among the scored rows, unscored_good / unscored_bad the rows the score
  does not cover. Each figure gets a low and a high bound (unscored rows counted as
  the worst / best case: an unsellable one kept, a sellable one dropped, and the
  reverse) and a point only where every row is scored. Columns are prefixed.
#}
{% macro decision_figures(prefix, n, good, kept, kept_good, unscored_good, unscored_bad) -%}
    {%- set bad = '(' ~ n ~ ' - ' ~ good ~ ')' -%}
    {%- set full = '(' ~ unscored_good ~ ' + ' ~ unscored_bad ~ ' = 0)' -%}
    {%- set figures = {
        'precision': [
            kept_good ~ '::double / nullif(' ~ kept ~ ' + ' ~ unscored_bad ~ ', 0)',
            '(' ~ kept_good ~ ' + ' ~ unscored_good ~ ')::double / nullif(' ~ kept ~ ' + ' ~ unscored_good ~ ', 0)'],
        'keep_rate': [
            kept ~ '::double / nullif(' ~ n ~ ', 0)',
            '(' ~ kept ~ ' + ' ~ unscored_good ~ ' + ' ~ unscored_bad ~ ')::double / nullif(' ~ n ~ ', 0)'],
        'recall': [
            kept_good ~ '::double / nullif(' ~ good ~ ', 0)',
            '(' ~ kept_good ~ ' + ' ~ unscored_good ~ ')::double / nullif(' ~ good ~ ', 0)'],
        'balanced_accuracy': [
            '(' ~ kept_good ~ '::double / nullif(' ~ good ~ ', 0) + (' ~ bad ~ ' - ' ~ unscored_bad ~ ' - (' ~ kept ~ ' - ' ~ kept_good ~ '))::double / nullif(' ~ bad ~ ', 0)) / 2',
            '((' ~ kept_good ~ ' + ' ~ unscored_good ~ ')::double / nullif(' ~ good ~ ', 0) + (' ~ bad ~ ' - (' ~ kept ~ ' - ' ~ kept_good ~ '))::double / nullif(' ~ bad ~ ', 0)) / 2'],
    } -%}
    {%- for figure, ends in figures.items() %}
        case when {{ full }} then {{ ends[0] }} end as {{ prefix }}{{ figure }},
        {{ ends[0] }} as {{ prefix }}{{ figure }}_low,
        {{ ends[1] }} as {{ prefix }}{{ figure }}_high,
    {%- endfor %}
{%- endmacro %}
