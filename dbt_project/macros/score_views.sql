{#
  Views over every score: called by the generated model files in
  models/scores/generated/ (written by `neurostock build`), so that they exist
  whatever scorers are configured.
#}

{% macro scores_union(computed, imported) %}
-- One row per (image, scorer) with a numeric score: computed scorers (technical
-- metrics each as their own scorer id), imported scores, aesthetic heads.
with

computed as (
    {%- for model in computed %}
    select image_id, scorer_id, score, components from {{ ref(model) }} where score_error is null
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
    {%- if not computed %}
    select null::bigint as image_id, null::varchar as scorer_id, null::double as score,
           null::map(varchar, double) as components
    where false
    {%- endif %}
),

expanded as (
    -- Each technical measure (sharpness, exposure, noise, ...) is a feature of its own.
    select image_id, 'technical_' || part.key as scorer_id, 'technical' as base_scorer_id,
           part.value::double as score, null::map(varchar, double) as components
    from computed, unnest(map_entries(components)) as t(part)
    where computed.scorer_id = 'technical'
    union all
    select image_id, scorer_id, scorer_id, score, components
    from computed
    where scorer_id not in ('technical', 'phash')
),

imported as (
    {%- for table in imported %}
    select image_id, '{{ table[8:] }}' as scorer_id, '{{ table[8:] }}' as base_scorer_id,
           score, components
    from imported.{{ table }}
    {%- if not loop.last %} union all{% endif %}
    {%- endfor %}
    {%- if not imported %}
    select null::bigint, null::varchar, null::varchar, null::double, null::map(varchar, double)
    where false
    {%- endif %}
),

heads as (
    select image_id, scorer_id, head_id as base_scorer_id, score,
           null::map(varchar, double) as components
    from {{ ref('aesthetic_head_scores') }}
),

final as (
    select * from expanded
    union all
    select * from imported
    union all
    select * from heads
)

select * from final where score is not null
{% endmacro %}


{% macro aesthetic_head_applicability() %}
-- One row per (aesthetic head, image embedder): may the head score these
-- embeddings? Only OpenAI CLIP weights of the head's architecture qualify.
with

heads as (select * from {{ source('meta', 'aesthetic_heads') }}),

embedders as (
    select * from {{ source('meta', 'embedding_models') }} where list_contains(kinds, 'image')
),

final as (
    select
        heads.head_id || '@' || embedders.embedder_id as scorer_id,
        heads.head_id,
        embedders.embedder_id,
        case
            when embedders.is_random_init then 'embedder has random weights'
            when embedders.library != 'open_clip'
                then 'embedder is ' || embedders.library || ', not OpenAI CLIP'
            when embedders.model not in (heads.clip_model, heads.clip_model || '-quickgelu')
                then 'head expects ' || heads.clip_model || ', embedder is ' || embedders.model
            when coalesce(embedders.pretrained, '') != heads.clip_pretrained
                then 'head expects ' || heads.clip_pretrained || ' weights, embedder has '
                    || coalesce(embedders.pretrained, 'none')
            when embedders.dim != heads.dim then 'dimensions differ'
        end as not_applicable_reason,
    from heads
    cross join embedders
)

select *, not_applicable_reason is null as is_applicable from final
{% endmacro %}


{% macro aesthetic_head_scores() %}
-- One row per (image, applicable head x embedder): the head's score, in SQL.
select
    embeddings.image_id,
    applicability.scorer_id,
    applicability.head_id,
    applicability.embedder_id,
    list_dot_product(embeddings.embedding, heads.weights) + heads.bias as score,
from {{ ref('aesthetic_head_applicability') }} as applicability
inner join {{ source('meta', 'aesthetic_heads') }} as heads using (head_id)
inner join {{ ref('image_embeddings') }} as embeddings using (embedder_id)
where applicability.is_applicable
{% endmacro %}


{% macro scorer_summary() %}
-- One row per scorer id in `scores`: its distribution and whether it is valid.
-- Invalid scorers stay visible; agreement metrics leave them out.
with

scores as (select * from {{ ref('scores') }}),

modal as (
    select scorer_id, max(n) as n_modal
    from (select scorer_id, score, count(*) as n from scores group by all)
    group by scorer_id
),

stats as (
    select
        scorer_id,
        any_value(base_scorer_id) as base_scorer_id,
        count(*) as n,
        count(distinct score) as n_distinct,
        min(score) as min_score,
        max(score) as max_score,
        avg(score) as mean_score,
        stddev_samp(score) as stddev_score,
        count(*) filter (where isnan(score) or isinf(score)) as n_not_finite,
    from scores
    group by scorer_id
),

registry as (select * from {{ source('meta', 'scorers') }}),

final as (
    select
        stats.*,
        registry.kind,
        registry.higher_is,
        nullif(concat_ws('; ',
            registry.invalid_reason,
            {{ distribution_problems('stats', 'modal.n_modal') }}
        ), '') as invalid_reason,
    from stats
    inner join modal using (scorer_id)
    left join registry on registry.scorer_id = stats.base_scorer_id
)

select *, invalid_reason is null as is_valid from final
{% endmacro %}


{% macro distribution_problems(stats, n_modal) %}
{#- Reasons a score column cannot carry agreement (comma-separated SQL expressions,
    null where fine): the team's constant TANet-AVA column is the case in point. -#}
            case when {{ stats }}.n_distinct < 2
                then 'constant: every one of ' || {{ stats }}.n || ' values is '
                    || {{ stats }}.min_score end,
            case when {{ stats }}.n_distinct >= 2 and {{ n_modal }} > 0.95 * {{ stats }}.n
                then 'near-constant: ' || round(100.0 * {{ n_modal }} / {{ stats }}.n, 1)
                    || '% of values are equal' end,
            case when {{ stats }}.n_not_finite > 0
                then {{ stats }}.n_not_finite || ' NaN/inf values' end
{%- endmacro %}


{% macro score_percentiles() %}
-- One row per (image, valid scorer): the score as its rank percentile within the
-- scorer's images (0 = lowest, 1 = highest), so scorers compare on one footing.
select
    scores.image_id,
    scores.scorer_id,
    scores.score,
    percent_rank() over (partition by scores.scorer_id order by scores.score) as percentile,
from {{ ref('scores') }} as scores
inner join {{ ref('scorer_summary') }} as summary using (scorer_id)
where summary.is_valid
{% endmacro %}


{% macro near_duplicate_pairs(enabled) %}
-- One row per pair of images whose perceptual hashes differ in at most
-- var('near_duplicate_max_distance') bits.
{%- if enabled %}
with hashes as (
    select image_id, ('0x' || score_text)::ubigint as phash
    from {{ ref('score__phash') }}
    where score_text is not null
)
select a.image_id as image_id_a, b.image_id as image_id_b,
       bit_count(xor(a.phash, b.phash)) as hamming_distance
from hashes as a
inner join hashes as b
    on a.image_id < b.image_id
    and bit_count(xor(a.phash, b.phash)) <= {{ var('near_duplicate_max_distance', 6) }}
{%- else %}
select null::bigint as image_id_a, null::bigint as image_id_b, null::bigint as hamming_distance
where false
{%- endif %}
{% endmacro %}


{% macro near_duplicate_groups(enabled) %}
-- One row per image that has a near-duplicate: its group (the smallest image id
-- connected to it through near-duplicate pairs) and the group's size.
with recursive

edges as (
    select image_id_a as source, image_id_b as target from {{ ref('near_duplicate_pairs') }}
    union all
    select image_id_b, image_id_a from {{ ref('near_duplicate_pairs') }}
),

reach(image_id, reached) as (
    select source, source from edges
    union
    select reach.image_id, edges.target
    from reach inner join edges on edges.source = reach.reached
),

groups as (
    select image_id, min(reached) as group_id from reach group by image_id
)

select image_id, group_id, count(*) over (partition by group_id) as group_size from groups
{% endmacro %}
