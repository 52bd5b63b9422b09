-- One row per embedder: what it is, whether its weights are random (the report's
-- banner), what it embedded.
with

models as (select * from {{ ref('stg_meta__embedding_models') }}),

images as (select embedder_id, count(*) as n from {{ ref('image_embeddings') }} group by all),

prompts as (select embedder_id, count(*) as n from {{ ref('prompt_embeddings') }} group by all),

final as (

    select
        models.embedder_id,
        models.library,
        models.model,
        models.pretrained,
        models.dim,
        array_to_string(models.kinds, ', ') as kinds,
        models.is_random_init,
        models.is_imported,
        coalesce(images.n, 0) as n_images_embedded,
        coalesce(prompts.n, 0) as n_prompts_embedded,
    from models
    left join images using (embedder_id)
    left join prompts using (embedder_id)

)

select * from final order by embedder_id
