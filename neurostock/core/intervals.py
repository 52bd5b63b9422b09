"""The one percentile bootstrap interval. Every bootstrap of the project reads its
interval here: Spearman's rho per (scorer, subset) (analysis/bootstrap.py), the sell
decision's cross-fitted figures (analysis/decision_bootstrap.py) and the learned
decision model's figures (learn/decision_metrics.py). In core because learn comes
before analysis in the stage order and both use it."""

from __future__ import annotations

import numpy as np


def percentile_interval(draws: np.ndarray, level: float = 0.95,
                        high_draws: np.ndarray | None = None
                        ) -> tuple[float | None, float | None]:
    """(low, high): the (1 - level) / 2 and (1 + level) / 2 percentiles (2.5 % and
    97.5 % at 95 %; numpy's linear interpolation) of the defined draws, NaN left out;
    None for an end without a defined draw. `high_draws`: the high end is read from
    these draws instead (bounds: the low end from the lower bounds' draws, the high end
    from the upper bounds')."""
    # Written so that 0.95 gives exactly 2.5 and 97.5.
    tail = (100 - 100 * level) / 2
    low_defined = _defined(draws)
    if high_draws is None:
        if not len(low_defined):
            return None, None
        low, high = np.percentile(low_defined, [tail, 100 - tail])
        return float(low), float(high)
    high_defined = _defined(high_draws)
    return (float(np.percentile(low_defined, tail)) if len(low_defined) else None,
            float(np.percentile(high_defined, 100 - tail)) if len(high_defined) else None)


def _defined(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return values[~np.isnan(values)]
