-- One row per (embedder, cluster of the chosen k): full_set images, unusable rated
-- images and the pool's unrated images in it, the rating mix, the mean rating and the share of good images.
with

assignments as (

    select * from {{ ref('cluster_assignments') }} where is_chosen_k and is_default_input

),

rated as (select image_id, rating from {{ ref('full_set') }}),

final as (

    select
        assignments.embedder_id,
        assignments.embedding_kind,
        assignments.k,
        assignments.cluster_id,
        count(*) filter (where assignments.image_set = 'full_set') as n_full_set,
        count(*) filter (where assignments.image_set = 'unusable') as n_unusable,
        count(*) filter (where assignments.image_set = 'pool') as n_pool,
        {%- for level in [0, 1, 2, 3] %}
        count(*) filter (where rated.rating = {{ level }}) as n_rating_{{ level }},
        {%- endfor %}
        avg(rated.rating) as mean_rating,
        avg((rated.rating >= {{ var('good_rating_min') }})::int) as share_good,
    from assignments
    left join rated using (image_id)
    group by all

)

select * from final order by embedder_id, cluster_id
