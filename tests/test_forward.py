"""learn.forward: the decision judged on later generations, the way it is used: the
periods are whole months in order, each judged by a model that saw nothing of it or
after it (planted data where the future differs from the past shows it)."""

from __future__ import annotations

import numpy as np
import pytest

from neurostock.learn.context import Context
from neurostock.learn.forward import (
    MIN_TRAIN,
    best_threshold,
    forward_operating_point,
    forward_periods,
    forward_validate_decision,
    unseen_generator_decision,
)


def _months(counts: dict) -> np.ndarray:
    return np.array([m for m, n in counts.items() for _ in range(n)], dtype=object)


def test_periods_are_whole_months_in_order_each_trained_on_the_past_only():
    counts = {"2022-10": 60, "2022-11": 40, "2022-12": 30, "2023-01": 35, "2023-02": 25,
              None: 7}
    month = _months(counts)
    np.random.default_rng(0).shuffle(month)  # row order says nothing of time
    periods, reason = forward_periods(month)
    assert reason is None and len(periods) == 3
    text = np.array([m or "" for m in month])
    tested = np.concatenate([p.test for p in periods])
    assert len(tested) == len(set(tested.tolist()))  # each dated row judged once at most
    assert all(month[i] is not None for i in tested)
    for period in periods:
        assert set(text[period.test]) == {m for m in counts if m and
                                          period.first_month <= m <= period.last_month}
        assert (text[period.train] < period.first_month).all()
        assert len(period.train) == sum(n for m, n in counts.items()
                                        if m and m < period.first_month)
    # The first training set: whole months up to 40% of the dated rows (October's 32%;
    # with November it would be 53%); the four months after it in three periods.
    assert periods[0].first_month == "2022-11"
    assert [(p.first_month, p.last_month) for p in periods][-1][1] == "2023-02"
    assert [p.first_month for p in periods] == sorted(p.first_month for p in periods)


def test_too_little_time_gives_a_reason_not_a_figure():
    assert forward_periods(np.array([None] * 10, dtype=object))[1] == \
        "no rated image has a generation date"
    assert "one month" in forward_periods(_months({"2022-10": 100}))[1]
    few = forward_periods(_months({"2022-10": MIN_TRAIN - 1, "2022-11": 200}))
    assert few[0] == [] and f"fewer than {MIN_TRAIN}" in few[1]


def _drifting(n_per_month: int = 80, seed: int = 3):
    """Five months; in the first four, sellable follows feature a; in the last month it
    follows the opposite of a. A model that sees only the past must fail the last month;
    one that had seen it would not."""
    rng = np.random.default_rng(seed)
    months = ["2022-10", "2022-11", "2022-12", "2023-01", "2023-02"]
    month = np.repeat(np.array(months, dtype=object), n_per_month)
    n = len(month)
    a = rng.normal(size=n)
    signal = np.where(month == "2023-02", -a, a)
    quality = signal + rng.normal(scale=0.4, size=n)
    rating = np.clip(np.round(2.5 + quality), 1, 4)
    unusable = quality < -1.2
    rating[unusable] = 5
    matrix = np.column_stack([a, rng.normal(size=n)])
    none = np.full(n, None, dtype=object)
    context = Context(np.arange(n), np.array([f"prompt {i}" for i in range(n)], dtype=object),
                      none, none, none, month)
    groups = np.array([f"g{i // 2}" for i in range(n)], dtype=object)
    sellable = (rating >= 3) & (rating <= 4)
    return matrix, context, rating, unusable, sellable, groups


def test_each_period_is_judged_by_a_model_that_never_saw_it():
    matrix, context, rating, unusable, sellable, groups = _drifting()
    lines = []
    result, scores = forward_validate_decision(matrix, context, ["score:a", "score:b"],
                                               rating, unusable, sellable, groups, (),
                                               seed=1, progress=lines.append,
                                               replicates=200)
    periods = result["periods"]
    assert [p["first_month"] for p in periods] == ["2022-12", "2023-01", "2023-02"]
    assert [p["n_train"] for p in periods] == [160, 240, 320]
    # The past holds: judged well; the last month turned against the past: judged badly.
    assert periods[0]["auc_sellable"] > 0.8 and periods[1]["auc_sellable"] > 0.8
    assert periods[2]["auc_sellable"] < 0.3
    low, high = periods[2]["auc_sellable_ci"]
    assert low <= periods[2]["auc_sellable"] <= high and high < 0.5
    pooled = result["pooled"]
    assert pooled["n"] == 240 and pooled["keep_share"] == 0.25
    assert pooled["auc_sellable_ci"][0] <= pooled["auc_sellable"] <= pooled["auc_sellable_ci"][1]
    # Each period is scored by its own model: the pooled figures are the periods' own,
    # weighted by their sizes, not one AUC over scores of different models.
    sizes = np.array([p["n"] for p in periods], dtype=float)
    for figure in ("auc_sellable", "precision_sellable"):
        assert pooled[figure] == pytest.approx(
            sum(p[figure] * p["n"] for p in periods) / sizes.sum())
    assert len(lines) == 3 and lines[0].startswith("forward 1/3 (2022-12): trained on 160 images")
    # The forward scores come back per judged row, with their period: never a row of
    # the first training months, each period's rows once.
    months = context.month[scores.rows]
    assert len(scores.rows) == len(set(scores.rows.tolist())) == 240
    assert set(months) == {"2022-12", "2023-01", "2023-02"}
    assert [sorted(set(months[scores.period == k])) for k in range(3)] == \
        [["2022-12"], ["2023-01"], ["2023-02"]]


def test_undated_images_never_enter_a_forward_figure():
    matrix, context, rating, unusable, sellable, groups = _drifting()
    month = context.month.copy()
    month[::10] = None
    dated = Context(context.image_ids, context.prompt, context.prefix,
                    context.experiment_model, context.experiment_number, month)
    result, _ = forward_validate_decision(matrix, dated, ["score:a", "score:b"], rating,
                                          unusable, sellable, groups, (), seed=1,
                                          replicates=50)
    assert result["n_undated"] == 40
    assert sum(p["n"] for p in result["periods"]) == result["pooled"]["n"] == 216


def test_a_generator_never_seen_is_judged_by_a_model_fitted_on_the_others():
    """Generator 9 turned against the others (sellable follows -a there): held out, it is
    judged badly; the other generators, each held out in turn, are judged well."""
    matrix, context, rating, unusable, sellable, groups = _drifting()
    generator = np.where(context.month == "2023-02", "9",
                         np.where(np.arange(len(rating)) % 2 == 0, "1", "2")).astype(object)
    generator[:5] = None  # unknown: never held out, always trained on
    by_generator = Context(context.image_ids, context.prompt, context.prefix, generator,
                           context.experiment_number, context.month)
    result = unseen_generator_decision(matrix, by_generator, ["score:a", "score:b"], rating,
                                       unusable, sellable, groups, (), seed=1, replicates=100)
    held = {g["experiment_model"]: g for g in result["generators"]}
    assert set(held) == {"1", "2", "9"}
    assert held["9"]["n"] == 80 and held["9"]["n_train"] == 320
    assert held["9"]["auc_sellable"] < 0.3
    assert held["1"]["auc_sellable"] > 0.6 and held["2"]["auc_sellable"] > 0.6
    assert result["pooled"]["n"] == sum(g["n"] for g in held.values())
    assert unseen_generator_decision(matrix, context, ["score:a", "score:b"], rating,
                                     unusable, sellable, groups, (), seed=1,
                                     replicates=10) == {
        "skipped": "no rated image has an experiment model"}


def test_a_threshold_is_the_lowest_reaching_the_target_and_never_splits_a_tie():
    score = np.array([0.9, 0.8, 0.8, 0.7, 0.6, 0.5, 0.4])
    good = np.array([1, 1, 0, 1, 0, 0, 1], dtype=bool)
    # Kept: 1 -> 1.0, 3 -> 0.667 (0.8 tie kept whole), 4 -> 0.75, 5 -> 0.6, 6 -> 0.5,
    # 7 -> 0.571.
    assert best_threshold(score, good, 0.7, min_kept=1) == 0.7
    assert best_threshold(score, good, 0.55, min_kept=1) == 0.4
    assert best_threshold(score, good, 0.7, min_kept=5) is None
    assert best_threshold(score[:0], good[:0], 0.5) is None


def test_the_forward_operating_point_is_chosen_on_earlier_periods_only():
    """Period 0's scores rank sellable images high; period 1's the other way round. A
    threshold chosen on period 0 and applied to period 1 keeps its worst images: the
    figure says so, where a threshold chosen on everything at once would not."""
    rng = np.random.default_rng(3)
    n = 200
    period = np.repeat([0, 1], n)
    sellable = rng.random(2 * n) < 0.4
    noise = rng.normal(0, 0.3, 2 * n)
    score = np.where(period == 0, sellable.astype(float), 1 - sellable) + noise
    groups = np.array([f"g{i // 2}" for i in range(2 * n)], dtype=object)
    point = forward_operating_point(score, sellable, period, groups, 0.8, replicates=200)
    assert point["measured_on"] == n and point["n_periods"] == 2
    assert point["precision"] < 0.2 and point["precision_ci"][1] < 0.5, point
    low, high = point["precision_ci"]
    assert low <= point["precision"] <= high
    # Periods alike: the figure holds.
    same = np.where(period == 0, sellable, sellable).astype(float) + noise
    held = forward_operating_point(same, sellable, period, groups, 0.8, replicates=200)
    assert held["precision"] >= 0.8 and held["threshold"] is not None
    assert 0 < held["keep_rate"] < 1 and held["n_kept"] > 10
    # One period: nothing earlier to choose on, and it says so.
    one = forward_operating_point(score[:n], sellable[:n], period[:n], groups[:n], 0.8)
    assert one["precision"] is None and "one forward period" in one["reason"]
