{#
  The embedding steps. Each configured embedder gets small incremental models
  (emb_<kind>__<id>, generated per warehouse by `neurostock build` from
  neurostock.yml into <warehouse>.dbt/project/models/generated/embeddings/, the
  warehouse's copy of this project) that call
  these macros; the long views in models/embeddings/ union them by var. The UDFs ns_embed_image /
  ns_embed_text are registered by neurostock.dbt_plugin. Only rows whose
  content hash or embedder fingerprint changed are selected, so a second build
  with nothing new computes nothing.
#}

{% macro embedding_inputs(kind) -%}
{%- if kind == 'image' -%}
select image_id, resolved_path, sha256 as content_sha256
from {{ ref('stg_files__images') }}
-- The pool decides what is embedded; files.images may still hold rows of images
-- that left it when images sync was skipped.
semi join {{ ref('pool') }} using (image_id)
where status = 'ok'
{%- elif kind == 'prompt' -%}
select distinct prompt, content_sha256
from {{ ref('int_prompts_hashed') }}
where prompt is not null and prompt != ''
{%- elif kind == 'keyword' -%}
select keyword, keyword_group, sha256(keyword) as content_sha256
from {{ ref('keywords') }}
{%- endif -%}
{%- endmacro %}

{% macro embedding_key(kind) -%}
{{ {'image': 'image_id', 'prompt': 'content_sha256', 'keyword': 'keyword'}[kind] }}
{%- endmacro %}

{% macro embed_model(kind, embedder_id, dim, fingerprint) %}
with

inputs as (

    {{ embedding_inputs(kind) }}

),

todo as (

    select inputs.*
    from inputs
    {% if is_incremental() %}
    anti join {{ this }} as done
        on done.{{ embedding_key(kind) }} = inputs.{{ embedding_key(kind) }}
        and done.content_sha256 = inputs.content_sha256
        and done.embedder_fingerprint = '{{ fingerprint }}'
    {% endif %}

),

embedded as (

    select
        *,
        {%- if kind == 'image' %}
        ns_embed_image('{{ embedder_id }}', resolved_path, content_sha256, count(*) over ()) as result,
        {%- else %}
        ns_embed_text('{{ embedder_id }}', '{{ kind }}', {{ 'prompt' if kind == 'prompt' else 'keyword' }},
                      content_sha256, count(*) over ()) as result,
        {%- endif %}
    from todo

),

final as (

    select
        * exclude (result{{ ', resolved_path' if kind == 'image' else '' }}),
        '{{ embedder_id }}' as embedder_id,
        '{{ fingerprint }}' as embedder_fingerprint,
        -- The cast is the dimension check: a vector of another size fails the model.
        result.embedding::float[{{ dim }}] as embedding,
        result.error as embed_error,
        now() as embedded_at,

    from embedded

)

select * from final
{% endmacro %}

{% macro record_embedding_run(kind, embedder_id) -%}
insert into meta.pipeline_runs
select
    uuid(),
    'embed_{{ kind }}',
    '{{ embedder_id }}',
    stats.started_at,
    stats.finished_at,
    stats.n_computed,
    (select count(*) from ({{ embedding_inputs(kind) }})) - stats.n_computed - stats.n_failed,
    stats.n_failed,
    '{{ this }}'
from (select unnest(ns_embed_stats('{{ kind }}', '{{ embedder_id }}'))) as stats
{%- endmacro %}

{% macro embeddings_union(kind) %}
{#- The long view of one kind: every configured embedder's vectors (var
    ns_embedders, passed by neurostock from neurostock.yml) and every imported
    one (stg_imported__embeddings_<kind>), as FLOAT[], labelled with is_random_init. -#}
{%- set key = 'keyword' if kind == 'keyword' else 'image_id' -%}
with

{% if kind == 'prompt' -%}
prompts as (select image_id, content_sha256 from {{ ref('int_prompts_hashed') }}),

{% endif -%}
vectors as (
    {%- for embedder in var('ns_embedders', []) if kind in embedder['kinds'] %}
    {%- set model = ref('emb_' ~ kind ~ '__' ~ embedder['id']) %}
    {%- if kind == 'prompt' %}
    select prompts.image_id, e.embedder_id, e.embedding::float[] as embedding
    from prompts inner join {{ model }} as e using (content_sha256)
    where e.embed_error is null
    {%- else %}
    select {{ key }}, embedder_id, embedding::float[] as embedding
    from {{ model }} where embed_error is null
    {%- endif %}
    union all
    {%- endfor %}
    select {{ key }}, embedder_id, embedding
    from {{ ref('stg_imported__embeddings_' ~ kind) }}
    union all
    select null::{{ 'varchar' if kind == 'keyword' else 'bigint' }} as {{ key }},
           null::varchar as embedder_id, null::float[] as embedding
    where false
),

final as (
    select
        vectors.{{ key }},
        {%- if kind == 'keyword' %}
        -- An imported keyword the seed does not list (the team's glued
        -- `heavenlyhorrible`) keeps its vector under its own group.
        coalesce(keywords.keyword_group, 'unlisted') as keyword_group,
        {%- endif %}
        vectors.embedder_id,
        models.is_random_init,
        models.is_imported,
        vectors.embedding,
    from vectors
    inner join {{ ref('stg_meta__embedding_models') }} as models using (embedder_id)
    {%- if kind == 'keyword' %}
    left join {{ ref('keywords') }} as keywords using (keyword)
    {%- endif %}
)

select * from final
{% endmacro %}
