-- One row per (learned scorer, fraction of the ratings): the out-of-fold Spearman
-- over the repeats (mean, sd, min, max) and the curve a + b ln(n) fitted by least
-- squares to every point of the scorer; spearman_plus_1000 is that curve at the
-- full set's n + 1,000 ratings: an extrapolation of the fit, not a measurement.
with

points as (

    select * from {{ ref('stg_annotations__learning_curve') }} where spearman is not null

),

fit as (

    select
        scorer_id,
        regr_intercept(spearman, ln(n_ratings)) as fit_a,
        regr_slope(spearman, ln(n_ratings)) as fit_b,
        regr_r2(spearman, ln(n_ratings)) as fit_r2,
        max(n_ratings) as n_all,
    from points
    group by scorer_id

),

per_fraction as (

    select
        scorer_id,
        fraction,
        round(avg(n_ratings)) as n_ratings,
        count(*) as n_repeats,
        avg(spearman) as spearman_mean,
        stddev_samp(spearman) as spearman_sd,
        min(spearman) as spearman_min,
        max(spearman) as spearman_max,
        any_value(model) as model,
        max(computed_at) as computed_at,
    from points
    group by scorer_id, fraction

),

final as (

    select
        per_fraction.*,
        fit.fit_a,
        fit.fit_b,
        fit.fit_r2,
        fit.fit_a + fit.fit_b * ln(per_fraction.n_ratings) as spearman_fitted,
        fit.n_all,
        fit.fit_a + fit.fit_b * ln(fit.n_all + 1000) as spearman_plus_1000,
        fit.fit_b * ln((fit.n_all + 1000) / fit.n_all) as gain_plus_1000,

    from per_fraction
    inner join fit using (scorer_id)
    order by scorer_id, fraction

)

select * from final
