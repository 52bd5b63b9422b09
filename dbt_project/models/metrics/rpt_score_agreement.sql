-- One row per (valid signal, subset): how well the signal agrees with the rating.
-- n; Spearman (Pearson of average ranks) with a seeded bootstrap 95% interval;
-- Pearson; Kendall's tau-b; ROC AUC of good vs bad (Mann-Whitney from ranks);
-- balanced accuracy at the best threshold in the signal's direction; Spearman's
-- p-value (t approximation) and its Benjamini-Hochberg q-value per subset kind.
-- All SQL except the bootstrap (int_spearman_bootstrap). Rating levels are 0-3.
{%- set levels = [0, 1, 2, 3] %}
with

pairs as (select * from {{ ref('int_agreement_pairs') }}),

overall as (

    select
        scorer_id,
        subset,
        count(*) as n,
        count(*) filter (where is_good) as n_good,
        count(*) filter (where not is_good) as n_bad,
        corr(score_rank, rating_rank) as rank_correlation,
        corr(score, rating) as value_correlation,
        var_pop(score) as score_variance,
        var_pop(rating) as rating_variance,
        sum(score_rank) filter (where is_good) as good_rank_sum,
        {%- for level in levels %}
        count(*) filter (where rating = {{ level }}) as n_rating_{{ level }},
        {%- endfor %}
    from pairs
    group by scorer_id, subset

),

score_values as (

    -- One row per distinct score value: how many rows hold it, per rating level.
    select
        scorer_id,
        subset,
        score,
        count(*) as n_value,
        count(*) filter (where is_good) as n_good_value,
        {%- for level in levels %}
        count(*) filter (where rating = {{ level }}) as n_value_{{ level }},
        {%- endfor %}
    from pairs
    group by scorer_id, subset, score

),

below as (

    -- ... and how many rows hold a strictly smaller value.
    select
        *,
        {%- for level in levels %}
        coalesce(sum(n_value_{{ level }}) over strictly_below, 0) as n_below_{{ level }},
        {%- endfor %}
        coalesce(sum(n_good_value) over strictly_below, 0) as n_good_below,
        coalesce(sum(n_value) over strictly_below, 0) as n_below,
    from score_values
    window strictly_below as (
        partition by scorer_id, subset order by score
        rows between unbounded preceding and 1 preceding
    )

),

pair_counts as (

    -- Kendall: a pair with different scores is concordant when the higher score
    -- has the higher rating, discordant when it has the lower one.
    select
        scorer_id,
        subset,
        sum(
            {%- for high in levels %}{% for low in levels if low < high %}
            n_value_{{ high }}::double * n_below_{{ low }} +
            {%- endfor %}{% endfor %} 0
        ) as n_concordant,
        sum(
            {%- for high in levels %}{% for low in levels if low < high %}
            n_value_{{ low }}::double * n_below_{{ high }} +
            {%- endfor %}{% endfor %} 0
        ) as n_discordant,
        sum(n_value::double * (n_value - 1) / 2) as n_tied_score_pairs,
    from below
    group by scorer_id, subset

),

with_auc as (

    select
        overall.*,
        pair_counts.* exclude (scorer_id, subset),
        {{ mann_whitney_auc('good_rank_sum', 'n_good', 'n_bad') }} as auc,
        case
            when (n * (n - 1) / 2.0 - n_tied_score_pairs) > 0
                and (n * (n - 1) / 2.0 - (
                    {%- for level in levels %}
                    n_rating_{{ level }} * (n_rating_{{ level }} - 1) / 2.0 +
                    {%- endfor %} 0)) > 0
            then (n_concordant - n_discordant) / sqrt(
                (n * (n - 1) / 2.0 - n_tied_score_pairs)
                * (n * (n - 1) / 2.0 - (
                    {%- for level in levels %}
                    n_rating_{{ level }} * (n_rating_{{ level }} - 1) / 2.0 +
                    {%- endfor %} 0))
            )
        end as kendall,
    from overall
    inner join pair_counts using (scorer_id, subset)

),

directions as (

    -- The direction of each signal, from all rated images: higher (or lower)
    -- scores mean better images. Thresholds keep images on that side.
    select scorer_id, case when coalesce(auc, 0.5) >= 0.5 then 'higher' else 'lower' end
        as direction,
    from with_auc
    where subset = 'all'

),

thresholds as (

    select
        below.scorer_id,
        below.subset,
        below.score as threshold,
        directions.direction,
        case directions.direction
            when 'higher' then (
                (totals.n_good - below.n_good_below)::double / totals.n_good
                + (below.n_below - below.n_good_below)::double / totals.n_bad
            ) / 2
            else (
                (below.n_good_below + below.n_good_value)::double / totals.n_good
                + (totals.n_bad - (below.n_below + below.n_value
                                   - below.n_good_below - below.n_good_value))::double
                    / totals.n_bad
            ) / 2
        end as balanced_accuracy,
    from below
    inner join directions using (scorer_id)
    inner join overall as totals using (scorer_id, subset)
    where totals.n_good > 0 and totals.n_bad > 0

),

best_thresholds as (

    -- Ties: the threshold that keeps more images.
    select
        scorer_id,
        subset,
        max(balanced_accuracy) as balanced_accuracy,
        arg_max(threshold, (balanced_accuracy,
                            case when direction = 'higher' then -threshold else threshold end))
            as best_threshold,
    from thresholds
    group by scorer_id, subset

),

signals as (select * from {{ ref('signal_summary') }}),

subsets as (

    select distinct subset, subset_kind, subset_embedder_id from {{ ref('image_subsets') }}

),

bootstrap as (select * from {{ ref('int_spearman_bootstrap') }}),

agreement as (

    select
        with_auc.scorer_id,
        signals.base_scorer_id,
        signals.signal_kind,
        signals.embedder_id,
        signals.is_random_init,
        with_auc.subset,
        subsets.subset_kind,
        subsets.subset_embedder_id,
        with_auc.n,
        with_auc.n_good,
        with_auc.n_bad,
        case when score_variance > 0 and rating_variance > 0 then rank_correlation end
            as spearman,
        bootstrap.spearman_ci_low,
        bootstrap.spearman_ci_high,
        case when score_variance > 0 and rating_variance > 0 then value_correlation end
            as pearson,
        with_auc.kendall,
        with_auc.auc,
        best_thresholds.balanced_accuracy,
        best_thresholds.best_threshold,
        directions.direction,
        {%- for level in levels %}
        with_auc.n_rating_{{ level }},
        {%- endfor %}
        bootstrap.n_bootstrap,
        bootstrap.n_bootstrap_defined,
        with_auc.n >= {{ var('agreement_min_n') }} and with_auc.n_good > 0
            and with_auc.n_bad > 0 as is_reliable,
        nullif(concat_ws('; ',
            case when with_auc.n < {{ var('agreement_min_n') }}
                then with_auc.n || ' rows, fewer than agreement_min_n = '
                    || {{ var('agreement_min_n') }} end,
            case when with_auc.n_good = 0 then 'no good images' end,
            case when with_auc.n_bad = 0 then 'no bad images' end,
            case when not score_variance > 0 then 'the score is constant here' end,
            case when not rating_variance > 0 then 'the rating is constant here' end
        ), '') as note,
    from with_auc
    inner join signals using (scorer_id)
    inner join subsets using (subset)
    inner join directions using (scorer_id)
    left join best_thresholds using (scorer_id, subset)
    left join bootstrap using (scorer_id, subset)

),

tested as (

    -- Spearman's p-value as scipy's spearmanr gives it: two-sided Student t with
    -- nu = n - 2 degrees of freedom, t = r sqrt(nu / (1 - r^2)). P(|T| < t) has
    -- a finite series for whole nu (Abramowitz & Stegun 26.7.3-4) in
    -- theta = atan(t / sqrt(nu)) = asin(|r|): no incomplete beta needed.
    select
        *,
        n - 2 as nu,
        -- Rounding can put |r| a hair above 1 (a perfect ranking): clamp for asin/sqrt.
        least(abs(spearman), 1.0) as abs_r,
        greatest(1 - spearman * spearman, 0.0) as cos2,
    from agreement

),

with_p as (

    select
        * exclude (nu, abs_r, cos2),
        case when nu >= 1 and spearman is not null then greatest(0.0, 1 - case
            when nu % 2 = 0 then abs_r * list_sum(list_transform(range(nu // 2),
                lambda i: exp(lgamma(i + 0.5) - lgamma(0.5) - lgamma(i + 1)) * pow(cos2, i)))
            else 2 / pi() * (asin(abs_r) + abs_r * sqrt(cos2) * coalesce(list_sum(
                list_transform(range((nu - 1) // 2),
                    lambda i: exp(lgamma(i + 1) + lgamma(1.5) - lgamma(i + 1.5))
                        * pow(cos2, i))), 0))
        end) end as spearman_p_value,
    from tested

),

ranked_p as (

    -- Benjamini-Hochberg within one family: every row of one subset kind
    -- ('all', 'cluster', 'experiment_model', 'generation_month') with a p-value.
    select
        *,
        row_number() over by_p as p_rank,
        count(spearman_p_value) over (partition by subset_kind) as n_tests,
    from with_p
    window by_p as (partition by subset_kind order by spearman_p_value, scorer_id, subset)

),

final as (

    select
        * exclude (p_rank, n_tests),
        -- q = min over the ranks at or above this one of p * m / rank, at most 1.
        case when spearman_p_value is not null then least(1.0, min(
            spearman_p_value * n_tests / p_rank) over (
                partition by subset_kind, spearman_p_value is null
                order by p_rank desc
                rows between unbounded preceding and current row))
        end as q_value,
    from ranked_p

)

select * from final
