-- One row per (learned scorer, fraction of the ratings): per measure, its out-of-fold
-- value over the repeats (mean, sd, min, max) and the curve a + b ln(n) fitted by least
-- squares to every point of the scorer. The measures: spearman (with full_set's
-- rating, every learned model) and auc_sellable (AUC of is_sellable over every rated
-- image, the decision model only; null otherwise). *_plus_1000 is a curve's value at
-- n + 1,000 ratings (at most 1): an extrapolation of the fit, not a measurement.
{%- set measures = ['spearman', 'auc_sellable'] %}
with

points as (

    select * from {{ ref('stg_annotations__learning_curve') }}
    where spearman is not null or auc_sellable is not null

),

fit as (

    select
        scorer_id,
        {%- for m in measures %}
        regr_intercept({{ m }}, ln(n_ratings)) as {{ m }}_fit_a,
        regr_slope({{ m }}, ln(n_ratings)) as {{ m }}_fit_b,
        regr_r2({{ m }}, ln(n_ratings)) as {{ m }}_fit_r2,
        {%- endfor %}
        max(n_ratings) as n_all,
    from points
    group by scorer_id

),

per_fraction as (

    select
        scorer_id,
        fraction,
        cast(round(avg(n_ratings)) as integer) as n_ratings,
        count(*) as n_repeats,
        {%- for m in measures %}
        avg({{ m }}) as {{ m }}_mean,
        stddev_samp({{ m }}) as {{ m }}_sd,
        min({{ m }}) as {{ m }}_min,
        max({{ m }}) as {{ m }}_max,
        {%- endfor %}
        any_value(model) as model,
        max(computed_at) as computed_at,
    from points
    group by scorer_id, fraction

),

final as (

    select
        per_fraction.*,
        fit.n_all,
        {%- for m in measures %}
        fit.{{ m }}_fit_a,
        fit.{{ m }}_fit_b,
        fit.{{ m }}_fit_r2,
        fit.{{ m }}_fit_a + fit.{{ m }}_fit_b * ln(per_fraction.n_ratings) as {{ m }}_fitted,
        -- Capped at 1 (a log curve does not know that Spearman and AUC stop there); not
        -- least(), which would turn a missing fit into 1.
        {%- set ahead = m ~ '_fit_a + fit.' ~ m ~ '_fit_b * ln(fit.n_all + 1000)' %}
        case when fit.{{ ahead }} > 1 then 1.0 else fit.{{ ahead }} end as {{ m }}_plus_1000,
        (case when fit.{{ ahead }} > 1 then 1.0 else fit.{{ ahead }} end)
            - (fit.{{ m }}_fit_a + fit.{{ m }}_fit_b * ln(fit.n_all)) as {{ m }}_gain_plus_1000,
        {%- endfor %}

    from per_fraction
    inner join fit using (scorer_id)
    order by scorer_id, fraction

)

select * from final
