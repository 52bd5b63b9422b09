{#
  The post-hook of the zero-shot models (keyword_zero_shot.py, keyword_group_zero_shot.py:
  incremental, computed in numpy batches by neurostock/analysis/zero_shot.py): the rows of
  (image, embedder) pairs whose image vector left the warehouse, or can no longer be
  compared with keywords (int_image_vectors.problem), are deleted. It reads the vectors'
  facts (int_image_vector_facts), not the view, which would hash and check every vector
  again.
#}

{% macro zero_shot_stale_delete() -%}
delete from {{ this }} as kept
where not exists (
    select 1 from {{ ref('int_image_vector_facts') }} as e
    where e.image_id = kept.image_id and e.embedder_id = kept.embedder_id
      and e.problem is null
)
{%- endmacro %}
