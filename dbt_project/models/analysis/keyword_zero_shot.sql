-- One row per (image, embedder, keyword): zero-shot probability of the keyword,
-- a softmax over the whole keyword list of logit_scale x cosine similarity
-- (both sides L2-normalised), as CLIP is trained to be read.
with

images as (select * from {{ ref('image_embeddings') }}),

keywords as (select * from {{ ref('keyword_embeddings') }}),

logits as (

    select
        images.image_id,
        images.embedder_id,
        images.is_random_init,
        keywords.keyword,
        -- 'unlisted' as in keyword_embeddings: a NULL group would name no signal.
        coalesce(keywords.keyword_group, 'unlisted') as keyword_group,
        {{ var('zero_shot_logit_scale') }}
            * list_cosine_similarity(images.embedding::double[],
                                     keywords.embedding::double[]) as logit,
    from images
    inner join keywords using (embedder_id)

),

shifted as (

    -- Minus the image's largest logit: exp() cannot overflow.
    select
        *,
        exp(logit - max(logit) over (partition by image_id, embedder_id)) as weight,
    from logits

),

final as (

    select
        image_id,
        embedder_id,
        is_random_init,
        keyword,
        keyword_group,
        logit,
        weight / sum(weight) over (partition by image_id, embedder_id) as probability,
    from shifted

)

select * from final
