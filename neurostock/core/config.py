"""neurostock.yml as typed, frozen models: which embedders run, which scorers, which
learned models, and how image files are found. Every mistake in the file is one line
naming the file and the key path (`config F: embedders[0].batch_size: ...`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from neurostock.core.errors import NeurostockError

CONFIG_ENV = "NEUROSTOCK_CONFIG"
CONFIG_NAME = "neurostock.yml"
# Passed to dbt's process when the caller has no config, so that dbt's plugin
# does not go looking for one from dbt's own working folder.
NO_CONFIG = "none"
LIBRARIES = {"open_clip": ("image", "prompt", "keyword"),
             "sentence_transformers": ("prompt", "keyword")}
# Embedder ids become parts of table names (emb_image__<id>); imported embeddings
# follow the same rule (embed/embedding_import.py).
EMBEDDER_ID_RULE = re.compile(r"[a-z][a-z0-9_]{0,47}")
# Learned model names become scorer ids (learned_<name>) and table names.
LEARNED_NAME_RULE = re.compile(r"[a-z][a-z0-9_]{0,40}")
# Computed scorers that run offline (score/).
SCORERS = ("technical", "phash", "nsfw", "text_in_image")
# What a learned model can read of an embedder, and how it learns.
LEARNED_KINDS = ("image", "prompt")
LEARNED_MODELS = ("ridge", "ordinal", "decision")
# What the `decision` model knows of a new generation besides embeddings and scores
# (learn/context.py): each a feature block the config switches.
LEARNED_BLOCKS = ("prompt_words", "prefix", "experiment", "month")
_TOP_KEYS = ("embedders", "images", "scorers", "learned", "pool", "decode_workers",
             "submission", "ray")

# Pydantic dataclasses rather than BaseModel: EmbedderConfig has a field named
# `model_config`, which BaseModel reserves for its own settings. Numbers written as
# YAML numbers are accepted where text is expected (`model: 2`), as before.
_STRICT = ConfigDict(extra="forbid", coerce_numbers_to_str=True,
                     populate_by_name=True)

T = TypeVar("T")


def _none_is_empty(value: object) -> object:
    """A key written with no value (`roots:`) means the empty list, as before."""
    return () if value is None else value


def _empty_is_both_kinds(value: object) -> object:
    return value or LEARNED_KINDS


Names = Annotated[tuple[str, ...], BeforeValidator(_none_is_empty)]


def _base(info: ValidationInfo) -> Path | None:
    """The config file's folder while loading a file (relative paths start there)."""
    return (info.context or {}).get("base")


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.startswith(("~", ".")) or value.endswith(
        (".pt", ".pth", ".bin", ".safetensors")
    )


def _check_embedder_id(value: str) -> str:
    if not EMBEDDER_ID_RULE.fullmatch(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and _ (max 48)")
    return value


def _check_learned_name(value: str) -> str:
    if not LEARNED_NAME_RULE.fullmatch(value):
        raise ValueError(f"{value!r} must be lowercase letters, digits and _ "
                         "(starting with a letter, max 41)")
    return value


@dataclass(frozen=True, config=_STRICT)
class EmbedderConfig:
    """One embedder as configured; `pretrained` is a tag, a local path, or "random"."""

    id: Annotated[str, AfterValidator(_check_embedder_id)]
    library: Literal["open_clip", "sentence_transformers"]
    model: Annotated[str, Field(min_length=1)]
    pretrained: str | None = None
    batch_size: Annotated[int, Field(ge=1)] = 64
    device: str = "auto"
    # Empty: all the library can embed.
    kinds: Annotated[tuple[Literal["image", "prompt", "keyword"], ...],
                     BeforeValidator(_none_is_empty), Field(validate_default=True)] = ()
    model_config: str | None = None
    # auto: fp16 on a CUDA device, fp32 elsewhere (embed/devices.py resolves it).
    precision: str = "auto"

    @property
    def is_random_init(self) -> bool:
        return self.library == "open_clip" and self.pretrained == "random"

    @field_validator("pretrained")
    @classmethod
    def _resolve_pretrained(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = _base(info)
        if value and base is not None and value != "random" and _looks_like_path(value):
            return str((base / value).expanduser().resolve())
        return value or None

    @field_validator("model_config")
    @classmethod
    def _resolve_model_config(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = _base(info)
        if value and base is not None:
            return str((base / value).resolve())
        return value or None

    @field_validator("kinds")
    @classmethod
    def _kinds_of_library(cls, value: tuple[str, ...], info: ValidationInfo):
        library = info.data.get("library")
        if library is None:  # already reported
            return value
        if not value:
            return LIBRARIES[library]
        bad = [k for k in value if k not in LIBRARIES[library]]
        if bad:
            raise ValueError(f"{library} cannot embed {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _open_clip_needs_weights(self):
        if self.library == "open_clip" and not self.pretrained:
            raise ValueError(
                "`pretrained` is required for open_clip: a tag such as openai, a local "
                "checkpoint path, or `random` (testing only; labelled everywhere)")
        return self


@dataclass(frozen=True, config=_STRICT)
class ImagesConfig:
    """Defaults for `neurostock images sync` (command-line options override them)."""

    # `map:` in the file: {server prefix: local prefix} or a list of "server=local".
    maps: Annotated[Names, Field(validation_alias="map")] = ()
    dest: Annotated[str, Field(validate_default=True)] = "all_data"
    roots: Names = ()
    max_pixels: Annotated[int, Field(ge=1)] = 64_000_000
    max_bytes: Annotated[int, Field(ge=1)] = 100_000_000
    workers: Annotated[int, Field(ge=1)] = 4
    # Copy files that fail the checks too (quarantined beside the usable ones).
    copy_unusable: bool = False
    # The folder a relative img_path of the source is taken relative to (None: the
    # folder of the ingested source file, as meta.loads records it).
    base: str | None = None

    @field_validator("maps", mode="before")
    @classmethod
    def _map_as_pairs(cls, value: object) -> object:
        if isinstance(value, dict):
            return tuple(f"{k}={v}" for k, v in value.items())
        return value

    @field_validator("dest")
    @classmethod
    def _resolve_dest(cls, value: str, info: ValidationInfo) -> str:
        base = _base(info)
        return str((base / value).resolve()) if base is not None else value

    @field_validator("base")
    @classmethod
    def _resolve_base(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            raise ValueError("must name a folder (relative paths start at the config's "
                             "folder), got an empty string")
        if "\0" in value:
            raise ValueError(f"{value!r} is not a path")
        folder = Path(value).expanduser()
        base = _base(info)
        return str((base / folder).resolve()) if base is not None else str(folder)

    @field_validator("roots")
    @classmethod
    def _resolve_roots(cls, value: tuple[str, ...], info: ValidationInfo):
        base = _base(info)
        return tuple(str((base / r).resolve()) for r in value) if base is not None else value


@dataclass(frozen=True, config=_STRICT)
class LearnedConfig:
    """One learned model of neurostock.yml's `learned:` list (`scores:` in the file is
    `use_scores` here)."""

    name: Annotated[str, AfterValidator(_check_learned_name)]
    embedders: Names = ()
    # Empty: both kinds.
    kinds: Annotated[tuple[Literal["image", "prompt"], ...],
                     BeforeValidator(_empty_is_both_kinds)] = LEARNED_KINDS
    use_scores: Annotated[bool, Field(validation_alias="scores")] = True
    model: Literal["ridge", "ordinal", "decision"] = "ridge"
    folds: Annotated[int, Field(ge=2)] = 5
    seed: int = 42
    shuffle_labels: bool = False
    # The context blocks (learn/context.py): model decision (unset: all of
    # LEARNED_BLOCKS) and model ridge learning the ratings (unset: none, the quality model
    # on its features alone; learn/context_ridge.py).
    blocks: tuple[Literal["prompt_words", "prefix", "experiment", "month"], ...] | None = None
    # What it learns: the ratings (full_set's 0-3; the decision model: every rated
    # image), or the market's answer to the images sent (submission_outcomes): accepted
    # (1) or rejected (0), sold (1) or accepted and unsold (0).
    target: Literal["rating", "accepted", "sold"] = "rating"

    @property
    def scorer_id(self) -> str:
        return f"learned_{self.name}"

    @property
    def context_blocks(self) -> tuple[str, ...]:
        """The context feature blocks this model uses: model decision all of them unless
        `blocks` says which; model ridge those `blocks` names (none unset)."""
        if self.blocks is None:
            return LEARNED_BLOCKS if self.model == "decision" else ()
        return tuple(dict.fromkeys(self.blocks))

    @model_validator(mode="after")
    def _blocks_need_decision_or_ridge(self):
        if self.blocks is not None and self.model == "ordinal":
            raise ValueError("blocks are features of model decision or ridge, not of ordinal")
        if self.blocks is not None and self.target != "rating":
            raise ValueError(f"blocks are learned with the ratings, not with target "
                             f"{self.target}")
        return self

    @model_validator(mode="after")
    def _outcome_targets_are_not_the_decision(self):
        if self.target != "rating" and self.model == "decision":
            raise ValueError(f"target {self.target} is learned by model ridge or ordinal; "
                             "model decision learns the ratings")
        return self

    @model_validator(mode="after")
    def _has_features(self):
        if not self.embedders and not self.use_scores:
            raise ValueError("no features (no embedders and scores: false)")
        return self


@dataclass(frozen=True, config=_STRICT)
class UnratedSince:
    """`pool: {unrated: {since: DATE}}`: unrated images generated on or after DATE."""

    since: dt.date


@dataclass(frozen=True, config=_STRICT)
class UnratedNewest:
    """`pool: {unrated: {newest: N}}`: the N most recently generated unrated images."""

    newest: Annotated[int, Field(ge=1)]


@dataclass(frozen=True, config=_STRICT)
class PoolConfig:
    """Which images are checked, embedded and scored (the mart `pool`): every rated image,
    unusable ones included, plus the unrated images `unrated` names: `sample` (big_set,
    the default), `all`, `{since: DATE}` or `{newest: N}`."""

    unrated: Literal["sample", "all"] | UnratedSince | UnratedNewest = "sample"

    def dbt_vars(self) -> dict:
        """The vars models/marts/pool.sql reads."""
        if isinstance(self.unrated, UnratedSince):
            return {"pool_unrated": "since", "pool_since": self.unrated.since.isoformat()}
        if isinstance(self.unrated, UnratedNewest):
            return {"pool_unrated": "newest", "pool_newest": self.unrated.newest}
        return {"pool_unrated": self.unrated}


@dataclass(frozen=True, config=_STRICT)
class SubmissionConfig:
    """`submission:`: the marketplace policy (a file of submit/policies/) and overrides of
    its rule parameters by name; the names are checked against the policy when the build
    reads it (submit/policy.py), since floor 0 does not know the policies."""

    policy: Annotated[str, AfterValidator(_check_learned_name)] = "adobe_stock"
    overrides: Annotated[dict[str, float | int | str],
                         BeforeValidator(lambda v: {} if v is None else v)] = \
        dataclasses.field(default_factory=dict)


@dataclass(frozen=True, config=_STRICT)
class RayConfig:
    """`ray:`: how `neurostock embed|score --engine ray` runs. `shards` is the folder of
    its Parquet shards (unset: `<warehouse>.shards/` beside the warehouse; on a cluster,
    a folder every worker can write); `address` the cluster when `--address` is not
    given (unset: a local Ray instance); `actor_cpus` the CPUs each model actor
    reserves (unset: 1 on a CPU cluster, the CPUs per GPU on a GPU cluster)."""

    shards: str | None = None
    address: str | None = None
    actor_cpus: Annotated[int | None, Field(ge=1)] = None

    @field_validator("shards")
    @classmethod
    def _resolve_shards(cls, value: str | None, info: ValidationInfo) -> str | None:
        base = _base(info)
        if value is None or base is None:
            return value
        return str((base / Path(value).expanduser()).resolve())


@dataclass(frozen=True, config=_STRICT)
class Config:
    embedders: Annotated[tuple[EmbedderConfig, ...], BeforeValidator(_none_is_empty)] = ()
    images: Annotated[ImagesConfig, BeforeValidator(lambda v: {} if v is None else v)] = \
        dataclasses.field(default_factory=ImagesConfig)
    path: Path | None = None
    scorers: Annotated[tuple[Literal[SCORERS], ...], BeforeValidator(_none_is_empty)] = ()
    learned: Annotated[tuple[LearnedConfig, ...], BeforeValidator(_none_is_empty)] = ()
    pool: Annotated[PoolConfig, BeforeValidator(lambda v: {} if v is None else v)] = \
        dataclasses.field(default_factory=PoolConfig)
    # Threads that decode and preprocess images for the embedders and scorers
    # (None: one per CPU core).
    decode_workers: Annotated[int | None, Field(ge=1)] = None
    submission: Annotated[SubmissionConfig, BeforeValidator(lambda v: {} if v is None else v)] = \
        dataclasses.field(default_factory=SubmissionConfig)
    ray: Annotated[RayConfig, BeforeValidator(lambda v: {} if v is None else v)] = \
        dataclasses.field(default_factory=RayConfig)

    @property
    def decoders(self) -> int:
        """decode_workers, or the machine's core count."""
        return self.decode_workers or os.cpu_count() or 1

    @model_validator(mode="after")
    def _unique_names(self):
        for what, names in (("embedder id", [e.id for e in self.embedders]),
                            ("learned model name", [m.name for m in self.learned])):
            twice = sorted({n for n in names if names.count(n) > 1})
            if twice:
                raise ValueError(f"{what}(s) used twice: {', '.join(twice)}")
        return self


def find_config(explicit: str | os.PathLike | None = None) -> Path | None:
    """The config file: `explicit`, else $NEUROSTOCK_CONFIG, else ./neurostock.yml if present."""
    chosen = explicit or os.environ.get(CONFIG_ENV)
    if chosen == NO_CONFIG:
        return None
    if chosen:
        path = Path(chosen).expanduser().resolve()
        if not path.is_file():
            raise NeurostockError(f"config file {path} does not exist")
        return path
    default = Path.cwd() / CONFIG_NAME
    return default.resolve() if default.is_file() else None


def load_config(explicit: str | os.PathLike | None = None) -> Config:
    """Parse and check the config; no file means no embedders. Raises NeurostockError
    with one line naming the file and the first wrong key."""
    path = find_config(explicit)
    if path is None:
        return Config()
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise NeurostockError(f"config {path} is not valid YAML: {exc}".splitlines()[0]) from exc
    if not isinstance(data, dict):
        raise NeurostockError(
            f"config {path} must be a mapping with `embedders:`, `scorers:` and `images:`"
        )
    if "path" in data:  # a field of Config, but set here, never by the file
        raise NeurostockError(f"config {path}: path: unknown key (known: "
                              f"{', '.join(_TOP_KEYS)})")
    config = validated(Config, data, f"config {path}", base=path.parent)
    return dataclasses.replace(config, path=path)


def learned_config(where: str, **values: Any) -> LearnedConfig:
    """A LearnedConfig from keyword values (`neurostock train --name ...`); a wrong value
    is a one-line NeurostockError starting with `where`."""
    return validated(LearnedConfig, values, where)


def validated(kind: type[T], data: object, where: str, base: Path | None = None) -> T:
    """`data` checked as a `kind`; relative paths resolved against `base`. Raises
    NeurostockError: `<where>: <key path>: <what is wrong>` for the first problem."""
    try:
        return TypeAdapter(kind).validate_python(data, context={"base": base})
    except ValidationError as exc:
        raise NeurostockError(_one_line(exc, where)) from None


def _one_line(exc: ValidationError, where: str) -> str:
    # An unknown key often explains the rest (a misspelt required key): it goes first.
    errors = sorted(exc.errors(), key=lambda e: not _is_unknown_key(e))
    first = errors[0]
    key = _key_path(first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {key + ': ' if key else ''}{_explain(first)}{more}"


def _is_unknown_key(error: dict) -> bool:
    return error["type"] in ("unexpected_keyword_argument", "extra_forbidden")


def _key_path(loc: tuple) -> str:
    """("embedders", 0, "batch_size") -> `embedders[0].batch_size`."""
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int) and parts:
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def _explain(error: dict) -> str:
    """Pydantic's error as a sentence about the value found."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    got = f", got {value!r}"
    if _is_unknown_key(error):
        return "unknown key"
    if kind == "missing":
        return "is required"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected', '').replace(' or ', ', ')}"
    if kind.startswith("int_"):
        return "must be a whole number" + got
    if kind.startswith("bool_"):
        return "must be true or false" + got
    if kind.startswith("string_too_short"):
        return "must not be empty"
    if kind.startswith("string_"):
        return "must be text" + got
    if kind in ("greater_than_equal", "greater_than"):
        return f"must be at least {ctx.get('ge', ctx.get('gt'))}" + got
    if kind in ("tuple_type", "list_type", "iterable_type"):
        return "must be a list" + got
    if kind in ("dataclass_type", "dict_type", "model_type", "dataclass_args_type"):
        return "must be a mapping" + got
    return error["msg"] + got
