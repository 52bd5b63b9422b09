"""Which torch device an embedder runs on."""

from __future__ import annotations


def choose_device(requested: str) -> str:
    """`requested` as given, except "auto": CUDA when torch sees a GPU, else the CPU."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def choose_precision(requested: str, device: str) -> str:
    """`requested` as given, except "auto": fp16 on a CUDA device, fp32 elsewhere.

    The resolved value is what the fingerprint records, so a CPU run with "auto"
    has the same fingerprint as one with "fp32" (its vectors are the same)."""
    if requested == "auto":
        return "fp16" if str(device).startswith("cuda") else "fp32"
    return requested
