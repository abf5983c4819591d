"""A cross-encoder fact verifier: reads a sentence with its two mentions marked *together with* a relation's
text and says whether the sentence states that fact (BERT-PAIR's idea, FewRel 2.0, on the relation's
description instead of a support sentence).

The prototypical network compares one vector per sentence with one vector per relation, so a sentence
about a film's cinematographer lands near "production company" and nothing in the vectors says it is not.
The verifier attends across both texts. It is measured, not served (`bench/extraction_precision.py
--verifier`): it re-ranks the prototypical scores by log-linear pooling, p^(1-w) v^w, with a weight that
falls as a relation gains examples (`pooling_weight`).

    python bench/train_verifier.py --data runs/eval/train.json --side-info pid2name.json --out runs/verifier
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from kgrel.models.relation.encoder import mark, mention_masks, packaged_encoder_path
from kgrel.models.relation.instances import RelationInstance, reverse
from kgrel.models.relation.model import PACKAGED

WEIGHTS_FILE = "verifier.safetensors"
CONFIG_FILE = "verifier.json"
MAX_CHARS = 500  # the sentence is cropped around its mentions; the relation text is never cut


class FactVerifier(nn.Module):
    """P(the sentence states (head, relation, tail)) from the marked sentence and the relation's text."""

    def __init__(self, encoder_dir: str | Path | None = None, max_length: int = 160):
        super().__init__()
        from transformers import AutoModel, AutoTokenizer

        # Saved as PACKAGED, not as the installed package's path, so that a saved verifier loads anywhere.
        self.encoder_name = PACKAGED if encoder_dir is None else str(encoder_dir)
        path = packaged_encoder_path() if encoder_dir is None else encoder_dir
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.encoder = AutoModel.from_pretrained(path, local_files_only=True)
        hidden = self.encoder.config.hidden_size
        # Read out from the whole pair, the head's tokens and the tail's tokens (as the relation model does).
        self.head = nn.Sequential(nn.Linear(3 * hidden, hidden), nn.GELU(), nn.Linear(hidden, 1))
        self.max_length = max_length

    def forward(self, instances: Sequence[RelationInstance], texts: Sequence[str]) -> torch.Tensor:
        """Logits, one per (instance, relation text)."""
        marked = [mark(x, MAX_CHARS) for x in instances]
        batch = self.tokenizer([m.text for m in marked], list(texts), padding=True, truncation="only_first",
                               max_length=self.max_length, return_offsets_mapping=True, return_tensors="pt")
        offsets = batch.pop("offset_mapping")
        # The relation text's offsets count from its own start: only the sentence's tokens can be mentions.
        in_sentence = torch.tensor([[s == 0 for s in batch.sequence_ids(i)] for i in range(len(marked))])
        in_head, in_tail = mention_masks(offsets, marked)
        in_head, in_tail = in_head & in_sentence, in_tail & in_sentence
        hidden = self.encoder(**batch).last_hidden_state

        def mean(mask: torch.Tensor) -> torch.Tensor:
            weights = mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)

        features = torch.cat([mean(batch["attention_mask"].bool()), mean(in_head), mean(in_tail)], dim=-1)
        return self.head(features).squeeze(-1)

    @torch.inference_mode()
    def probabilities(self, instances: Sequence[RelationInstance], texts: Sequence[str],
                      batch_size: int = 64) -> torch.Tensor:
        self.eval()
        parts = [torch.sigmoid(self(instances[i:i + batch_size], texts[i:i + batch_size]))
                 for i in range(0, len(instances), batch_size)]
        return torch.cat(parts) if parts else torch.zeros(0)

    def save(self, folder: str | Path, notes: dict) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in self.state_dict().items()}, str(folder / WEIGHTS_FILE))
        config = {"encoder": self.encoder_name, "max_length": self.max_length, **notes}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> FactVerifier:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{folder} holds no fact verifier ({CONFIG_FILE})")
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        verifier = cls(None if config["encoder"] == PACKAGED else config["encoder"], config["max_length"])
        verifier.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        verifier.eval()
        return verifier


def pooling_weight(k: torch.Tensor, worth: float, side_weight: float) -> torch.Tensor:
    """The verifier's share in the pooled score of each relation: its `worth`, counted in examples, against
    the side information's and the K examples' (a relation with many examples needs it less)."""
    return worth / (worth + side_weight + k.to(torch.float32))


def pool(probabilities: torch.Tensor, verified: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Log-linear pooling p^(1-w) v^w of the prototypical and the verifier's probabilities."""
    p, v = probabilities.clamp(min=1e-6), verified.clamp(min=1e-6)
    return torch.exp((1 - weight) * p.log() + weight * v.log())


class VerifiedScores:
    """The verifier as a second opinion for `PrototypicalClassifier.oriented`: `for_pairs(instances, protos)`
    returns the `rescore` that pools each pair's prototypical probabilities (both readings) with the
    verifier's. Verdicts are cached by (pair, relation text), so a pair asked at several K is read once."""

    def __init__(self, verifier: FactVerifier, texts: Mapping[str, str], worth: float, side_weight: float):
        self.verifier, self.texts, self.worth, self.side_weight = verifier, texts, worth, side_weight
        self._cache: dict[tuple[RelationInstance, str], float] = {}

    def _verdicts(self, instances: Sequence[RelationInstance], texts: Sequence[str]) -> torch.Tensor:
        missing = list(dict.fromkeys((x, t) for x in instances for t in texts if (x, t) not in self._cache))
        if missing:
            found = self.verifier.probabilities([x for x, _ in missing], [t for _, t in missing])
            self._cache.update(zip(missing, found.tolist(), strict=True))
        return torch.tensor([[self._cache[(x, t)] for t in texts] for x in instances])

    def for_pairs(self, instances: Sequence[RelationInstance], protos):
        texts = [self.texts[iri] for iri in protos.iris]
        reversed_pairs = [reverse(x) for x in instances]
        self._verdicts(list(instances) + reversed_pairs, texts)  # one batched pass for both readings

        def rescore(idx: torch.Tensor, forward: torch.Tensor, backward: torch.Tensor):
            columns = [texts[j] for j in idx.tolist()]
            weight = pooling_weight(protos.k[idx], self.worth, self.side_weight)
            return (pool(forward, self._verdicts(instances, columns), weight),
                    pool(backward, self._verdicts(reversed_pairs, columns), weight))
        return rescore


def training_batch(data: Mapping[str, Sequence[RelationInstance]], texts: Mapping[str, str], rng: random.Random,
                   sentences: int, others: int) -> tuple[list[RelationInstance], list[str], torch.Tensor]:
    """For each drawn sentence of relation r: (sentence, r) is a fact; (sentence reversed, r) and (sentence,
    r') for `others` other relations r' are not (every training relation is taken as asymmetric)."""
    relations = sorted(data)
    instances, pair_texts, labels = [], [], []
    for _ in range(sentences):
        r = rng.choice(relations)
        sentence = rng.choice(data[r])
        instances += [sentence, reverse(sentence)]
        pair_texts += [texts[r], texts[r]]
        labels += [1.0, 0.0]
        for other in rng.sample([x for x in relations if x != r], min(others, len(relations) - 1)):
            instances.append(sentence)
            pair_texts.append(texts[other])
            labels.append(0.0)
    return instances, pair_texts, torch.tensor(labels)


def train_verifier(data: Mapping[str, Sequence[RelationInstance]], texts: Mapping[str, str], *, steps: int = 700,
                   sentences: int = 8, others: int = 2, lr: float = 3e-5, warmup: int = 50, seed: int = 0,
                   encoder_dir: str | Path | None = None, log=print) -> tuple[FactVerifier, list[dict]]:
    """Fine-tune a verifier on labelled sentences of `data`'s relations (binary cross-entropy)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    verifier = FactVerifier(encoder_dir)
    optimizer = torch.optim.AdamW([{"params": verifier.encoder.parameters(), "lr": lr},
                                   {"params": verifier.head.parameters(), "lr": 1e-3}], weight_decay=0.01)
    base = [group["lr"] for group in optimizer.param_groups]
    loss_fn = nn.BCEWithLogitsLoss()
    history, losses, start = [], [], time.time()
    verifier.train()
    for step in range(steps):
        # Linear warm-up, then linear decay to zero.
        scale = (step + 1) / warmup if step < warmup else max(0.0, 1 - step / steps)
        for group, lr0 in zip(optimizer.param_groups, base, strict=True):
            group["lr"] = lr0 * scale
        instances, pair_texts, labels = training_batch(data, texts, rng, sentences, others)
        loss = loss_fn(verifier(instances, pair_texts), labels)
        loss.backward()
        nn.utils.clip_grad_norm_(verifier.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if (step + 1) % 50 == 0 or step + 1 == steps:
            history.append({"step": step + 1, "loss": round(sum(losses) / len(losses), 4),
                            "seconds": round(time.time() - start, 1)})
            log(json.dumps(history[-1]))
            losses = []
    verifier.eval()
    return verifier, history
