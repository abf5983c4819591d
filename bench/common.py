"""What the benchmark commands share: the hardware they ran on, sentences to time, the raw encoder's pass.

Run a benchmark from the repository root as a module (`python -m bench.documents ...`), so that this
module imports without any edit of `sys.path`; the product's own code comes from the installed `kgrel`.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from kgrel.models.relation.fewrel import load_fewrel

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


def hardware() -> dict:
    """The CPU (and GPU) a figure was measured on: a time holds only on the same hardware."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(), "gpu": gpu,
            "torch": torch.__version__}


def raw_forward(encoder, batches: list[list[str]]) -> None:
    """The tokenizer and the encoder's forward pass alone, on batches of texts."""
    with torch.inference_mode():
        for texts in batches:
            enc = encoder.tokenizer(texts, padding=True, truncation=True, max_length=encoder.max_length,
                                    return_tensors="pt")
            encoder.model(**{k: v.to(encoder.device) for k, v in enc.items()}).last_hidden_state.cpu()


def best_of(fn, repeats: int) -> float:
    """The shortest of `repeats` timings of fn(): the least disturbed by the rest of the machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def sentences(path: Path, n: int, skip: int = 0) -> list:
    """n sentences spread over a FewRel file, none of the first `skip` of each relation (the examples)."""
    data = load_fewrel(path)
    pool = [x for items in data.values() for x in items[skip:]]
    step = max(1, len(pool) // n)
    picked = pool[::step][:n]
    while len(picked) < n:
        picked += picked[: n - len(picked)]
    return picked


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """--data: FewRel sentences, the public Wikipedia file when it is there, else the tiny test fixture."""
    default = SHARED / "fewrel" / "wiki_public.json"
    parser.add_argument("--data", type=Path, default=default if default.exists()
                        else ROOT / "tests" / "data" / "tiny_fewrel.json")


@contextmanager
def kgrel_server(data_dir: Path, port: int, env: dict[str, str]) -> Iterator[str]:
    """`kgrel serve` as a user starts it (a subprocess, uvicorn) over `data_dir` with `env` added to the
    environment; yields its URL once /health answers, and stops it afterwards."""
    import httpx

    server = subprocess.Popen([sys.executable, "-m", "kgrel.app.cli", "serve", "--port", str(port), "--data-dir",
                               str(data_dir)], cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.time() > deadline or server.poll() is not None:
                    raise
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
