"""The one map from an embedder's `library` to the code behind it: how it is described
(without loading weights), which class loads it, and which kinds it can embed.

neurostock.core.config.LIBRARIES validates neurostock.yml with the same kinds
(tests/test_embed_layout.py keeps the two equal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.embed.open_clip_embedder import OpenClipEmbedder, describe_open_clip
from neurostock.embed.registry import EmbedderInfo
from neurostock.embed.sentence_embedder import SentenceEmbedder, describe_sentence_model


@dataclass(frozen=True)
class Backend:
    """One library: `describe` finds the registry row, `embedder` loads the model."""

    describe: Callable[[EmbedderConfig], EmbedderInfo]
    embedder: Callable[[EmbedderConfig], object]
    kinds: tuple[str, ...]


BACKENDS = {
    "open_clip": Backend(describe_open_clip, OpenClipEmbedder, ("image", "prompt", "keyword")),
    "sentence_transformers": Backend(describe_sentence_model, SentenceEmbedder,
                                     ("prompt", "keyword")),
}


def backend_for(cfg: EmbedderConfig) -> Backend:
    """The backend of `cfg.library`; NeurostockError naming the embedder otherwise."""
    try:
        return BACKENDS[cfg.library]
    except KeyError:
        raise NeurostockError(
            f"embedder {cfg.id}: library {cfg.library!r} is not one of {', '.join(BACKENDS)}"
        ) from None


def describe(cfg: EmbedderConfig) -> EmbedderInfo:
    """The registry row for a configured embedder, found without loading its weights."""
    return backend_for(cfg).describe(cfg)


def load_embedder(cfg: EmbedderConfig):
    """The configured embedder, its model loaded (slow: once per process)."""
    return backend_for(cfg).embedder(cfg)
