-- One row per (distinct raw prompt of the gate's images, suggested keyword): the
-- keywords of the warehouse's keyword list (model keywords) closest to the prompt by
-- embedding cosine, from the first text embedder with real weights that embedded both
-- (random weights suggest nothing: no row), best first, up to the policy's
-- target_keywords, never a prohibited name. submission_keywords adds them after the
-- prompt's own keywords.
{%- set policy = var('ns_submission', none) %}
{%- set target = (policy['csv'].get('target_keywords', 25) if policy is not none else 25) | int %}
with

embedder as (
    select embedder_id
    from {{ ref('keyword_embeddings') }}
    where not is_random_init
    group by embedder_id
    having embedder_id in (select embedder_id from {{ ref('prompt_embeddings') }}
                           where not is_random_init)
    order by embedder_id
    limit 1
),

prompts as (
    select images.prompt_raw, any_value(embeddings.embedding) as embedding
    from {{ ref('submission_images') }} as images
    inner join {{ ref('prompt_embeddings') }} as embeddings using (image_id)
    where embeddings.embedder_id = (select embedder_id from embedder)
      and images.prompt_raw is not null
    group by images.prompt_raw
),

vocabulary as (
    select keyword, any_value(embedding) as embedding
    from {{ ref('keyword_embeddings') }}
    where embedder_id = (select embedder_id from embedder)
      and lower(keyword) not in (select lower(term) from {{ ref('submission_prohibited_names') }})
    group by keyword
),

scored as (
    select
        prompts.prompt_raw,
        vocabulary.keyword,
        list_cosine_similarity(prompts.embedding, vocabulary.embedding) as similarity,
        (select embedder_id from embedder) as embedder_id,
    from prompts
    cross join vocabulary
),

final as (
    select
        *,
        row_number() over (partition by prompt_raw order by similarity desc, keyword)
            as suggestion_rank,
    from scored
    where {{ submission_enabled() }}
    qualify suggestion_rank <= {{ target }}
)

select * from final
