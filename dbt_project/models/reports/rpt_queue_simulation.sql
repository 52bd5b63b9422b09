-- One row per (learned scorer, round) of `neurostock ratings simulate`
-- (learn/queue_simulation.py): the rating queue replayed on known ratings against a
-- seeded random choice, both arms from the same start and judged on the same held-out
-- test set per seed. Per arm: mean, min and max over the seeds of the AUC of sellable
-- and the Spearman (usable test images); the paired difference queue - random per
-- seed, its mean and a 95% t interval over the seeds; per scorer, random's final figure
-- (each seed's last round: its whole pool rated), the first round whose mean reaches it,
-- for each arm, and the share of random's final ratings the queue needed.
{%- set measures = ['auc_sellable', 'spearman'] %}
with

points as (

    select * from {{ ref('stg_annotations__queue_simulation') }}

),

per_arm as (

    select
        scorer_id,
        round,
        arm,
        cast(round(avg(n_rated)) as integer) as n_rated,
        count(*) as n_seeds,
        {%- for m in measures %}
        avg({{ m }}) as {{ m }}_mean,
        min({{ m }}) as {{ m }}_min,
        max({{ m }}) as {{ m }}_max,
        {%- endfor %}
    from points
    group by scorer_id, round, arm

),

paired as (

    select
        queue.scorer_id,
        queue.round,
        {%- for m in measures %}
        queue.{{ m }} - random.{{ m }} as {{ m }}_difference,
        {%- endfor %}
    from points as queue
    inner join points as random
        on random.scorer_id = queue.scorer_id
        and random.seed = queue.seed
        and random.round = queue.round
        and random.arm = 'random'
    where queue.arm = 'queue'

),

-- Student's t, two-sided 95%, by degrees of freedom (beyond 30: the value at 30).
t_quantiles (df, t) as (

    values (1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447),
        (7, 2.365), (8, 2.306), (9, 2.262), (10, 2.228), (11, 2.201), (12, 2.179),
        (13, 2.160), (14, 2.145), (15, 2.131), (16, 2.120), (17, 2.110), (18, 2.101),
        (19, 2.093), (20, 2.086), (25, 2.060), (30, 2.042)

),

differences as (

    select
        scorer_id,
        round,
        count(*) as n_pairs,
        {%- for m in measures %}
        avg({{ m }}_difference) as {{ m }}_difference,
        stddev_samp({{ m }}_difference) / sqrt(count({{ m }}_difference))
            as {{ m }}_difference_se,
        {%- endfor %}
    from paired
    group by scorer_id, round

),

differences_with_t as (

    select
        differences.*,
        -- The nearest tabulated df at or below n - 1 (a slightly wider interval).
        coalesce((select min(t) from t_quantiles
                  where df <= differences.n_pairs - 1), 12.706) as t,
    from differences

),

last_rounds as (

    -- Each seed's last round of the random arm: its whole pool rated.
    select *
    from points
    where arm = 'random'
    qualify round = max(round) over (partition by scorer_id, seed)

),

finals as (

    select scorer_id, cast(round(avg(n_rated)) as integer) as random_final_n,
        {%- for m in measures %}
        avg({{ m }}) as random_final_{{ m }},
        {%- endfor %}
    from last_rounds
    group by scorer_id

),

reaches as (

    select
        per_arm.scorer_id,
        {%- for m in measures %}
        {%- for arm in ['queue', 'random'] %}
        min(per_arm.n_rated) filter (
            where per_arm.arm = '{{ arm }}'
            and per_arm.{{ m }}_mean >= finals.random_final_{{ m }}) as {{ arm }}_reaches_{{ m }}_n,
        {%- endfor %}
        {%- endfor %}
    from per_arm
    inner join finals using (scorer_id)
    group by per_arm.scorer_id

),

final as (

    select
        queue.scorer_id,
        queue.round,
        queue.n_rated,
        queue.n_seeds,
        {%- for m in measures %}
        queue.{{ m }}_mean as queue_{{ m }},
        queue.{{ m }}_min as queue_{{ m }}_min,
        queue.{{ m }}_max as queue_{{ m }}_max,
        random.{{ m }}_mean as random_{{ m }},
        random.{{ m }}_min as random_{{ m }}_min,
        random.{{ m }}_max as random_{{ m }}_max,
        differences_with_t.{{ m }}_difference,
        differences_with_t.{{ m }}_difference
            - differences_with_t.t * differences_with_t.{{ m }}_difference_se
            as {{ m }}_difference_ci_low,
        differences_with_t.{{ m }}_difference
            + differences_with_t.t * differences_with_t.{{ m }}_difference_se
            as {{ m }}_difference_ci_high,
        finals.random_final_{{ m }},
        reaches.queue_reaches_{{ m }}_n,
        reaches.random_reaches_{{ m }}_n,
        reaches.queue_reaches_{{ m }}_n / finals.random_final_n as queue_share_{{ m }},
        {%- endfor %}
        finals.random_final_n,

    from per_arm as queue
    left join per_arm as random
        on random.scorer_id = queue.scorer_id
        and random.round = queue.round
        and random.arm = 'random'
    left join differences_with_t
        on differences_with_t.scorer_id = queue.scorer_id
        and differences_with_t.round = queue.round
    left join finals on finals.scorer_id = queue.scorer_id
    left join reaches on reaches.scorer_id = queue.scorer_id
    where queue.arm = 'queue'
    order by queue.scorer_id, queue.round

)

select * from final
