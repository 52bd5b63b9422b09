-- One row per (image, signal): every score (computed, imported, aesthetic head)
-- and every embedding feature, side by side: what agreement, thresholds and
-- `neurostock select` read. Validity is per signal, in signal_summary.
with

scores as (

    select
        image_id,
        scorer_id,
        base_scorer_id,
        'score' as signal_kind,
        -- Aesthetic heads are "<head>@<embedder>".
        nullif(split_part(scorer_id, '@', 2), '') as embedder_id,
        score,
    from {{ ref('scores') }}

),

features as (

    select image_id, scorer_id, base_scorer_id, 'feature' as signal_kind, embedder_id, score,
    from {{ ref('image_features') }}
    where score is not null

),

embedders as (select * from {{ ref('stg_meta__embedding_models') }}),

final as (

    select
        signals.*,
        coalesce(embedders.is_random_init, false) as is_random_init,
    from (select * from scores union all select * from features) as signals
    left join embedders using (embedder_id)

)

select * from final
