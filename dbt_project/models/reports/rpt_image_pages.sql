-- One row per full_set image: what its report page shows - prompt (cleaned and
-- raw), resolved rating and each rating given, generation facts, the image file,
-- and its cluster under each embedder.
with

images as (select * from {{ ref('full_set') }}),

facts as (select * from {{ ref('image_ratings') }}),

given as (

    select
        image_id,
        list(struct_pack(rating := rating, annotator_id := annotator_id, rated_at := rated_at)
             order by rated_at, rating_id) as ratings_given,
    from {{ ref('int_ratings_checked') }}
    where is_valid
    group by image_id

),

clusters as (

    select
        image_id,
        list(struct_pack(embedder_id := embedder_id, cluster_id := cluster_id,
                         centroid_distance := centroid_distance) order by embedder_id)
            as clusters,
    from {{ ref('cluster_assignments') }}
    where is_chosen_k and is_default_input and image_set = 'full_set'
    group by image_id

),

files as (select * from {{ ref('stg_files__images') }}),

final as (

    select
        images.image_id,
        images.prompt,
        images.prompt_raw,
        images.rating,
        images.source_rating,
        images.img_path,
        images.img_name,
        images.generated_at,
        images.experiment_model_id,
        images.experiment_number,
        facts.n_ratings,
        facts.n_annotators,
        facts.is_conflicting,
        facts.rating_rule,
        given.ratings_given,
        clusters.clusters,
        files.status as file_status,
        files.resolved_path,
        files.sha256 as file_sha256,
        files.width,
        files.height,
    from images
    left join facts using (image_id)
    left join given using (image_id)
    left join clusters using (image_id)
    left join files using (image_id)

)

select * from final
