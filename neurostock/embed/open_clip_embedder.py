"""open_clip image and text embeddings: a pretrained tag, a local checkpoint, or random weights.

Random weights are for tests only and are labelled everywhere (is_random_init).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import fingerprint
from neurostock.core.progress import say
from neurostock.embed.devices import choose_device, choose_precision
from neurostock.embed.registry import EmbedderInfo
from neurostock.embed.weights import missing_weights, offline_hub, weights_sha256

_CHECKPOINT_NAMES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
_CHECKPOINT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_config_lock = threading.Lock()


def _model_name(cfg: EmbedderConfig) -> str:
    """The open_clip architecture name, registering a custom config file first if given."""
    import open_clip

    if not cfg.model_config:
        return cfg.model
    path = Path(cfg.model_config)
    if not path.is_file():
        raise NeurostockError(f"embedder {cfg.id}: model_config {path} does not exist")
    with _config_lock:
        open_clip.add_model_config(path)
    return path.stem


def _checkpoint(cfg: EmbedderConfig) -> Path | None:
    """The local weights file named by `pretrained`, or None for a tag / random."""
    if cfg.pretrained in (None, "random"):
        return None
    path = Path(cfg.pretrained).expanduser()
    if path.is_dir():
        for name in _CHECKPOINT_NAMES:
            if (path / name).is_file():
                return path / name
        found = sorted(p for p in path.iterdir() if p.suffix in _CHECKPOINT_SUFFIXES)
        if len(found) == 1:
            return found[0]
        raise NeurostockError(
            f"embedder {cfg.id}: folder {path} holds {len(found)} checkpoint files; "
            "name the file in `pretrained:`"
        )
    if path.is_file():
        return path
    if "/" in cfg.pretrained or path.suffix in _CHECKPOINT_SUFFIXES:
        raise NeurostockError(f"embedder {cfg.id}: checkpoint {path} does not exist")
    return None


def _cached_tag_weights(cfg: EmbedderConfig, pretrained_cfg: dict) -> Path | None:
    """The locally cached weights file of a pretrained tag; refuses in one line when absent.

    Checked before dbt runs, so a missing download is one clear line, not a hub
    traceback from inside a model.
    """
    import os

    from huggingface_hub import constants, try_to_load_from_cache

    looked = []
    repo = (pretrained_cfg.get("hf_hub") or "").strip("/")
    if repo:
        parts = repo.split("/")
        repo_id, names = "/".join(parts[:2]), ["/".join(parts[2:])] if len(parts) > 2 else []
        names = names or ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for name in names:
            found = try_to_load_from_cache(repo_id, name)
            if isinstance(found, str) and Path(found).is_file():
                return Path(found)
        looked.append(f"{constants.HF_HUB_CACHE} for {repo_id}")
    url = pretrained_cfg.get("url") or ""
    if url:
        cached = Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)
        if cached.is_file():
            return cached
        looked.append(str(cached))
    if os.environ.get("NEUROSTOCK_ALLOW_DOWNLOADS") == "1":
        return None  # open_clip downloads it when the model loads
    raise missing_weights(cfg, " and ".join(looked) or "open_clip's caches")


def describe_open_clip(cfg: EmbedderConfig) -> EmbedderInfo:
    import open_clip

    name = _model_name(cfg)
    model_cfg = open_clip.get_model_config(name)
    if model_cfg is None:
        raise NeurostockError(
            f"embedder {cfg.id}: open_clip has no model {name!r} "
            "(see open_clip.list_models(), or give `model_config:` a JSON file)"
        )
    checkpoint = _checkpoint(cfg)
    tag = None if checkpoint or cfg.pretrained == "random" else cfg.pretrained
    pretrained_cfg = {}
    if tag is not None:
        if tag not in open_clip.list_pretrained_tags_by_model(name):
            known = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
            raise NeurostockError(
                f"embedder {cfg.id}: {tag!r} is neither a local file nor an open_clip tag of "
                f"{name} (tags: {known})"
            )
        pretrained_cfg = open_clip.get_pretrained_cfg(name, tag) or {}
        checkpoint = _cached_tag_weights(cfg, pretrained_cfg)
    quick_gelu = bool(pretrained_cfg.get("quick_gelu")) or "quickgelu" in name.lower()
    vision = model_cfg.get("vision_cfg", {})
    mean = pretrained_cfg.get("mean") or open_clip.OPENAI_DATASET_MEAN
    std = pretrained_cfg.get("std") or open_clip.OPENAI_DATASET_STD
    preprocessing = (
        f"resize {vision.get('image_size', 224)} bicubic, center crop, "
        f"mean {tuple(round(m, 4) for m in mean)}, std {tuple(round(s, 4) for s in std)}"
    )
    weights_sha = weights_sha256(checkpoint) if checkpoint else None
    precision = choose_precision(cfg.precision, choose_device(cfg.device))
    return EmbedderInfo(
        embedder_id=cfg.id,
        library="open_clip",
        library_version=open_clip.__version__,
        model=name,
        pretrained=cfg.pretrained,
        weights_path=str(checkpoint) if checkpoint else None,
        weights_sha256=weights_sha,
        quick_gelu=quick_gelu,
        preprocessing=preprocessing,
        dim=int(model_cfg["embed_dim"]),
        kinds=cfg.kinds,
        is_random_init=cfg.is_random_init,
        is_imported=False,
        fingerprint=fingerprint("open_clip", name, cfg.pretrained, weights_sha, quick_gelu,
                                precision, open_clip.__version__),
    )


class OpenClipEmbedder:
    """A loaded open_clip model; embeddings come back L2-normalised, float32."""

    def __init__(self, cfg: EmbedderConfig) -> None:
        import open_clip
        import torch

        offline_hub()
        self.cfg = cfg
        self.info = describe_open_clip(cfg)
        self.device = choose_device(cfg.device)
        name = self.info.model
        checkpoint = self.info.weights_path
        if cfg.is_random_init:
            # Seeded, so random embeddings are at least reproducible run to run.
            torch.manual_seed(0)
            say(f"WARNING: embedder {cfg.id} uses RANDOM weights "
                "(testing only): its vectors carry no meaning")
        try:
            self.model, _, self.preprocess = open_clip.create_model_and_transforms(
                name,
                pretrained=checkpoint or (None if cfg.is_random_init else cfg.pretrained),
                device=self.device,
                precision=choose_precision(cfg.precision, self.device),
                force_quick_gelu=self.info.quick_gelu and checkpoint is not None,
            )
        except RuntimeError as exc:
            if "download" in str(exc).lower() or "hub" in str(exc).lower():
                raise missing_weights(cfg, "the Hugging Face cache (~/.cache/huggingface)") from exc
            raise NeurostockError(f"embedder {cfg.id}: cannot load {name}: {exc}") from exc
        self.model.eval()
        self.tokenizer = open_clip.get_tokenizer(name)
        # Inputs follow the weights (fp16 / bf16 on a GPU with precision auto).
        self.input_dtype = next(self.model.parameters()).dtype
        self.on_cuda = str(self.device).startswith("cuda")

    def prepare_image(self, path: str):
        """Decode and preprocess one file (runs on a worker thread, ahead of the model)."""
        from PIL import Image

        from neurostock.core.imaging import to_rgb

        with Image.open(path) as image:
            return self.preprocess(to_rgb(image))

    def encode_prepared(self, tensors: list) -> np.ndarray:
        """Preprocessed image tensors -> (n, dim) unit vectors."""
        import torch

        batch = torch.stack(tensors)
        if self.on_cuda:
            # Pinned host memory lets the copy overlap the previous batch's work.
            batch = batch.pin_memory().to(self.device, non_blocking=True)
        else:
            batch = batch.to(self.device)
        if batch.dtype != self.input_dtype:
            batch = batch.to(self.input_dtype)
        with torch.inference_mode():
            out = self.model.encode_image(batch)
        return _unit(out)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Texts -> (n, dim) unit vectors."""
        import torch

        tokens = self.tokenizer(texts).to(self.device)
        with torch.inference_mode():
            out = self.model.encode_text(tokens)
        return _unit(out)


def _unit(tensor) -> np.ndarray:
    array = tensor.float().cpu().numpy().astype(np.float32, copy=False)
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)
