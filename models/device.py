"""Where and in what arithmetic models run: shared by the relation model and the graph model alike."""

from __future__ import annotations

import torch


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error worth stating."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(device)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """bf16 for autocast when asked for, or when 'auto' and the hardware runs it fast; None for fp32."""
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    try:
        fast = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except (AttributeError, RuntimeError):
        fast = False
    return torch.bfloat16 if fast else None
