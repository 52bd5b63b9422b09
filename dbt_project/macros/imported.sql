{#
  The staging of schema `imported`: one table per import, named
  scores__<scorer_id> (`neurostock scores import`, learned models) or
  emb_<kind>__<embedder_id> (`neurostock embeddings import`). Their names are known
  only when a model runs, so the stg_imported__* models union what imported_tables
  finds then.
#}

{% macro imported_tables(prefix) -%}
{#- Tables in schema `imported` whose names start with `prefix` (written by
    `neurostock embeddings import` / `scores import`), found when the model runs,
    so an import needs no generated file. -#}
{%- if not execute -%}{{ return([]) }}{%- endif -%}
{%- set found = run_query(
    "select table_name from duckdb_tables() where schema_name = 'imported' "
    ~ "and starts_with(table_name, '" ~ prefix ~ "') order by 1") -%}
{{ return(found.columns[0].values() | list) }}
{%- endmacro %}

{% macro stg_imported_embeddings(kind) -%}
{#- Every imported table of embeddings of `kind`, one row per (key, embedder), the
    vector as FLOAT[] (each table has its own dimension). -#}
{%- set key, key_type = ('keyword', 'varchar') if kind == 'keyword' else ('image_id', 'bigint') -%}
with

imported as (
    {%- for table in imported_tables('emb_' ~ kind ~ '__') %}
    select
        {{ key }}::{{ key_type }} as {{ key }},
        embedder_id::varchar as embedder_id,
        embedding::float[] as embedding,
        source_norm::double as source_norm,
        source_file::varchar as source_file,
        source_sha256::varchar as source_sha256,
        imported_at::timestamptz as imported_at,
    from imported.{{ table }}
    union all
    {%- endfor %}
    -- No import yet: no rows, the same columns.
    select
        null::{{ key_type }} as {{ key }},
        null::varchar as embedder_id,
        null::float[] as embedding,
        null::double as source_norm,
        null::varchar as source_file,
        null::varchar as source_sha256,
        null::timestamptz as imported_at,
    where false
),

final as (select * from imported)

select * from final
{%- endmacro %}
