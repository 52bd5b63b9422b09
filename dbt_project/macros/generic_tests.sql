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


{#- An incomplete (image, embedder) of keyword_zero_shot keeps exactly its top_k most
    probable keywords (fewer only where the list is shorter), ranked 1..k, and no more
    probability than 1; a complete one keeps one row per keyword of its embedder. -#}
{% test zero_shot_top_keywords_kept(model, top_k) %}
with
kept as (
    select image_id, embedder_id, bool_and(is_complete) as is_complete,
           count(*) as n, max(keyword_rank) as max_rank, sum(probability) as total,
    from {{ model }}
    group by image_id, embedder_id
),
listed as (
    select embedder_id, count(*) as n_keywords from {{ ref('keyword_embeddings') }}
    group by embedder_id
)
select kept.*
from kept inner join listed using (embedder_id)
where n != case when is_complete then n_keywords else least({{ top_k }}, n_keywords) end
   or max_rank != n
   or total > 1 + 1e-9
{% endtest %}
