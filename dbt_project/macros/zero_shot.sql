{#
  Zero-shot keyword probabilities, computed only for the (image, embedder) pairs that
  are new or changed: keyword_zero_shot and keyword_group_zero_shot are incremental
  models (delete+insert by image and embedder) that call these macros.

  A pair is recomputed when its image vector changed (vector_hash: DuckDB's hash of the
  vector), when the embedder's keyword list or a keyword's vector changed
  (keyword_list_hash), or, for the per-keyword rows, when the image's completeness
  changed (it was rated since). Pairs whose image left image_embeddings are deleted
  by the models' post-hook.
#}

{% macro zero_shot_pairs(with_completeness) %}
{#- A table built before these models were incremental (no vector_hash) is computed
    again whole, once; on_schema_change adds the new columns to it. -#}
{%- set resumable = is_incremental() and 'vector_hash' in (
    adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
images as (

    select image_id, embedder_id, is_random_init, embedding,
           hash(embedding) as vector_hash,
    from {{ ref('image_embeddings') }}

),

keywords as (

    select
        keyword,
        embedder_id,
        -- 'unlisted' as in keyword_embeddings: a NULL group would name no signal.
        coalesce(keyword_group, 'unlisted') as keyword_group,
        embedding,
    from {{ ref('keyword_embeddings') }}

),

keyword_lists as (

    select
        embedder_id,
        hash(string_agg(keyword || '=' || keyword_group || '=' || hash(embedding)::varchar,
                        '|' order by keyword)) as keyword_list_hash,
    from keywords
    group by embedder_id

),

{%- if with_completeness %}

rated as (select image_id from {{ ref('image_ratings') }}),
{%- endif %}

wanted as (

    select
        images.*,
        keyword_lists.keyword_list_hash,
        {%- if with_completeness %}
        -- Every keyword's row for a rated image (what the metrics read) or where each
        -- keyword is a signal; the var's top keywords for an unrated pool image.
        {{ 'true' if var('zero_shot_keyword_signals', false) else
           'images.image_id in (select image_id from rated)' }} as is_complete,
        {%- endif %}
    from images
    inner join keyword_lists using (embedder_id)

),

todo as (

    select wanted.*
    from wanted
    {%- if resumable %}
    anti join (
        select distinct image_id, embedder_id, vector_hash, keyword_list_hash
            {{- ', is_complete' if with_completeness else '' }}
        from {{ this }}
    ) as done
        on done.image_id = wanted.image_id
        and done.embedder_id = wanted.embedder_id
        and done.vector_hash = wanted.vector_hash
        and done.keyword_list_hash = wanted.keyword_list_hash
        {%- if with_completeness %}
        and done.is_complete = wanted.is_complete
        {%- endif %}
    {%- endif %}

),

logits as (

    select
        todo.* exclude (embedding),
        keywords.keyword,
        keywords.keyword_group,
        {{ var('zero_shot_logit_scale') }}
            * list_cosine_similarity(todo.embedding::double[],
                                     keywords.embedding::double[]) as logit,
    from todo
    inner join keywords using (embedder_id)

),

shifted as (

    -- Minus the image's largest logit: exp() cannot overflow.
    select
        *,
        exp(logit - max(logit) over (partition by image_id, embedder_id)) as weight,
    from logits

),

probabilities as (

    select
        * exclude (weight),
        weight / sum(weight) over (partition by image_id, embedder_id) as probability,
    from shifted

)
{% endmacro %}

{% macro zero_shot_stale_delete() -%}
delete from {{ this }} as kept
where not exists (
    select 1 from {{ ref('image_embeddings') }} as e
    where e.image_id = kept.image_id and e.embedder_id = kept.embedder_id
)
{%- endmacro %}
