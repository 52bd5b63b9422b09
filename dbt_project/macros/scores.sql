{#
  Computed scorers (neurostock/score/): one incremental model per configured scorer
  (score__<id>, generated per warehouse into
  <warehouse>.dbt/project/models/generated/scores/) calls ns_score_image on every `ok`
  image whose content hash or scorer fingerprint changed.
#}

{% macro score_model(scorer_id, fingerprint) %}
with

inputs as (

    {{ embedding_inputs('image') }}

),

todo as (

    select inputs.*
    from inputs
    {% if is_incremental() %}
    anti join {{ this }} as done
        on done.image_id = inputs.image_id
        and done.content_sha256 = inputs.content_sha256
        and done.scorer_fingerprint = '{{ fingerprint }}'
    {% endif %}

),

scored as (

    select
        *,
        ns_score_image('{{ scorer_id }}', resolved_path, content_sha256, count(*) over ()) as result,
    from todo

),

final as (

    select
        image_id,
        content_sha256,
        '{{ scorer_id }}' as scorer_id,
        '{{ fingerprint }}' as scorer_fingerprint,
        result.score as score,
        result.components as components,
        result.text as score_text,
        result.error as score_error,
        now() as scored_at,

    from scored

)

select * from final
{% endmacro %}

{% macro record_score_run(scorer_id) -%}
insert into meta.pipeline_runs
select
    uuid(),
    'score',
    '{{ scorer_id }}',
    stats.started_at,
    stats.finished_at,
    stats.n_computed,
    (select count(*) from ({{ embedding_inputs('image') }})) - stats.n_computed - stats.n_failed,
    stats.n_failed,
    '{{ this }}'
from (select unnest(ns_score_stats('{{ scorer_id }}'))) as stats
{%- endmacro %}
