"""Where an embedder's weights come from: local files only unless downloads are allowed,
one clear line when they are missing, and their content hash."""

from __future__ import annotations

import os
from pathlib import Path

from neurostock.core.config import EmbedderConfig
from neurostock.core.errors import NeurostockError
from neurostock.core.fileio import file_sha256

_SHA_MEMO: dict[tuple[str, int, int], str] = {}


def offline_hub() -> None:
    """Make Hugging Face libraries look only at local files, unless downloads are allowed.

    These machines have no internet; a hub lookup would fail slowly or obscurely.
    """
    if os.environ.get("NEUROSTOCK_ALLOW_DOWNLOADS") != "1":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def missing_weights(cfg: EmbedderConfig, looked: str) -> NeurostockError:
    """The one-line error for weights that are not on this machine, naming where we looked."""
    return NeurostockError(
        f"embedder {cfg.id}: no weights for {cfg.library} model {cfg.model!r} "
        f"pretrained={cfg.pretrained!r} (looked in {looked}); fetch them where there is "
        "internet (or set NEUROSTOCK_ALLOW_DOWNLOADS=1) and set `pretrained:` in "
        "neurostock.yml to the local checkpoint file"
    )


def weights_sha256(path: Path) -> str:
    """sha256 of a weights file, remembered per (path, size, mtime) within the process.

    Weights files run to gigabytes and an embedder is described more than once per
    process (registry, then load); the memo reads them once.
    """
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA_MEMO:
        _SHA_MEMO[key] = file_sha256(path)
    return _SHA_MEMO[key]
