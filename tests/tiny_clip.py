"""A tiny open_clip architecture with seeded random weights saved to a checkpoint:
the real open_clip loading path, offline, in seconds."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


def tiny_checkpoint(folder: Path) -> tuple[Path, Path]:
    """The model config file and a checkpoint of its (random, seeded) weights."""
    import open_clip
    import torch

    config = folder / "tiny-clip-test.json"
    config.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(config)
    torch.manual_seed(1)
    model = open_clip.create_model("tiny-clip-test", pretrained=None)
    checkpoint = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return config, checkpoint


def tiny_embedder(model_config: Path, checkpoint: Path | str, embedder_id: str = "tiny",
                  **options) -> str:
    """The neurostock.yml `embedders:` item of the tiny model (one line, newline ended):
    `checkpoint` is the saved weights, or "random" for random ones (labelled so by the
    registry); `options` are further keys (`kinds=["image"]` is written `kinds: [image]`)."""
    extra = "".join(
        f", {key}: [{', '.join(map(str, value))}]" if isinstance(value, list | tuple)
        else f", {key}: {value}"
        for key, value in options.items())
    return (f"  - {{id: {embedder_id}, library: open_clip, model: tiny-clip-test, "
            f"model_config: {model_config}, pretrained: {checkpoint}{extra}}}\n")
