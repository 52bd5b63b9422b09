"""neurostock.yml: which embedders run, and how image files are found."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from neurostock.core.errors import NeurostockError

CONFIG_ENV = "NEUROSTOCK_CONFIG"
CONFIG_NAME = "neurostock.yml"
# Passed to dbt's process when the caller has no config, so that dbt's plugin
# does not go looking for one from dbt's own working folder.
NO_CONFIG = "none"
LIBRARIES = {"open_clip": ("image", "prompt", "keyword"),
             "sentence_transformers": ("prompt", "keyword")}
# Embedder ids become parts of table names (emb_image__<id>).
_ID = re.compile(r"[a-z][a-z0-9_]{0,47}")
_EMBEDDER_KEYS = {"id", "library", "model", "pretrained", "batch_size", "device", "kinds",
                  "model_config", "precision"}
# Computed scorers that run offline (score/): id -> what it needs.
SCORERS = ("technical", "phash", "nsfw", "text_in_image")
_IMAGES_KEYS = {"map", "dest", "roots", "max_pixels", "max_bytes", "workers"}


@dataclass(frozen=True)
class EmbedderConfig:
    """One embedder as configured; `pretrained` is a tag, a local path, or "random"."""

    id: str
    library: str
    model: str
    pretrained: str | None = None
    batch_size: int = 64
    device: str = "auto"
    kinds: tuple[str, ...] = ()
    model_config: str | None = None
    precision: str = "fp32"

    @property
    def is_random_init(self) -> bool:
        return self.library == "open_clip" and self.pretrained == "random"


@dataclass(frozen=True)
class ImagesConfig:
    """Defaults for `neurostock images sync` (command-line options override them)."""

    maps: tuple[str, ...] = ()
    dest: str = "all_data"
    roots: tuple[str, ...] = ()
    max_pixels: int = 64_000_000
    max_bytes: int = 100_000_000
    workers: int = 4


@dataclass(frozen=True)
class Config:
    embedders: tuple[EmbedderConfig, ...] = ()
    images: ImagesConfig = field(default_factory=ImagesConfig)
    path: Path | None = None
    scorers: tuple[str, ...] = ()
    learned: tuple = ()  # learn.model.LearnedConfig, one per `learned:` entry


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
    """Parse and check the config; no file means no embedders."""
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
    unknown = set(data) - {"embedders", "images", "scorers", "learned"}
    if unknown:
        raise NeurostockError(f"config {path}: unknown key(s) {', '.join(sorted(unknown))}")
    embedders = tuple(_embedder(e, path, i) for i, e in enumerate(data.get("embedders") or []))
    ids = [e.id for e in embedders]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise NeurostockError(f"config {path}: embedder id(s) used twice: {', '.join(duplicates)}")
    scorers = tuple(str(x) for x in data.get("scorers") or ())
    bad = [x for x in scorers if x not in SCORERS]
    if bad:
        raise NeurostockError(
            f"config {path}: unknown scorer(s) {', '.join(bad)} (known: {', '.join(SCORERS)})"
        )
    learned = tuple(_learned(e, path, i) for i, e in enumerate(data.get("learned") or []))
    names = [m.name for m in learned]
    if len(set(names)) != len(names):
        raise NeurostockError(f"config {path}: a learned model name is used twice")
    return Config(embedders, _images(data.get("images") or {}, path), path, scorers, learned)


def _learned(entry: object, path: Path, i: int):
    """One `learned:` entry: {name, embedders, kinds, scores, model, folds, seed}."""
    from learn.model import KINDS, LearnedConfig

    where = f"config {path}: learned[{i}]"
    if not isinstance(entry, dict) or "name" not in entry:
        raise NeurostockError(f"{where} must be a mapping with at least `name`")
    allowed = {"name", "embedders", "kinds", "scores", "model", "folds", "seed"}
    unknown = set(entry) - allowed
    if unknown:
        raise NeurostockError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    cfg = LearnedConfig(
        name=str(entry["name"]),
        embedders=tuple(str(e) for e in entry.get("embedders") or ()),
        kinds=tuple(str(k) for k in entry.get("kinds") or KINDS),
        use_scores=bool(entry.get("scores", True)),
        model=str(entry.get("model", "ridge")),
        folds=int(entry.get("folds", 5)),
        seed=int(entry.get("seed", 42)),
    )
    cfg.check(where)
    return cfg


def _embedder(raw: object, path: Path, index: int) -> EmbedderConfig:
    where = f"config {path}: embedders[{index}]"
    if not isinstance(raw, dict):
        raise NeurostockError(f"{where} must be a mapping")
    unknown = set(raw) - _EMBEDDER_KEYS
    if unknown:
        raise NeurostockError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in ("id", "library", "model"):
        if not raw.get(key):
            raise NeurostockError(f"{where}: `{key}` is required")
    embedder_id = str(raw["id"])
    if not _ID.fullmatch(embedder_id):
        raise NeurostockError(
            f"{where}: id {embedder_id!r} must be lowercase letters, digits and _ (max 48)"
        )
    library = str(raw["library"])
    if library not in LIBRARIES:
        raise NeurostockError(
            f"{where} ({embedder_id}): library {library!r} is not one of {', '.join(LIBRARIES)}"
        )
    kinds = tuple(raw.get("kinds") or LIBRARIES[library])
    bad = [k for k in kinds if k not in LIBRARIES[library]]
    if bad:
        raise NeurostockError(f"{where} ({embedder_id}): {library} cannot embed {', '.join(bad)}")
    pretrained = raw.get("pretrained")
    if library == "open_clip" and not pretrained:
        raise NeurostockError(
            f"{where} ({embedder_id}): `pretrained` is required for open_clip: a tag such as "
            "openai, a local checkpoint path, or `random` (testing only; labelled everywhere)"
        )
    model_config = raw.get("model_config")
    if model_config:
        model_config = str((path.parent / str(model_config)).resolve())
    if pretrained and pretrained != "random" and _looks_like_path(str(pretrained)):
        pretrained = str((path.parent / str(pretrained)).expanduser().resolve())
    return EmbedderConfig(
        id=embedder_id,
        library=library,
        model=str(raw["model"]),
        pretrained=str(pretrained) if pretrained else None,
        batch_size=int(raw.get("batch_size", 64)),
        device=str(raw.get("device", "auto")),
        kinds=kinds,
        model_config=model_config,
        precision=str(raw.get("precision", "fp32")),
    )


def _looks_like_path(value: str) -> bool:
    return "/" in value or value.startswith(("~", ".")) or value.endswith(
        (".pt", ".pth", ".bin", ".safetensors")
    )


def _images(raw: object, path: Path) -> ImagesConfig:
    if not isinstance(raw, dict):
        raise NeurostockError(f"config {path}: `images` must be a mapping")
    unknown = set(raw) - _IMAGES_KEYS
    if unknown:
        raise NeurostockError(f"config {path}: images: unknown key(s) {', '.join(sorted(unknown))}")
    maps = raw.get("map") or {}
    if isinstance(maps, dict):
        maps = [f"{k}={v}" for k, v in maps.items()]
    base = path.parent
    return ImagesConfig(
        maps=tuple(str(m) for m in maps),
        dest=str((base / str(raw.get("dest", "all_data"))).resolve()),
        roots=tuple(str((base / str(r)).resolve()) for r in raw.get("roots") or ()),
        max_pixels=int(raw.get("max_pixels", 64_000_000)),
        max_bytes=int(raw.get("max_bytes", 100_000_000)),
        workers=int(raw.get("workers", 4)),
    )
