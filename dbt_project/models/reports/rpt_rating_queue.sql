-- One row per image queued for rating (`neurostock rate` serves them in order):
-- unrated pool images with a readable file, ranked by the acquisition rule of
-- docs/ratings.md. The pool is the `pool` mart's unrated rows (source_rating is
-- null): whatever neurostock.yml's `pool:` chooses to check, embed and score.
--   uncertainty    the learned model's prediction near its boundary: 1 there, 0 at
--                  1.5 or more away; 0 without a learned model. The boundary is where
--                  the model splits sellable from not: the (1 - s) quantile of its
--                  score over the valid rated images, s the share of them sellable
--                  (as many score above it as are sellable); where that is undefined
--                  (no rated image scored, none or all sellable), good_rating_min - 0.5
--                  on the 0-3 scale. Measured by `neurostock ratings simulate`
--                  (docs/ratings.md): a fixed point of the scale lies off the boundary
--                  of a model whose predictions shrink towards the mean.
--   disagreement   spread (population sd) of the image's percentiles under the
--                  valid non-learned scorers, / 0.5, capped at 1; 0 under two scorers
--   coverage       mean over its cluster, experiment model and name prefix of
--                  1 / sqrt(1 + ratings in that group)
--   priority       the weighted sum (vars rating_queue_weight_*)
-- Of images that are near-duplicates of each other only the first stays, so no
-- batch holds a pair; the first var('rating_queue_batch') images are kept.
-- Ties break by md5(seed/id), reproducibly.
{%- set threshold = var('good_rating_min') - 0.5 %}
with

pool as (

    select pool.image_id, pool.img_name, images.experiment_model_id
    from {{ ref('pool') }} as pool
    inner join {{ ref('int_images_checked') }} as images using (image_id)
    where pool.source_rating is null

),

rated as (

    select image_id from {{ ref('image_ratings') }}

),

files as (

    select image_id from {{ ref('stg_files__images') }} where status = 'ok'

),

rated_images as (

    select
        ratings.image_id,
        images.experiment_model_id,
        split_part(coalesce(images.img_name, ''), '_', 1) as name_prefix,
    from {{ ref('image_ratings') }} as ratings
    inner join {{ ref('int_images_checked') }} as images using (image_id)
    where images.is_valid

),

learned as (

    -- The newest learned model trained on real (not shuffled) ratings.
    select scorer_id
    from {{ ref('stg_meta__learned_models') }}
    where not is_shuffled
    order by trained_at desc, scorer_id
    limit 1

),

learned_scores as (

    select scores.image_id, scores.score, scores.scorer_id
    from {{ ref('scores') }} as scores
    inner join learned using (scorer_id)

),

rated_scores as (

    -- The learned score of every valid rated image, with its sellability.
    select learned_scores.score, ratings.is_sellable
    from learned_scores
    inner join {{ ref('image_ratings') }} as ratings using (image_id)
    semi join (select image_id from {{ ref('int_images_checked') }} where is_valid) using (image_id)
    where learned_scores.score is not null and not isnan(learned_scores.score)

),

boundary_position as (

    -- The (1 - s) quantile's position among the sorted scores (linear interpolation,
    -- as quantile_cont, which takes only a constant fraction).
    select (1 - avg(is_sellable::integer)) * (count(*) - 1) as position
    from rated_scores
    having avg(is_sellable::integer) > 0 and avg(is_sellable::integer) < 1

),

boundary as (

    select
        min(sorted.score) filter (where sorted.rank = floor(boundary_position.position))
        + (boundary_position.position - floor(boundary_position.position)) * (
            min(sorted.score) filter (where sorted.rank = ceil(boundary_position.position))
            - min(sorted.score) filter (where sorted.rank = floor(boundary_position.position))
        ) as threshold
    from (select score, row_number() over (order by score) - 1 as rank from rated_scores) as sorted
    cross join boundary_position
    group by boundary_position.position

),

threshold as (

    select coalesce((select threshold from boundary), {{ threshold }}) as threshold

),

spread as (

    select
        image_id,
        count(*) as n_scorers,
        stddev_pop(percentile) as percentile_sd,
    from {{ ref('score_percentiles') }}
    where not starts_with(scorer_id, 'learned_')
    group by image_id

),

chosen_clusters as (

    -- One clustering: the chosen k of the first embedder and kind, by name.
    select image_id, cluster_id
    from {{ ref('cluster_assignments') }}
    where is_chosen_k
    qualify dense_rank() over (order by embedder_id, embedding_kind) = 1

),

cluster_ratings as (

    select cluster_id, count(*) as n_rated
    from chosen_clusters
    semi join rated using (image_id)
    group by cluster_id

),

model_ratings as (

    select experiment_model_id, count(*) as n_rated
    from rated_images
    group by experiment_model_id

),

prefix_ratings as (

    select name_prefix, count(*) as n_rated
    from rated_images
    group by name_prefix

),

candidates as (

    select
        pool.image_id,
        pool.experiment_model_id,
        split_part(coalesce(pool.img_name, ''), '_', 1) as name_prefix,
        chosen_clusters.cluster_id,
        learned_scores.scorer_id as learned_scorer_id,
        learned_scores.score as learned_score,
        spread.n_scorers,
        spread.percentile_sd,
        coalesce(cluster_ratings.n_rated, 0) as cluster_n_rated,
        coalesce(model_ratings.n_rated, 0) as model_n_rated,
        coalesce(prefix_ratings.n_rated, 0) as prefix_n_rated,

    from pool
    semi join files using (image_id)
    anti join rated using (image_id)
    left join learned_scores using (image_id)
    left join spread using (image_id)
    left join chosen_clusters using (image_id)
    left join cluster_ratings using (cluster_id)
    left join model_ratings using (experiment_model_id)
    left join prefix_ratings
        on prefix_ratings.name_prefix = split_part(coalesce(pool.img_name, ''), '_', 1)

),

components as (

    select
        *,
        case when learned_score is null then 0.0
            else greatest(0.0, 1.0 - abs(learned_score - threshold.threshold) / 1.5)
        end as uncertainty,
        threshold.threshold,
        case when coalesce(n_scorers, 0) < 2 then 0.0
            else least(1.0, percentile_sd / 0.5)
        end as disagreement,
        (
            case when cluster_id is null then 0.0 else 1.0 / sqrt(1 + cluster_n_rated) end
            + 1.0 / sqrt(1 + model_n_rated)
            + 1.0 / sqrt(1 + prefix_n_rated)
        ) / (case when cluster_id is null then 2 else 3 end) as coverage,

    from candidates
    cross join threshold

),

scored as (

    select
        *,
        {{ var('rating_queue_weight_uncertainty') }} * uncertainty
            + {{ var('rating_queue_weight_disagreement') }} * disagreement
            + {{ var('rating_queue_weight_coverage') }} * coverage as priority,

    from components

),

deduplicated as (

    -- Near-duplicates: only the highest-priority image of each group stays (the window
    -- runs over the grouped images only, not one partition of the whole pool).
    select scored.*, null::bigint as near_duplicate_group_id
    from scored
    anti join {{ ref('near_duplicate_groups') }} as groups using (image_id)
    union all
    select scored.*, groups.group_id as near_duplicate_group_id
    from scored
    inner join {{ ref('near_duplicate_groups') }} as groups using (image_id)
    qualify row_number() over (
        partition by groups.group_id
        order by priority desc, md5('{{ var("rating_queue_seed") }}/' || image_id)
    ) = 1

),

queued as (

    -- A top-N (ORDER BY ... LIMIT): the batch, not a sort of the whole pool.
    select *, md5('{{ var("rating_queue_seed") }}/' || image_id) as tie_break,
    from deduplicated
    order by priority desc, tie_break, image_id
    limit {{ var('rating_queue_batch') }}

),

ranked as (

    select
        row_number() over (order by priority desc, tie_break, image_id) as queue_rank,
        * exclude (tie_break),
    from queued

),

final as (

    select
        queue_rank,
        image_id,
        round(priority, 4) as priority,
        round(uncertainty, 4) as uncertainty,
        round(disagreement, 4) as disagreement,
        round(coverage, 4) as coverage,
        round(threshold, 4) as uncertainty_boundary,
        learned_scorer_id,
        learned_score,
        percentile_sd,
        cluster_id,
        experiment_model_id,
        name_prefix,
        near_duplicate_group_id,
        -- The largest weighted part of the priority, in words.
        case
            when {{ var('rating_queue_weight_uncertainty') }} * uncertainty
                    >= {{ var('rating_queue_weight_disagreement') }} * disagreement
                and {{ var('rating_queue_weight_uncertainty') }} * uncertainty
                    >= {{ var('rating_queue_weight_coverage') }} * coverage
                and uncertainty > 0
                then 'model unsure: ' || learned_scorer_id || ' predicts '
                    || printf('%.2f', learned_score)
                    || ', boundary ' || printf('%.2f', threshold)
            when {{ var('rating_queue_weight_disagreement') }} * disagreement
                    >= {{ var('rating_queue_weight_coverage') }} * coverage
                and disagreement > 0
                then 'scorers disagree: percentile spread ' || printf('%.2f', percentile_sd)
                    || ' over ' || n_scorers || ' scorers'
            else 'few ratings nearby: '
                || coalesce('cluster ' || cluster_id || ' has ' || cluster_n_rated || ', ', '')
                || 'experiment model ' || coalesce(experiment_model_id::varchar, 'none')
                || ' has ' || model_n_rated
                || ', prefix ' || name_prefix || '_ has ' || prefix_n_rated
        end as reason,

    from ranked

)

select * from final
