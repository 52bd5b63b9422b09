"""What each scorer is and whether its numbers can be trusted: the `meta.scorers` table.

A scorer is anything that gives images one number: a model computed in the
warehouse (kind "computed") or a file of scores the research team made
elsewhere (kind "imported"). Broken scorers are common (an aesthetic model
whose output is 0.1 for every image, a classifier read at the wrong label), so
every scorer carries a verdict: `is_valid` and, when false, a readable
`invalid_reason`. An invalid scorer is never deleted: it stays visible, and
the comparisons between scorers leave it out.
"""

from __future__ import annotations

import math
from dataclasses import astuple, dataclass, fields

import duckdb
import numpy as np

from neurostock.core.meta import ensure_scorers_table  # noqa: F401 (re-exported)

# Thresholds of validate_scores (see its docstring for what each one catches).
CONSTANT_RELATIVE_SPREAD = 1e-6
NEAR_CONSTANT_SHARE = 0.95
NEAR_CONSTANT_STD = 1e-9


@dataclass(frozen=True)
class ScorerInfo:
    """One `meta.scorers` row (without created_at, which the upsert sets).

    `higher_is` says what a higher value means ("more aesthetic", "more likely
    NSFW"); `n_scored` counts the images that have a (non-NULL) score.
    """

    scorer_id: str
    kind: str
    source_file: str | None
    source_sha256: str | None
    version: str | None
    higher_is: str
    expected_min: float | None
    expected_max: float | None
    is_valid: bool
    invalid_reason: str | None
    n_scored: int
    description: str | None


@dataclass(frozen=True)
class Validation:
    """The verdict on one scorer's values; `invalid_reason` is `"; ".join(reasons)`."""

    is_valid: bool
    reasons: tuple[str, ...]

    @property
    def invalid_reason(self) -> str | None:
        """The reasons as one line, or None for a valid scorer."""
        return "; ".join(self.reasons) if self.reasons else None


def upsert_scorer(con: duckdb.DuckDBPyConnection, info: ScorerInfo) -> None:
    """Insert or replace the row of `info.scorer_id`, with created_at = now."""
    ensure_scorers_table(con)
    names = [f.name for f in fields(ScorerInfo)]
    con.execute(
        f"insert or replace into meta.scorers ({', '.join(names)}, created_at) "
        f"values ({', '.join('?' * len(names))}, current_timestamp)",
        list(astuple(info)),
    )


def get_scorer(con: duckdb.DuckDBPyConnection, scorer_id: str) -> ScorerInfo | None:
    """The registry row of `scorer_id`, or None (also when there is no registry yet)."""
    exists = con.execute(
        "select count(*) from information_schema.tables where table_catalog = current_database() "
        "and table_schema = 'meta' and table_name = 'scorers'"
    ).fetchone()[0]
    if not exists:
        return None
    names = [f.name for f in fields(ScorerInfo)]
    row = con.execute(f"select {', '.join(names)} from meta.scorers where scorer_id = ?",
                      [scorer_id]).fetchone()
    return ScorerInfo(*row) if row else None


def validate_scores(values: np.ndarray, expected: tuple[float | None, float | None] = (None, None),
                    n_unknown_ids: int = 0, n_duplicate_ids: int = 0) -> Validation:
    """Judge one scorer's values (NaN for a missing score); every problem found is a reason.

    - NaN/inf: any value that is not finite (missing scores are NaN here).
    - constant: fewer than 2 distinct finite values, or all of them equal up to
      float rounding: max - min <= 1e-6 * max(|min|, |max|). The second half
      catches outputs that are one number plus float32 noise: TANet-AVA's
      averaged softmax is 0.1 +- 1e-8 for every image (487 "distinct" values).
    - near-constant (when not constant): the most common value covers more than
      95% of the finite values, or std <= 1e-9 * max(1, |mean|).
    - out of range: finite values outside `expected` (min, max); None = unbounded.
    - unknown ids and duplicate ids: counts the caller found.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    finite = values[np.isfinite(values)]
    reasons = []
    if values.size == 0:
        reasons.append("no values")
    if finite.size < values.size:
        reasons.append(f"{_count(values.size - finite.size, 'NaN/inf/missing value')}")
    if values.size and finite.size == 0:
        reasons.append("no finite values")
    elif finite.size:
        spread = _spread_reason(finite)
        if spread:
            reasons.append(spread)
    outside = _outside_range(finite, expected)
    if outside:
        reasons.append(f"{_count(outside, 'value')} outside the declared range "
                       f"[{_bound(expected[0], '-inf')}, {_bound(expected[1], 'inf')}]")
    if n_unknown_ids:
        reasons.append("1 id is not an image of the warehouse" if n_unknown_ids == 1
                       else f"{n_unknown_ids} ids are not images of the warehouse")
    if n_duplicate_ids:
        reasons.append(f"{_count(n_duplicate_ids, 'duplicate id')} (the first row of each id "
                       "was kept)")
    return Validation(is_valid=not reasons, reasons=tuple(reasons))


def _spread_reason(finite: np.ndarray) -> str | None:
    """"constant: ..." or "near-constant: ..." for non-empty finite values, else None."""
    low, high = float(finite.min()), float(finite.max())
    if low == high:
        if finite.size == 1:
            return f"constant: the only value is {low:.10g}"
        return f"constant: every one of {finite.size} values is {low:.10g}"
    if high - low <= CONSTANT_RELATIVE_SPREAD * max(abs(low), abs(high)):
        return (f"constant: every one of {finite.size} values is {float(finite.mean()):.6g} "
                f"(they differ by at most {high - low:.2g}: float rounding)")
    distinct, counts = np.unique(finite, return_counts=True)
    top = int(counts.argmax())
    share = counts[top] / finite.size
    if share > NEAR_CONSTANT_SHARE:
        return f"near-constant: {share:.1%} of values equal {float(distinct[top]):.10g}"
    mean, std = float(finite.mean()), float(finite.std())
    if std <= NEAR_CONSTANT_STD * max(1.0, abs(mean)):
        return f"near-constant: std {std:.2g} relative to mean {mean:.6g}"
    return None


def _outside_range(finite: np.ndarray, expected: tuple[float | None, float | None]) -> int:
    """How many finite values fall below expected[0] or above expected[1]."""
    low, high = expected
    outside = np.zeros(finite.shape, dtype=bool)
    if low is not None:
        outside |= finite < low
    if high is not None:
        outside |= finite > high
    return int(outside.sum())


def _bound(value: float | None, unbounded: str) -> str:
    """A range bound as people write it: 0, 1, 0.5, or -inf/inf when there is none."""
    if value is None or math.isinf(value):
        return unbounded
    return f"{value:g}"


def _count(n: int, noun: str) -> str:
    """`n noun`, with an s when n is not 1."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
