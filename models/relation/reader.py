"""Reading a document once for all of its entity pairs.

The text is encoded once, with a marker around every mention (`documents.mark_document`). Then, with H the
token states:

    mention m      = mean of H over m's tokens (its opening marker included)
    entity e       = logsumexp over e's mentions (a smooth max: the clearest mention counts most)
    context (e, f) = softmax(H_w q(e, f) / sqrt(d))^T H_w over the tokens w of the sentences that mention
                     e or f, with q(e, f) = W_q [e + f; e * f] a learned query (`RelationHeads.context_query`;
                     untrained it is 0 and the context is the mean of those sentences)

and the pair (e, f) reads as InstanceEncoding(context, e, f): the same read-out a relation instance has, so
the heads, prototypes and calibration are shared by sentences, examples and documents. The context is
symmetric in e and f, so the reversed pair (f, e) costs nothing more: only head and tail swap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from kgrel.models.relation.documents import Document, MarkedDocument
from kgrel.models.relation.encoder import InstanceEncoding


@dataclass
class DocumentReading:
    """One document's token states and what is pooled from them, before the heads."""

    states: torch.Tensor  # (tokens, hidden)
    entities: torch.Tensor  # (entities, hidden), L2-normalised
    token_sentence: torch.Tensor  # (tokens,) sentence index of each token
    entity_sentences: list[set[int]]


def token_masks(offsets: torch.Tensor, spans: Sequence[tuple[int, int]]) -> torch.Tensor:
    """Boolean (spans, tokens): the tokens whose characters lie inside each [start, end) span."""
    if not spans:
        return torch.zeros(0, len(offsets), dtype=torch.bool)
    bounds = torch.tensor(spans, dtype=torch.long)
    starts, ends = offsets[:, 0], offsets[:, 1]
    inside = (starts[None, :] >= bounds[:, :1]) & (ends[None, :] <= bounds[:, 1:]) & (ends > starts)[None, :]
    # A span that no token fits inside (a word cut in the middle): take the tokens it overlaps.
    overlap = (starts[None, :] < bounds[:, 1:]) & (ends[None, :] > bounds[:, :1])
    return torch.where(inside.any(1, keepdim=True), inside, overlap)


def read_document(states: torch.Tensor, offsets: torch.Tensor, marked: MarkedDocument,
                  document: Document) -> DocumentReading:
    """Entity vectors and each token's sentence, from a document's token states."""
    offsets = offsets.to(states.device)
    vectors = []
    for spans in marked.mentions:
        masks = token_masks(offsets, spans).to(states.device)
        weights = masks.to(states.dtype)
        mentions = (weights @ states) / weights.sum(1, keepdim=True).clamp(min=1)  # (mentions, hidden)
        if not len(mentions):
            mentions = states.mean(0, keepdim=True)
        vectors.append(torch.logsumexp(mentions, dim=0) - math.log(len(mentions)))
    entities = F.normalize(torch.stack(vectors), dim=-1) if vectors else states.new_zeros(0, states.shape[1])
    starts = torch.tensor(marked.sentence_starts[1:], dtype=torch.long, device=states.device)
    token_sentence = torch.bucketize(offsets[:, 0].contiguous(), starts, right=True)
    return DocumentReading(states, entities, token_sentence, document.entity_sentences())


def pair_encodings(reading: DocumentReading, pairs: Sequence[tuple[int, int]],
                   context_query: torch.nn.Module | None) -> InstanceEncoding:
    """InstanceEncoding(context, head, tail) of each (head, tail) entity pair; the reversed pair is the same
    encoding with head and tail swapped."""
    device = reading.states.device
    if not pairs:
        empty = reading.states.new_zeros(0, reading.states.shape[1])
        return InstanceEncoding(empty, empty, empty)
    h_idx = torch.tensor([h for h, _ in pairs], dtype=torch.long, device=device)
    t_idx = torch.tensor([t for _, t in pairs], dtype=torch.long, device=device)
    head, tail = reading.entities[h_idx], reading.entities[t_idx]
    sentences = int(reading.token_sentence.max()) + 1 if len(reading.token_sentence) else 1
    wanted = torch.zeros(len(pairs), sentences, dtype=torch.bool, device=device)
    for i, (h, t) in enumerate(pairs):
        for s in reading.entity_sentences[h] | reading.entity_sentences[t]:
            if s < wanted.shape[1]:
                wanted[i, s] = True
    window = wanted[:, reading.token_sentence]  # (pairs, tokens)
    window = torch.where(window.any(1, keepdim=True), window, torch.ones_like(window))
    logits = torch.zeros(len(pairs), reading.states.shape[0], device=device, dtype=reading.states.dtype)
    if context_query is not None:
        query = context_query(torch.cat([head + tail, head * tail], dim=-1))
        logits = query @ reading.states.T / math.sqrt(reading.states.shape[1])
    weights = torch.softmax(logits.masked_fill(~window, float("-inf")), dim=-1)
    context = F.normalize(weights @ reading.states, dim=-1)
    return InstanceEncoding(context, head, tail)
