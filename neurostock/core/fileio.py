"""Files: one content hash and one atomic write for the whole project."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file's bytes, read in blocks (never whole into memory).
    Raises OSError when the file cannot be read."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_atomically(target: str | os.PathLike, payload: bytes) -> None:
    """Write `payload` to `target` through a temporary file beside it and os.replace, so
    `target` is either the old file or the whole new one. Raises OSError on failure
    (the temporary file is removed)."""
    target = Path(target)
    temp_name = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
        ) as temp:
            temp_name = temp.name
            temp.write(payload)
        os.replace(temp_name, target)
    except BaseException:
        if temp_name is not None:
            Path(temp_name).unlink(missing_ok=True)
        raise


def fingerprint(*parts: object) -> str:
    """A short, stable digest of JSON-able parts: changes whenever any part changes.
    Embedders and scorers record it with every result they compute."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
