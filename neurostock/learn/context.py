"""What is known of a new generation before anyone rates it, besides its embeddings and
scores: the prompt's words, the name prefix (`3_`, `6_`, `7_`: the team's batches), the
experiment model and number, the generation month. Read from the warehouse per image
(`load_context`) and turned into feature blocks by `ContextEncoder`, which is fitted on
a training fold only (its vocabulary and categories come from the rows it is fitted on).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from sklearn.base import BaseEstimator, TransformerMixin

# The prompt's words: the most frequent this many words of the training fold (TF-IDF).
MAX_WORDS = 200
# A category (prefix, experiment, month) or word seen fewer times in the training fold
# gets no column: it could only be memorised.
MIN_COUNT = 5
# At most this many categories per block (the most frequent).
MAX_CATEGORIES = 60
_PREFIX = re.compile(r"^([0-9]+)_")


@dataclass
class Context:
    """One entry per image of `image_ids`: cleaned prompt, name prefix, experiment model
    id, experiment number and generation month (`YYYY-MM`), None where unknown."""

    image_ids: np.ndarray
    prompt: np.ndarray
    prefix: np.ndarray
    experiment_model: np.ndarray
    experiment_number: np.ndarray
    month: np.ndarray

    def take(self, rows: np.ndarray) -> Context:
        """The entries of `rows` (indices or a boolean mask)."""
        return Context(*(getattr(self, f)[rows] for f in (
            "image_ids", "prompt", "prefix", "experiment_model", "experiment_number", "month")))


def name_prefix(img_name: str | None) -> str | None:
    """`6` of `6_a_cat..jpg`: the team's batch; None without one."""
    match = _PREFIX.match(img_name or "")
    return match.group(1) if match else None


def _has(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has a table or view `name`."""
    return con.execute("select (select count(*) from duckdb_tables() where table_name = $1) "
                       "+ (select count(*) from duckdb_views() where view_name = $1)",
                       [name]).fetchone()[0] > 0


def load_context(con: duckdb.DuckDBPyConnection, image_ids: np.ndarray) -> Context:
    """The context of `image_ids` from int_images_checked (name, experiment, date) and the
    cleaned prompt of int_prompts_hashed (the images that are embedded); an image absent
    there has its raw prompt without the `<digits>_` prefix."""
    cleaned = "int_prompts_hashed" if _has(con, "int_prompts_hashed") else None
    prompt = ("coalesce(p.prompt, regexp_replace(i.prompt_raw, '^[0-9]+_', ''))"
              if cleaned else "regexp_replace(i.prompt_raw, '^[0-9]+_', '')")
    join = f"left join {cleaned} p on p.image_id = ids.image_id" if cleaned else ""
    con.register("ns_context_ids",
                 pa.table({"image_id": pa.array(np.asarray(image_ids, dtype=np.int64))}))
    try:
        rows = con.execute(f"""
            select ids.image_id, {prompt}, i.img_name, i.experiment_model_id,
                   i.experiment_number, strftime(i.generated_at, '%Y-%m')
            from ns_context_ids ids
            left join (select * from int_images_checked where is_valid) i
                on i.image_id = ids.image_id
            {join}""").fetchall()
    finally:
        con.unregister("ns_context_ids")
    by_id = {r[0]: r for r in rows}
    ordered = [by_id.get(int(i), (int(i), None, None, None, None, None)) for i in image_ids]

    def column(values) -> np.ndarray:
        out = np.empty(len(ordered), dtype=object)
        out[:] = list(values)
        return out

    return Context(
        image_ids=np.asarray(image_ids, dtype=np.int64),
        prompt=column(r[1] or "" for r in ordered),
        prefix=column(name_prefix(r[2]) for r in ordered),
        experiment_model=column(None if r[3] is None else str(r[3]) for r in ordered),
        experiment_number=column(None if r[3] is None and r[4] is None
                                 else f"{r[3]}/{r[4]}" for r in ordered),
        month=column(r[5] for r in ordered))


class ContextEncoder(BaseEstimator, TransformerMixin):
    """The chosen context blocks as dense columns: TF-IDF of the prompt's words
    (prompt_words), one-hot categories (prefix; experiment: the model id and the
    model/number pair; month), each column standardised and each block scaled by
    1 / sqrt(its width), so a whole block counts like one score (its weight is searched
    as a penalty, learn/decision.py). Categories and words seen fewer than MIN_COUNT
    times in the fitted rows get no column."""

    def __init__(self, blocks: tuple[str, ...] = ()):
        self.blocks = blocks

    def fit(self, context: Context, y=None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vocabulary_ = {}
        self.words_ = None
        for block in self.blocks:
            if block == "prompt_words":
                try:
                    self.words_ = TfidfVectorizer(
                        max_features=MAX_WORDS, min_df=min(MIN_COUNT, len(context.prompt)),
                        sublinear_tf=True, token_pattern=r"(?u)\b[^\W\d_]{2,}\b",
                        dtype=np.float64).fit(context.prompt)
                except ValueError:  # no word seen often enough
                    self.words_ = None
            else:
                self.vocabulary_[block] = _categories(self._values(block, context))
        raw = self._raw(context)
        self.mean_ = {b: m.mean(axis=0) for b, m in raw.items()}
        self.scale_ = {b: np.where(m.std(axis=0) > 0, m.std(axis=0), 1.0)
                       for b, m in raw.items()}
        self.names_ = {b: self._names(b) for b in raw}
        return self

    def _values(self, block: str, context: Context) -> list[np.ndarray]:
        if block == "prefix":
            return [context.prefix]
        if block == "experiment":
            return [context.experiment_model, context.experiment_number]
        return [context.month]

    def _names(self, block: str) -> list[str]:
        if block == "prompt_words":
            return [f"word:{w}" for w in self.words_.get_feature_names_out()] \
                if self.words_ is not None else []
        return [f"{block}:{value}" for _, value in self.vocabulary_[block]]

    def _raw(self, context: Context) -> dict[str, np.ndarray]:
        out = {}
        for block in self.blocks:
            if block == "prompt_words":
                out[block] = (self.words_.transform(context.prompt).toarray()
                              if self.words_ is not None else np.zeros((len(context.prompt), 0)))
            else:
                values = [np.array(["\x00" if v is None else str(v) for v in column],
                                   dtype=object) for column in self._values(block, context)]
                columns = [(values[k] == value).astype(float)
                           for k, value in self.vocabulary_[block]]
                out[block] = (np.column_stack(columns) if columns
                              else np.zeros((len(context.prompt), 0)))
        return out

    def transform(self, context: Context) -> dict[str, np.ndarray]:
        """Block name -> its standardised, width-scaled columns (possibly none)."""
        out = {}
        for block, matrix in self._raw(context).items():
            width = max(1, matrix.shape[1])
            out[block] = (matrix - self.mean_[block]) / self.scale_[block] / np.sqrt(width)
        return out


def _categories(columns: list[np.ndarray]) -> list[tuple[int, str]]:
    """(column index, value) of the values seen at least MIN_COUNT times, most frequent
    first, at most MAX_CATEGORIES per column."""
    chosen = []
    for k, values in enumerate(columns):
        present = [v for v in values.tolist() if v is not None]
        names, counts = np.unique(np.array(present, dtype=object).astype(str), return_counts=True) \
            if present else (np.array([]), np.array([]))
        order = np.lexsort((names, -counts))
        chosen += [(k, str(names[i])) for i in order[:MAX_CATEGORIES] if counts[i] >= MIN_COUNT]
    return chosen
