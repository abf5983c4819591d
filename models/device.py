"""Where and in what arithmetic models run: shared by the relation model and the graph model alike."""

from __future__ import annotations

import os
from pathlib import Path

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


def available_memory(device: torch.device | str) -> int:
    """Bytes free for new work: the GPU's free memory; on a CPU what Linux reports as available
    (MemAvailable: free plus reclaimable cache), else the machine's physical memory, and never more than a
    container's memory limit leaves (cgroup v2 or v1: /proc/meminfo shows the host's memory)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    free = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                free = int(line.split()[1]) * 1024
    except OSError:
        pass
    for limit, used in (("memory.max", "memory.current"), ("memory/memory.limit_in_bytes",
                                                           "memory/memory.usage_in_bytes")):
        try:
            cap = Path("/sys/fs/cgroup", limit).read_text().strip()
            if cap.isdigit():  # "max" (v2) means no limit; v1 writes a huge number instead
                free = min(free, max(0, int(cap) - int(Path("/sys/fs/cgroup", used).read_text())))
        except (OSError, ValueError):
            continue
    return free
