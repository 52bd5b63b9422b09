-- One row per valid signal: its distribution on the rated images (every rated
-- image it scores, unusable ones included) against the pool's unrated images (mart
-- pool, source_rating null),
-- where its thresholds are applied. Two-sample Kolmogorov-Smirnov statistic D with
-- its asymptotic p-value (Kolmogorov's limiting distribution at
-- sqrt(n_rated n_pool / (n_rated + n_pool)) D), and the population stability index
-- over 10 bins cut at the deciles of the rated distribution (shares floored at
-- 1e-4). PSI above var shift_psi_max gives shift_warning, carried wherever the
-- signal's threshold is used (rpt_decision_*, `neurostock select`, the report).
{%- set psi_floor = 0.0001 %}
with

valid_signals as (select scorer_id from {{ ref('signal_summary') }} where is_valid),

signals as (

    select image_signals.scorer_id, image_signals.image_id, image_signals.score,
    from {{ ref('image_signals') }} as image_signals
    semi join valid_signals using (scorer_id)

),

both_populations as (

    select scorer_id, score, 'rated' as population
    from signals semi join {{ ref('image_ratings') }} using (image_id)
    union all
    select scorer_id, score, 'pool' as population
    from signals semi join (select image_id from {{ ref('pool') }} where source_rating is null) as unrated using (image_id)

),

score_values as (

    select
        scorer_id,
        score,
        count(*) filter (where population = 'rated') as n_rated_value,
        count(*) filter (where population = 'pool') as n_pool_value,
    from both_populations
    group by scorer_id, score

),

ecdf as (

    select
        scorer_id,
        sum(n_rated_value) over up_to as cum_rated,
        sum(n_pool_value) over up_to as cum_pool,
        sum(n_rated_value) over whole as n_rated,
        sum(n_pool_value) over whole as n_pool,
    from score_values
    window
        up_to as (partition by scorer_id order by score
                  rows between unbounded preceding and current row),
        whole as (partition by scorer_id)

),

ks as (

    select
        scorer_id,
        any_value(n_rated) as n_rated,
        any_value(n_pool) as n_pool,
        case when any_value(n_rated) > 0 and any_value(n_pool) > 0 then
            max(abs(cum_rated::double / n_rated - cum_pool::double / n_pool))
        end as ks_statistic,
    from ecdf
    group by scorer_id

),

ks_tested as (

    select
        *,
        sqrt(n_rated::double * n_pool / nullif(n_rated + n_pool, 0)) * ks_statistic as ks_lambda,
    from ks

),

edges as (

    select
        scorer_id,
        quantile_cont(score, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]) as edges,
    from both_populations
    where population = 'rated'
    group by scorer_id

),

binned as (

    select
        both_populations.scorer_id,
        both_populations.population,
        len(list_filter(edges.edges, lambda e: both_populations.score > e)) as decile,
    from both_populations
    inner join edges using (scorer_id)

),

bin_grid as (

    select edges.scorer_id, populations.population, bins.decile,
    from edges
    cross join (select unnest(['rated', 'pool']) as population) as populations
    cross join (select unnest(range(10)) as decile) as bins

),

shares as (

    select
        bin_grid.scorer_id,
        bin_grid.decile,
        greatest({{ psi_floor }}, coalesce(count(binned.decile) filter (where bin_grid.population = 'rated')
            / nullif(sum(count(binned.decile) filter (where bin_grid.population = 'rated'))
                over (partition by bin_grid.scorer_id), 0), 0)) as rated_share,
        greatest({{ psi_floor }}, coalesce(count(binned.decile) filter (where bin_grid.population = 'pool')
            / nullif(sum(count(binned.decile) filter (where bin_grid.population = 'pool'))
                over (partition by bin_grid.scorer_id), 0), 0)) as pool_share,
    from bin_grid
    left join binned
        on binned.scorer_id = bin_grid.scorer_id
        and binned.population = bin_grid.population
        and binned.decile = bin_grid.decile
    group by bin_grid.scorer_id, bin_grid.decile

),

psi as (

    select scorer_id, sum((pool_share - rated_share) * ln(pool_share / rated_share)) as psi,
    from shares
    group by scorer_id

),

final as (

    select
        valid_signals.scorer_id,
        coalesce(ks_tested.n_rated, 0) as n_rated,
        coalesce(ks_tested.n_pool, 0) as n_pool,
        ks_tested.ks_statistic,
        case
            when ks_tested.ks_lambda is null then null
            -- The series needs many terms near 0, where the probability is 1.
            when ks_tested.ks_lambda < 0.1 then 1.0
            else least(1.0, greatest(0.0, 2 * list_sum(list_transform(range(1, 101),
                lambda k: (case when k % 2 = 1 then 1 else -1 end)
                    * exp(-2 * k * k * ks_tested.ks_lambda * ks_tested.ks_lambda)))))
        end as ks_p_value,
        case when coalesce(ks_tested.n_pool, 0) > 0 then psi.psi end as psi,
        {{ var('shift_psi_max') }}::double as psi_max,
        case
            when coalesce(ks_tested.n_rated, 0) = 0 then 'no rated image is scored: shift unchecked'
            when coalesce(ks_tested.n_pool, 0) = 0
                then 'the pool''s unrated images are not scored: shift unchecked'
            when psi.psi > {{ var('shift_psi_max') }}
                then 'shifted: on the pool''s unrated images the score is distributed unlike on the rated images (PSI '
                    || round(psi.psi, 2) || ' > ' || {{ var('shift_psi_max') }}
                    || ', KS D ' || round(ks_tested.ks_statistic, 2)
                    || '): a precision measured on the rated images may not hold there'
        end as shift_warning,
    from valid_signals
    left join ks_tested using (scorer_id)
    left join psi using (scorer_id)

)

select * from final
