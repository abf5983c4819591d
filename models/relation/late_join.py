"""Reading (sentence, relation text) pairs apart in an encoder's lower layers and together above them.

A cross-encoder that reads each pair together from its first layer pays a whole pass per (sentence,
relation) cell. Here the layers below `joined_from` read the sentence and the relation text each alone, so
that a sentence is read there once per call however many relations it is checked against, and a relation's
text once per process (kept); a cell then costs only the layers above, which read the two side by side.
The lower layers must be frozen (the packaged encoder's, as `FactVerifier(trained_layers=...)` leaves
them): that is what makes a relation text's states reusable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.nn.utils.rnn import pad_sequence

from kgrel.models.lru import LruCache
from kgrel.models.relation.encoder import MarkedText, mention_masks, through_layers

Features = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class LateJoin:
    """Pair features of a BERT-style `encoder`: its layers below `joined_from` on each text alone, the rest
    on the (sentence, relation text) pair."""

    def __init__(self, encoder, tokenizer, joined_from: int, max_length: int, cache_size: int = 4096):
        layers = encoder.encoder.layer
        if not 0 < joined_from < len(layers):
            raise ValueError(f"joined_from must lie between 1 and {len(layers) - 1}, not {joined_from}")
        self.encoder, self.tokenizer, self.joined_from = encoder, tokenizer, joined_from
        self.max_length = max_length
        self._texts = LruCache(cache_size)  # requests share a loaded verifier

    def _lower(self, texts: list[str], token_type: int):
        """Embeddings and the lower layers on each text alone: (hidden, attention mask, tokenizer output)."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                             return_offsets_mapping=True, return_tensors="pt")
        device = next(self.encoder.parameters()).device
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        with torch.no_grad():  # frozen: nothing below joined_from learns
            hidden = self.encoder.embeddings(input_ids=ids, token_type_ids=torch.full_like(ids, token_type))
            hidden = through_layers(self.encoder.encoder.layer[:self.joined_from], hidden, mask)
        return hidden, mask, enc

    def _text_states(self, texts: Sequence[str], batch_size: int) -> dict[str, torch.Tensor]:
        """Each relation text's lower states, without its [CLS] (the pair has the sentence's), kept when the
        encoder only infers (in training, dropout makes them differ call to call)."""
        def lower(missing: list[str]) -> list[torch.Tensor]:
            states = []
            for start in range(0, len(missing), batch_size):
                # The second segment's token type, as a pair read together has it (where the model has one).
                hidden, mask, _ = self._lower(missing[start:start + batch_size],
                                              token_type=int(self.encoder.config.type_vocab_size > 1))
                # Cloned: a view would keep the whole padded batch alive in the cache.
                states += [hidden[i, 1:int(n)].clone() for i, n in enumerate(mask.sum(1).tolist())]
            return states

        if self.encoder.training or torch.is_grad_enabled():
            unique = list(dict.fromkeys(texts))
            return dict(zip(unique, lower(unique), strict=True))
        return self._texts.fetch(texts, lower)

    def _sentence_states(self, marked: Sequence[MarkedText], batch_size: int):
        """Each sentence's lower states with its head and tail token masks, trimmed to its own length."""
        order = sorted(range(len(marked)), key=lambda i: len(marked[i].text))
        rows: dict[int, tuple] = {}
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            hidden, mask, enc = self._lower([marked[i].text for i in chunk], token_type=0)
            in_head, in_tail = mention_masks(enc["offset_mapping"], [marked[i] for i in chunk])
            for row, i in enumerate(chunk):
                n = int(mask[row].sum())
                rows[i] = (hidden[row, :n], in_head[row, :n], in_tail[row, :n])
        return [rows[i] for i in range(len(marked))]

    def features(self, marked: Sequence[MarkedText], texts: Sequence[str], read_out: Features,
                 batch_size: int) -> torch.Tensor:
        """`read_out(hidden, attention mask, head mask, tail mask)` of each (marked sentence, text) pair, read
        `batch_size` at a time."""
        unique = list({m.text: m for m in marked}.values())  # a sentence asked against several relations
        position = {m.text: j for j, m in enumerate(unique)}
        sentences = self._sentence_states(unique, batch_size)
        relation = self._text_states(texts, batch_size)
        cells = [(position[m.text], t) for m, t in zip(marked, texts, strict=True)]
        size = [len(sentences[s][0]) + len(relation[t]) for s, t in cells]
        order = sorted(range(len(cells)), key=size.__getitem__)  # a batch pads to its own longest pair
        out: list[torch.Tensor | None] = [None] * len(cells)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            parts = [(sentences[cells[i][0]], relation[cells[i][1]]) for i in chunk]
            hidden = pad_sequence([torch.cat([sentence[0], text]) for sentence, text in parts], batch_first=True)
            width = hidden.shape[1]
            lengths = torch.tensor([size[i] for i in chunk], device=hidden.device)
            mask = (torch.arange(width, device=hidden.device)[None, :] < lengths[:, None]).long()
            head = _widened([sentence[1] for sentence, _ in parts], width, hidden.device)
            tail = _widened([sentence[2] for sentence, _ in parts], width, hidden.device)
            hidden = through_layers(self.encoder.encoder.layer[self.joined_from:], hidden, mask)
            for row, value in zip(chunk, read_out(hidden, mask, head, tail), strict=True):
                out[row] = value
        return torch.stack(out)


def _widened(masks: Sequence[torch.Tensor], width: int, device: torch.device) -> torch.Tensor:
    """A sentence's mention masks as (pairs, width): the relation text's tokens are never a mention."""
    out = torch.zeros(len(masks), width, dtype=torch.bool, device=device)
    for row, mask in enumerate(masks):
        out[row, :len(mask)] = mask.to(device)
    return out
