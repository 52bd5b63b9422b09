-- One row per image of the pool (the images that are embedded): its cleaned
-- prompt and the prompt's sha256, the key prompt embeddings are stored under
-- (one vector per distinct prompt, shared by every image that has it).
with

pool as (select image_id, image_set, prompt from {{ ref('pool') }}),

final as (

    select
        image_id,
        image_set,
        prompt,
        sha256(prompt) as content_sha256,

    from pool

)

select * from final
