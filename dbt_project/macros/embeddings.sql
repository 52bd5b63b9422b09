{#
  The embedding steps. Each configured embedder gets generated incremental
  models (models/embeddings/generated/, written by `neurostock build` from
  neurostock.yml) that call these macros. The UDFs ns_embed_image /
  ns_embed_text are registered by neurostock.dbt_plugin. Only rows whose
  content hash or embedder fingerprint changed are selected, so a second build
  with nothing new computes nothing.
#}

{% macro embedding_inputs(kind) -%}
{%- if kind == 'image' -%}
select image_id, resolved_path, sha256 as content_sha256
from {{ source('files', 'images') }}
where status = 'ok'
{%- elif kind == 'prompt' -%}
select distinct prompt, sha256(prompt) as content_sha256
from (
    select prompt from {{ ref('full_set') }}
    union all
    select prompt from {{ ref('big_set') }}
)
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
