"""A cross-encoder fact verifier: reads a sentence with its two mentions marked *together with* a relation's
text and says whether the sentence states that fact (BERT-PAIR's idea, FewRel 2.0, on the relation's
description instead of a support sentence).

The prototypical network compares one vector per sentence with one vector per relation, so a sentence
about a film's cinematographer lands near "production company" and nothing in the vectors says it is not.
The verifier attends across both texts. Its verdict is pooled with the prototypical score, p^(1-w) v^w,
with a weight that falls as a relation gains examples (`pooling_weight`), and only for the relations whose
K it was measured to help at (`Serving`, saved in its verifier.json: one example for the shipped one;
`bench/extraction_precision.py --verifier-examples 0-` measures every K). For relations with no examples
it is a veto: the pooled score counts only where it is lower (`Serving.veto`).

    python bench/train_verifier.py --data runs/eval/train.json --out data/models/kgrel-verifier --trained-layers 3

`--joined-from N` trains one whose layers below N read the sentence and the relation text apart
(`late_join.py`): faster, measured in the README ("Read apart below") and not shipped.
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from kgrel.models.lru import LruCache
from kgrel.models.relation.encoder import mark, masked_mean, mention_masks, packaged_encoder_path
from kgrel.models.relation.example_threshold import ExampleThreshold
from kgrel.models.relation.instances import RelationInstance, reverse
from kgrel.models.relation.late_join import LateJoin
from kgrel.models.relation.model import PACKAGED
from kgrel.models.relation.prototypes import Rescore

WEIGHTS_FILE = "verifier.safetensors"
CONFIG_FILE = "verifier.json"
MAX_CHARS = 500  # the sentence is cropped around its mentions; the relation text is never cut


class FactVerifier(nn.Module):
    """P(the sentence states (head, relation, tail)) from the marked sentence and the relation's text."""

    def __init__(self, encoder_dir: str | Path | None = None, max_length: int = 160, trained_layers: int | None = None,
                 joined_from: int | None = None):
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
        self.trained_layers = trained_layers
        if trained_layers is not None:
            self._freeze_below(trained_layers)
        self.joined_from = joined_from
        self.late = None
        if joined_from is not None:
            frozen = len(self.encoder.encoder.layer) - (trained_layers or 0)
            if trained_layers is None or joined_from > frozen:
                raise ValueError(f"joined_from {joined_from} needs the layers below it frozen: trained_layers "
                                 f"at most {len(self.encoder.encoder.layer) - joined_from}")
            self.late = LateJoin(self.encoder, self.tokenizer, joined_from, max_length)

    @property
    def batch_size(self) -> int:
        """Pairs per forward pass: on CPU 32 read 7-9% more of the service's pairs a second than 64 (AMD EPYC,
        2 cores, read together or apart; 16 about as many, 8 fewer: bench/verifier_speed.py); a GPU wants
        more."""
        return 32 if next(self.encoder.parameters()).device.type == "cpu" else 64

    def _freeze_below(self, trained_layers: int) -> None:
        """Only the top `trained_layers` transformer layers (and the read-out) learn: the rest stays the
        packaged encoder's, so a saved verifier holds only what changed (`save`)."""
        layers = self.encoder.encoder.layer
        frozen = [self.encoder.embeddings, *layers[:len(layers) - trained_layers]]
        for module in frozen:
            for parameter in module.parameters():
                parameter.requires_grad_(False)
        if getattr(self.encoder, "pooler", None) is not None:  # never read: the read-out pools tokens itself
            for parameter in self.encoder.pooler.parameters():
                parameter.requires_grad_(False)

    def learned_state(self) -> dict[str, torch.Tensor]:
        """The weights a saved verifier must hold: all of them, or only the trained layers' and the read-out's."""
        if self.trained_layers is None:
            return dict(self.state_dict())
        learned = {name for name, p in self.named_parameters() if p.requires_grad}
        return {k: v for k, v in self.state_dict().items() if k in learned}

    def forward(self, instances: Sequence[RelationInstance], texts: Sequence[str]) -> torch.Tensor:
        """Logits, one per (instance, relation text)."""
        marked = [mark(x, MAX_CHARS) for x in instances]
        if self.late is not None:
            return self.head(self.late.features(marked, texts, read_out, self.batch_size)).squeeze(-1)
        batch = self.tokenizer([m.text for m in marked], list(texts), padding=True, truncation="only_first",
                               max_length=self.max_length, return_offsets_mapping=True, return_tensors="pt")
        offsets = batch.pop("offset_mapping")
        # The relation text's offsets count from its own start: only the sentence's tokens can be mentions.
        in_sentence = torch.tensor([[s == 0 for s in batch.sequence_ids(i)] for i in range(len(marked))])
        in_head, in_tail = mention_masks(offsets, marked)
        in_head, in_tail = in_head & in_sentence, in_tail & in_sentence
        device = next(self.encoder.parameters()).device
        hidden = self.encoder(**batch.to(device)).last_hidden_state
        return self.head(read_out(hidden, batch["attention_mask"], in_head.to(device), in_tail.to(device))).squeeze(-1)

    @torch.inference_mode()
    def probabilities(self, instances: Sequence[RelationInstance], texts: Sequence[str]) -> torch.Tensor:
        self.eval()
        if not instances:
            return torch.zeros(0)
        if self.late is not None:  # batches by itself, once each sentence's lower layers are read
            return torch.sigmoid(self(instances, texts)).float().cpu()
        # Batched by length, so that a batch pads to its own longest pair, not the request's.
        order = sorted(range(len(instances)), key=lambda i: len(instances[i].text) + len(texts[i]))
        out = torch.zeros(len(instances))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            logits = self([instances[i] for i in rows], [texts[i] for i in rows])
            out[rows] = torch.sigmoid(logits).float().cpu()
        return out

    def save(self, folder: str | Path, notes: dict) -> None:
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        # Half precision on disk (the verdicts move by under 0.005), full precision in memory.
        dtype = torch.float16 if self.trained_layers is not None else torch.float32
        save_file({k: v.to(dtype).contiguous() for k, v in self.learned_state().items()}, str(folder / WEIGHTS_FILE))
        config = {"encoder": self.encoder_name, "max_length": self.max_length,
                  "trained_layers": self.trained_layers, "joined_from": self.joined_from, **notes}
        (folder / CONFIG_FILE).write_text(json.dumps(config, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: str | Path) -> FactVerifier:
        from safetensors.torch import load_file

        folder = Path(folder)
        if not (folder / CONFIG_FILE).exists():
            raise FileNotFoundError(f"{folder} holds no fact verifier ({CONFIG_FILE})")
        config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        verifier = cls(None if config["encoder"] == PACKAGED else config["encoder"], config["max_length"],
                       config.get("trained_layers"), config.get("joined_from"))
        saved = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_FILE)).items()}
        missing = set(verifier.learned_state()) - set(saved)
        unknown = set(saved) - set(verifier.state_dict())
        if missing or unknown:
            raise ValueError(f"{folder / WEIGHTS_FILE} does not fit this verifier: missing {sorted(missing)[:3]}, "
                             f"unknown {sorted(unknown)[:3]}")
        verifier.load_state_dict(saved, strict=False)  # the frozen layers are the encoder's own
        verifier.eval()
        return verifier


def read_out(hidden: torch.Tensor, mask: torch.Tensor, in_head: torch.Tensor, in_tail: torch.Tensor) -> torch.Tensor:
    """What the verifier's head reads: the mean of the pair's tokens, of the head's and of the tail's."""
    return torch.cat([masked_mean(hidden, which) for which in (mask.bool(), in_head, in_tail)], dim=-1)


def checked_by_examples(threshold: ExampleThreshold) -> bool:
    """Whether the verifier's verdicts are pooled: only where the user's examples set the none-of-the-above
    threshold on the pooled scores. On text unlike its training text the verifier trusts wrong relations,
    and that threshold is what holds it (biomedical fixture, relations at K=1: with it, precision 0.55 ->
    0.755; half the relations at K=1, too few examples for it, 0.36 -> 0.30)."""
    return threshold.from_examples is not None


@functools.lru_cache(maxsize=2)
def _loaded(folder: Path, device: str) -> FactVerifier:
    # Read-only once loaded (inference only), so every service of a process can share it.
    return FactVerifier.load(folder).to(device)


def pooling_weight(k: torch.Tensor, worth: float, side_weight: float,
                   examples: tuple[int, int | None] = (0, None)) -> torch.Tensor:
    """The verifier's share in the pooled score of each relation: its `worth`, counted in examples, against
    the side information's and the K examples' (a relation with many examples needs it less); none for a
    relation whose K lies outside `examples` (min, max; None: no upper bound)."""
    weight = worth / (worth + side_weight + k.to(torch.float32))
    low, high = examples
    inside = (k >= low) & (k <= high if high is not None else torch.ones_like(k, dtype=torch.bool))
    return torch.where(inside, weight, torch.zeros_like(weight))


def pool(probabilities: torch.Tensor, verified: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Log-linear pooling p^(1-w) v^w of the prototypical and the verifier's probabilities."""
    p, v = probabilities.clamp(min=1e-6), verified.clamp(min=1e-6)
    return torch.exp((1 - weight) * p.log() + weight * v.log())


@dataclass(frozen=True)
class Serving:
    """How a verifier is pooled, as measured for it (`bench/extraction_precision.py --verifier`) and saved
    beside its weights: its worth in examples, the K range of the relations whose scores it may lift and
    lower (`examples`, where the user's examples hold it: `checked_by_examples`), and the K range of those
    whose scores it may only lower (`veto`, always: a verdict that only lowers can turn a wrong fact into
    none of the above, never a wrong relation into a fact, so it needs no examples to hold it)."""

    worth: float = 1.5
    examples: tuple[int, int | None] = (0, None)
    veto: tuple[int, int | None] | None = None
    # A score is read only if a verdict could move it across `reach` (the model's none-of-the-above threshold,
    # the lowest the service serves): lifted, p^(1-w) >= reach; lowered, p >= reach.
    reach: float = 0.5
    # A veto reads the best few facts of a pair: it is what a pair is answered with, and a cross-encoder pass
    # per fact over hundreds of relations would cost more than the answer.
    veto_top: int = 3

    @classmethod
    def of(cls, config: Mapping) -> Serving:
        found = config.get("serving", {})
        veto = found.get("veto", cls.veto)
        return cls(found.get("worth", cls.worth), tuple(found.get("examples", cls.examples)),
                   None if veto is None else tuple(veto), found.get("reach", cls.reach),
                   found.get("veto_top", cls.veto_top))

    def weights(self, k: torch.Tensor, side_weight: float, pooled: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The verifier's weight for relations with `k` examples, as (may lift, may only lower); a relation
        gets one or neither. `pooled` False: the examples do not hold the verifier, so nothing is lifted."""
        lift = (pooling_weight(k, self.worth, side_weight, self.examples) if pooled
                else torch.zeros(k.shape, dtype=torch.float32, device=k.device))
        if self.veto is None:
            return lift, torch.zeros_like(lift)
        lower = pooling_weight(k, self.worth, side_weight, self.veto)
        return lift, torch.where(lift > 0, torch.zeros_like(lower), lower)

    def worth_reading(self, forward: torch.Tensor, backward: torch.Tensor, lift: torch.Tensor,
                      lower: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Which readings (as asked, reversed) a verdict could change the answer of. Lifted: those a verdict
        could lift to `reach`, p^(1-w) >= reach. Lowered (a veto): those at or over `reach`, of the `veto_top`
        relations each pair reads highest (the facts a pair is answered with)."""
        def liftable(p: torch.Tensor) -> torch.Tensor:
            return (lift > 0) & ((1 - lift) * p.clamp(min=1e-6).log() >= math.log(self.reach))

        best = torch.where(lower > 0, torch.maximum(forward, backward), torch.full_like(forward, -1.0))
        top = best.topk(min(self.veto_top, best.shape[1]), dim=1)
        chosen = torch.zeros_like(best, dtype=torch.bool).scatter_(1, top.indices, top.values >= self.reach)
        return tuple(liftable(p) | (chosen & (p >= self.reach)) for p in (forward, backward))


class VerifiedScores:
    """The verifier as a second opinion for `PrototypicalClassifier.oriented`: `for_pairs(instances, protos,
    side_weight)` returns the `rescore` that pools each pair's prototypical probabilities (both readings)
    with the verifier's, and marks the relations whose facts it may only lower.

    Only cells that can matter are read (`Serving.worth_reading`): a relation the pooling gives no weight
    (K outside the serving ranges) keeps its score, and so does a reading no verdict could lift to the
    serving threshold (`Serving.reach`; 0.355 at K=1) or, under a veto, one below it or beyond a pair's
    best few relations. A cross-encoder pass per cell is the cost of this reader, so reading every cell over
    0.05 instead made /predict ten times slower. Verdicts are kept by (pair, relation text), most recent
    `cache_size`, so a pair asked again, or at another K, is read once."""

    def __init__(self, verifier: FactVerifier, serving: Serving = Serving(), cache_size: int = 100_000):
        self.verifier, self.serving = verifier, serving
        self._cache = LruCache(cache_size)  # by (pair, relation text)

    @classmethod
    def load(cls, folder: str | Path, device: str | torch.device = "cpu") -> VerifiedScores:
        """The verifier in `folder` with its measured serving (weights read once per process and device)."""
        folder = Path(folder).resolve()
        verifier = _loaded(folder, str(device))  # first: it names a folder that holds no verifier
        return cls(verifier, Serving.of(json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))))

    def clear(self) -> None:
        """Forget every cached verdict (benchmarks that time reading them)."""
        self._cache.clear()

    def verdicts(self, cells: Sequence[tuple[RelationInstance, str]]) -> list[float]:
        """P(fact) for each (pair, relation text), read by the verifier unless cached."""
        known = self._cache.fetch(cells, lambda missing: self.verifier.probabilities(
            [x for x, _ in missing], [t for _, t in missing]).tolist())
        return [known[cell] for cell in cells]

    def for_pairs(self, instances: Sequence[RelationInstance], protos, side_weight: float,
                  pooled: bool = True) -> Rescore:
        """The rescore of `instances` against `protos` (built by `PrototypeCache`, which keeps each relation's
        text for the verifier to read); `pooled` False: verdicts only lower scores (`Serving.veto`)."""
        texts = protos.texts
        readings = (list(instances), [reverse(x) for x in instances])

        def rescore(idx: torch.Tensor, forward: torch.Tensor, backward: torch.Tensor):
            lift, lower = self.serving.weights(protos.k[idx], side_weight, pooled)
            columns = [texts[j] for j in idx.tolist()]
            lift, lower = lift.to(forward.device), lower.to(forward.device)
            weight = lift + lower
            asked = self.serving.worth_reading(forward, backward, lift, lower)
            cells = [(pairs[i], columns[j]) for pairs, need in zip(readings, asked, strict=True)
                     for i, j in need.nonzero().tolist()]
            # One batched pass for both readings, then split back: the cells are in `asked`'s row-major order.
            found = torch.tensor(self.verdicts(cells), dtype=forward.dtype, device=forward.device)
            out = []
            for p, need, part in zip((forward, backward), asked, found.split([int(a.sum()) for a in asked]),
                                     strict=True):
                verified = p.clone()
                verified[need] = part
                both_ways = pool(p, verified, weight.to(p.dtype))
                out.append(torch.where(need, both_ways, p))
            return out[0], out[1], lower > 0
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
                   encoder_dir: str | Path | None = None, trained_layers: int | None = None,
                   joined_from: int | None = None, log=print) -> tuple[FactVerifier, list[dict]]:
    """Fine-tune a verifier on labelled sentences of `data`'s relations (binary cross-entropy); with
    `trained_layers`, only the encoder's top layers learn; with `joined_from`, the layers below it read the
    sentence and the relation text apart (`LateJoin`)."""
    torch.manual_seed(seed)
    rng = random.Random(seed)
    verifier = FactVerifier(encoder_dir, trained_layers=trained_layers, joined_from=joined_from)
    encoder_params = [p for p in verifier.encoder.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": encoder_params, "lr": lr},
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
        nn.utils.clip_grad_norm_([p for p in verifier.parameters() if p.requires_grad], 1.0)
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
