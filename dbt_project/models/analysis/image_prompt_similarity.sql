-- One row per (image, embedder that embeds both images and prompts): cosine
-- similarity of the image with its own prompt (does the picture show the prompt?).
with

images as (select * from {{ ref('image_embeddings') }}),

prompts as (select * from {{ ref('prompt_embeddings') }}),

final as (

    select
        images.image_id,
        images.embedder_id,
        images.is_random_init,
        list_cosine_similarity(images.embedding::double[], prompts.embedding::double[]) as similarity,
    from images
    inner join prompts using (image_id, embedder_id)

)

select * from final
