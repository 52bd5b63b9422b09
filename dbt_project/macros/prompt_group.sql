{#
  The prompt group, the unit every grouped split keeps together (the learned models'
  cross-validation folds, the sell decision's cross-fitting folds, the bootstraps'
  resamples): prompts equal up to case, punctuation and spacing are one group -
  lowercased, every run of characters that are not letters, digits or `_` one space,
  trimmed. An image without a prompt (NULL, or nothing left) is a group of its own,
  '#<image_id>' ('#' never occurs in a group of words): one shared empty group would put
  every prompt-less image in one fold (the team's rated rows outside big_set.csv have no
  prompt). The mart pool carries it (pool.prompt_group); Python reads that column.
  lower() is DuckDB's simple case mapping: 'İ' -> 'i' and 'Σ' -> 'σ' everywhere
  (tests/test_prompt_cleaning.py pins the rule on unicode, punctuation, empty, NULL).
#}
{% macro prompt_group(prompt, image_id) -%}
coalesce(
    nullif(trim(regexp_replace(lower(coalesce({{ prompt }}, '')), '[^\pL\pN_]+', ' ', 'g')), ''),
    '#' || {{ image_id }}
)
{%- endmacro %}
