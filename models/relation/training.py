"""Meta-training of the relation model: prototypical episodes plus side-information alignment.

One model serves zero-shot and few-shot: each episode draws K from `k_choices` (0 included), and
its loss is the cross-entropy of the very score used at inference (prototypes.fused_similarity),
computed from `RelationModel.forward`, the pass inference uses.

None of the above is a trained outcome (FewRel 2.0): an episode draws a none-of-the-above rate from
`nota_rates` and adds that share of queries from relations outside the episode, plus `reverse_share`
queries that are an episode relation's sentence with head and tail swapped. Their answer is the
extra class "none of the above", scored by a learned bias per K (the inverse relation when the side
information declares one in the episode; the relation itself when it is symmetric), so the model
learns which mention is which.
An alignment loss (in the spirit of ZS-BERT) pulls each sentence's side view towards the encoded
description of its relation and away from the other training relations' descriptions.

Only the top `train_layers` encoder layers and the heads learn. The frozen lower layers run once per
sentence and their output is cached, so a step costs roughly one forward pass on CPU.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kgrel.kg.ontology import RelationInfo
from kgrel.models.device import autocast_dtype
from kgrel.models.relation.encoder import MarkedText, TokenBatch, mark, plain_text
from kgrel.models.relation.episodes import EpisodeEncoder, sample_episodes
from kgrel.models.relation.heads import RelationHeads, RelationViews
from kgrel.models.relation.instances import RelationInstance, reverse, swap_mentions
from kgrel.models.relation.model import ENCODER_FILE, HEADS_FILE, RelationModel
from kgrel.models.relation.prototypes import PrototypicalClassifier, fused_similarity
from kgrel.models.relation.side_info import relation_text

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    train_layers: int = 2  # top encoder layers that learn; the others are frozen and cached
    steps: int = 3000
    n_way: int = 10
    k_choices: tuple[int, ...] = (0, 1, 2, 3, 5)
    queries: int = 2  # query sentences per relation per episode
    lr_encoder: float = 3e-5
    lr_heads: float = 1e-3
    warmup: int = 100
    align_weight: float = 1.0
    side_dropout: float = 0.2  # chance to train on the bare label instead of the full side information
    input_dropout: float = 0.0  # dropout on the cached frozen states fed to the trainable layers
    entity_swaps: int = 0  # augmented copies per sentence with both mentions taken from another sentence
    # whose: "same" relation (other names, same kind), or "other" relations, so that the names argue for
    # another relation than the words around them and only the context tells the label
    entity_swap_donors: str = "same"
    entity_swap_share: float | None = None  # chance a sentence is read as a swapped copy; None: as often as each copy
    hard_negatives: float | None = None  # temperature of similarity-weighted relation sampling; None: uniform
    nota_rates: tuple[float, ...] = (0.0,)  # per episode, the share of queries from relations outside it
    reverse_share: float = 0.0  # reversed-pair queries per episode, as a share of its regular queries
    eval_every: int = 250
    patience: int = 4  # evaluations without improvement before stopping
    dev_episodes: int = 300
    max_per_relation: int | None = None
    seed: int = 0
    precision: str = "auto"  # auto: bf16 autocast where the CPU/GPU has fast bf16, else fp32
    notes: str = ""
    extra: dict = field(default_factory=dict)


class PrefixCache:
    """Outputs of the frozen lower layers, computed once per text and kept in fp16."""

    def __init__(self, model: RelationModel, first_trainable: int, batch_size: int = 64):
        self.encoder = model.encoder
        self.first = first_trainable
        self.batch_size = batch_size
        self.hidden: list[torch.Tensor] = []
        self.head: list[torch.Tensor] = []
        self.tail: list[torch.Tensor] = []

    @torch.inference_mode()
    def add(self, marked: list[MarkedText], bar: tqdm | None = None) -> list[int]:
        """Cache marked sentences (or plain texts, as MarkedText with empty spans); returns their ids."""
        ids = []
        for start in range(0, len(marked), self.batch_size):
            if bar is not None:
                bar.update(min(self.batch_size, len(marked) - start))
            batch = marked[start:start + self.batch_size]
            tokens = self.encoder.tokenize(batch)
            states = self.encoder.states_at(tokens, self.first)
            for i in range(len(batch)):
                n = int(tokens.attention_mask[i].sum())
                self.hidden.append(states[i, :n].to(torch.float16).cpu())
                self.head.append(tokens.head_mask[i, :n].cpu())
                self.tail.append(tokens.tail_mask[i, :n].cpu())
                ids.append(len(self.hidden) - 1)
        return ids

    def batch(self, ids: list[int], dropout: float = 0.0) -> TokenBatch:
        """The cached states of `ids`, padded, as the input of the trainable top layers."""
        longest = max(self.hidden[i].shape[0] for i in ids)
        size = self.hidden[ids[0]].shape[1]
        hidden = torch.zeros(len(ids), longest, size)
        mask = torch.zeros(len(ids), longest, dtype=torch.long)
        head = torch.zeros(len(ids), longest, dtype=torch.bool)
        tail = torch.zeros(len(ids), longest, dtype=torch.bool)
        for row, i in enumerate(ids):
            n = self.hidden[i].shape[0]
            hidden[row, :n] = self.hidden[i].float()
            mask[row, :n] = 1
            head[row, :n] = self.head[i]
            tail[row, :n] = self.tail[i]
        if dropout:
            hidden = F.dropout(hidden, dropout, training=True)
        return TokenBatch(mask, head, tail, hidden=hidden, start_layer=self.first).to(self.encoder.device)


class RelationTrainer:
    def __init__(self, model: RelationModel, train: dict[str, list[RelationInstance]],
                 side_info: dict[str, RelationInfo], dev: dict[str, list[RelationInstance]] | None,
                 config: TrainConfig):
        missing = [r for r in train if r not in side_info]
        if missing:
            raise ValueError(f"no side information for training relations {missing[:10]}")
        self.model = model
        self.config = config
        self.train_data = {r: items[:config.max_per_relation] if config.max_per_relation else items
                           for r, items in train.items()}
        self.side_info = side_info
        self.dev = dev
        self.relations = sorted(self.train_data)
        if len(self.relations) < 2:
            raise ValueError("training needs at least two relations")
        if config.entity_swap_donors not in ("same", "other"):
            raise ValueError(f"entity_swap_donors must be 'same' or 'other', not {config.entity_swap_donors!r}")
        self.n_way = min(config.n_way, len(self.relations))
        layers = model.encoder.layers
        self.first = len(layers) - config.train_layers
        if not 0 <= self.first <= len(layers):
            raise ValueError(f"train_layers must be between 0 (heads only) and {len(layers)}")
        self.layers = layers[self.first:]
        if not model.heads.trained:
            model.heads = RelationHeads(model.encoder.hidden_size, 3 * model.encoder.hidden_size)
            model.heads.to(model.encoder.device)
        # Side-information weight beta = softplus(rho) and the loss temperatures learn with the model.
        self.rho = nn.Parameter(torch.tensor(math.log(math.expm1(model.config.side_weight))))
        self.log_tau = nn.Parameter(torch.tensor(math.log(10.0)))
        self.log_tau_align = nn.Parameter(torch.tensor(math.log(10.0)))
        # The none-of-the-above class scores a learned constant per K (scores differ in scale with K).
        self.nota_bias = nn.Parameter(torch.full((max(config.k_choices) + 1,), 0.5))
        self.rng = random.Random(config.seed)
        torch.manual_seed(config.seed)
        self.history: list[dict] = []

    # Data -----------------------------------------------------------------------------------

    def _prepare(self) -> None:
        cache = PrefixCache(self.model, self.first)
        self.cache = cache
        self.sentence_ids: dict[str, list[int]] = {}
        total = sum(len(items) for items in self.train_data.values()) * (1 + self.config.entity_swaps)
        # variants[id] lists the cache ids of a sentence and of its augmented copies.
        self.variants: dict[int, list[int]] = {}
        self.reversed_of: dict[int, int] = {}  # cache id of a sentence -> of the same with head and tail swapped
        if self.config.reverse_share:
            total += sum(len(items) for items in self.train_data.values())
        with tqdm(total=total, desc="caching frozen layers", unit="sent", leave=False) as bar:
            for r in self.relations:
                items = self.train_data[r]
                marked = [mark(x, self.model.encoder.max_chars) for x in items]
                self.sentence_ids[r] = cache.add(marked, bar)
                for ids in self.sentence_ids[r]:
                    self.variants[ids] = [ids]
                if self.config.reverse_share:
                    reversed_ids = cache.add([mark(reverse(x), self.model.encoder.max_chars) for x in items], bar)
                    self.reversed_of.update(zip(self.sentence_ids[r], reversed_ids, strict=True))
                donors = self._swap_donors(r)
                for _ in range(self.config.entity_swaps):
                    swapped = [swap_mentions(x, self.rng.choice(donors)) for x in items]
                    new_ids = cache.add([mark(x, self.model.encoder.max_chars) for x in swapped], bar)
                    for original, new in zip(self.sentence_ids[r], new_ids, strict=True):
                        self.variants[original].append(new)
        # Two side-information variants per relation: everything the graph knows, and the bare label.
        full = [relation_text(self.side_info[r]) for r in self.relations]
        bare = [self.side_info[r].label for r in self.relations]
        ids = cache.add([plain_text(t) for t in full + bare])
        self.full_ids, self.bare_ids = ids[:len(full)], ids[len(full):]
        self.similarity = None
        if self.config.hard_negatives is not None:
            with torch.inference_mode():
                d = self.model.embed_descriptions(full)
            self.similarity = d @ d.T

    def _variant(self, sentence: int) -> int:
        """The cache id to read `sentence` as this time: itself, or one of its swapped copies."""
        copies = self.variants[sentence][1:]
        share = self.config.entity_swap_share
        if not copies or share is None:
            return self.rng.choice(self.variants[sentence])
        return self.rng.choice(copies) if self.rng.random() < share else sentence

    def _swap_donors(self, relation: str) -> list[RelationInstance]:
        """The sentences whose mentions replace those of `relation`'s sentences (`entity_swap_donors`)."""
        if self.config.entity_swap_donors == "same":
            return self.train_data[relation]
        return [x for r in self.relations if r != relation for x in self.train_data[r]]

    def _relations_for_episode(self) -> list[int]:
        n = len(self.relations)
        if self.similarity is None:
            return self.rng.sample(range(n), self.n_way)
        anchor = self.rng.randrange(n)
        weights = torch.exp(self.similarity[anchor] / self.config.hard_negatives)
        weights[anchor] = 0
        others = torch.multinomial(weights, self.n_way - 1, replacement=False).tolist()
        return [anchor, *others]

    # Model pieces ---------------------------------------------------------------------------

    def _forward(self, ids: list[int], dropout: float = 0.0) -> RelationViews:
        return self.model(self.cache.batch(ids, dropout))

    def _step_loss(self) -> tuple[torch.Tensor, dict]:
        cfg = self.config
        chosen = self._relations_for_episode()
        smallest = min(len(self.sentence_ids[self.relations[i]]) for i in chosen)
        k = min(self.rng.choice(cfg.k_choices), smallest - 1)  # keep at least one query per relation
        support, queries, gold = [], [], []
        for c, r_index in enumerate(chosen):
            pool_ids = self.sentence_ids[self.relations[r_index]]
            need = min(len(pool_ids), k + cfg.queries)
            picked = self.rng.sample(pool_ids, need)
            support.append(picked[:k])
            queries += picked[k:]
            gold += [c] * (need - k)
        flat_support = [i for s in support for i in s]
        chosen_ids = [self._variant(i) for i in flat_support + queries]
        align_gold = [chosen[c] for c in range(self.n_way) for _ in range(k)] + [chosen[g] for g in gold]
        extra_ids, extra_gold, extra_align = self._nota_queries(chosen, len(queries))
        chosen_ids += extra_ids
        gold += extra_gold
        align_gold += extra_align
        views = self._forward(chosen_ids, dropout=cfg.input_dropout)
        example_v, side_v = views.example, views.side
        side_ids = [self.bare_ids[i] if self.rng.random() < cfg.side_dropout else self.full_ids[i]
                    for i in range(len(self.relations))]
        descriptions = self._forward(side_ids).description
        n_support = len(flat_support)
        if k:
            example_sum = example_v[:n_support].reshape(self.n_way, k, -1).sum(1)
        else:
            example_sum = torch.zeros(self.n_way, example_v.shape[1], device=example_v.device)
        beta = F.softplus(self.rho)
        scores = fused_similarity(example_v[n_support:], side_v[n_support:], example_sum,
                                  descriptions[chosen], torch.full((self.n_way,), k, device=example_v.device), beta)
        gold_t = torch.tensor(gold, device=scores.device)
        logits = scores
        if extra_ids:  # the none-of-the-above class joins the episode only when it has queries
            logits = torch.cat([scores, self.nota_bias[k].expand(len(scores), 1).to(scores.dtype)], dim=1)
        proto_loss = F.cross_entropy(self.log_tau.exp() * logits, gold_t)
        # Alignment: every sentence of the episode against all training relations' descriptions
        # (reversed pairs excepted: their text does not state their relation in that direction).
        align_logits = self.log_tau_align.exp() * side_v[:len(align_gold)] @ descriptions.T
        align_loss = F.cross_entropy(align_logits, torch.tensor(align_gold, device=scores.device))
        loss = proto_loss + cfg.align_weight * align_loss
        accuracy = (logits.argmax(1) == gold_t).float().mean().item()
        return loss, {"loss": loss.item(), "proto": proto_loss.item(), "align": align_loss.item(),
                      "k": k, "acc": accuracy}

    def _nota_queries(self, chosen: list[int], regular: int) -> tuple[list[int], list[int], list[int]]:
        """Extra queries whose answer is not a plain episode relation: sentences of relations outside
        the episode, then reversed pairs of episode relations. Returns (cache ids, gold class, alignment
        gold); gold class n_way is none of the above, and the alignment gold covers only the first ones."""
        cfg, n = self.config, self.n_way
        # One rate draws nothing, so a recipe without none-of-the-above queries samples as it always did.
        rate = self.rng.choice(cfg.nota_rates) if len(cfg.nota_rates) > 1 else cfg.nota_rates[0]
        outside = [i for i in range(len(self.relations)) if i not in set(chosen)]
        ids, gold, align = [], [], []
        if rate and outside:
            for _ in range(round(regular * rate / (1 - rate))):
                r_index = self.rng.choice(outside)
                ids.append(self._variant(self.rng.choice(self.sentence_ids[self.relations[r_index]])))
                gold.append(n)
                align.append(r_index)
        position = {self.relations[r]: c for c, r in enumerate(chosen)}
        for _ in range(round(regular * cfg.reverse_share)):
            c = self.rng.randrange(n)
            info = self.side_info[self.relations[chosen[c]]]
            ids.append(self.reversed_of[self.rng.choice(self.sentence_ids[self.relations[chosen[c]]])])
            if info.symmetric:
                gold.append(c)
            else:
                gold.append(position.get(info.inverse or "", n))
        return ids, gold, align

    # Evaluation -----------------------------------------------------------------------------

    def evaluate(self, data: dict[str, list[RelationInstance]], settings=((5, 1), (5, 0)),
                 episodes: int | None = None, seed: int = 12345) -> dict[str, float]:
        """Accuracy of N-way K-shot episodes on `data` with the model as it is now."""
        episodes = episodes or self.config.dev_episodes
        self.model.eval()
        self.model.config.side_weight = float(F.softplus(self.rho.detach()))
        # Settings too big for the data shrink to what it allows (fewer ways) or are skipped (too few shots).
        feasible = []
        for n, k in settings:
            n = min(n, sum(len(items) >= k + 1 for items in data.values()))
            if n >= 2 and (n, k) not in feasible:
                feasible.append((n, k))
        all_eps = {s: sample_episodes(data, s[0], s[1], episodes, seed + s[1]) for s in feasible}
        with torch.inference_mode():
            encoded = EpisodeEncoder(self.model, data, [e for eps in all_eps.values() for e in eps], self.side_info,
                                     desc="dev")
            classifier = PrototypicalClassifier(self.model)
            out = {}
            for (n, k), eps in all_eps.items():
                right = 0.0
                for ep in eps:
                    scores = classifier.similarity(*encoded.queries(ep.relations, ep.query),
                                                   encoded.prototypes(ep.relations, ep.support))
                    right += (scores.argmax(1) == torch.arange(n)).float().mean().item()
                out[f"{n}w{k}s"] = right / len(eps)
        self.model.train()
        return out

    # Loop -----------------------------------------------------------------------------------

    def train(self, progress: bool = True) -> dict:
        with torch.enable_grad():  # callers may have turned autograd off for inference
            return self._train(progress)

    def _train(self, progress: bool) -> dict:
        cfg = self.config
        started = time.perf_counter()
        self._prepare()
        params_enc = [p for layer in self.layers for p in layer.parameters()]
        for p in self.model.encoder.model.parameters():
            p.requires_grad_(False)
        for p in params_enc:
            p.requires_grad_(True)
        optimizer = torch.optim.AdamW([
            {"params": params_enc, "lr": cfg.lr_encoder, "weight_decay": 0.01},
            {"params": list(self.model.heads.parameters()), "lr": cfg.lr_heads, "weight_decay": 0.0},
            {"params": [self.rho, self.log_tau, self.log_tau_align, self.nota_bias], "lr": cfg.lr_heads,
             "weight_decay": 0.0},
        ])
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        device = self.model.encoder.device
        amp = autocast_dtype(device, cfg.precision)
        log.info("training %d layers on %s, %s", len(self.layers), device, amp or "fp32")
        self.model.train()
        best, best_state, since_best = -1.0, None, 0
        running: list[dict] = []
        bar = tqdm(range(1, cfg.steps + 1), desc="training", unit="step", disable=not progress)
        dev_metrics: dict = {}
        for step in bar:
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr * lr_factor(step, cfg.warmup, cfg.steps)
            with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
                loss, stats = self._step_loss()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params_enc + list(self.model.heads.parameters()), 1.0)
            optimizer.step()
            running.append(stats)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                window = running[-cfg.eval_every:]
                record = {"step": step, "loss": sum(s["loss"] for s in window) / len(window),
                          "train_acc": sum(s["acc"] for s in window) / len(window),
                          "beta": float(F.softplus(self.rho.detach())),
                          "seconds": round(time.perf_counter() - started, 1)}
                if self.dev:
                    dev_metrics = self.evaluate(self.dev)
                    record.update({f"dev_{k}": v for k, v in dev_metrics.items()})
                    score = sum(dev_metrics.values()) / len(dev_metrics)
                    if score > best:
                        best, since_best = score, 0
                        best_state = self._state()
                    else:
                        since_best += 1
                self.history.append(record)
                log.info("eval %s", json.dumps({k: round(v, 4) if isinstance(v, float) else v
                                                for k, v in record.items()}))
                bar.set_postfix({k: round(v, 3) for k, v in record.items() if k not in ("step", "seconds")})
                if self.dev and since_best >= cfg.patience:
                    log.info("early stop at step %d: no dev improvement in %d evaluations", step, cfg.patience)
                    break
        if best_state is not None:
            self._load_state(best_state)
        self.model.config.side_weight = float(F.softplus(self.rho.detach()))
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return {"seconds": round(time.perf_counter() - started, 1), "steps": self.history[-1]["step"],
                "best_dev": best if self.dev else None, "history": self.history}

    def _state(self) -> dict:
        return {"layers": copy.deepcopy(self.layers.state_dict()),
                "heads": copy.deepcopy(self.model.heads.state_dict()), "rho": self.rho.detach().clone()}

    def _load_state(self, state: dict) -> None:
        self.layers.load_state_dict(state["layers"])
        self.model.heads.load_state_dict(state["heads"])
        with torch.no_grad():
            self.rho.copy_(state["rho"])

    # Saving ---------------------------------------------------------------------------------

    def save(self, folder: Path, result: dict) -> None:
        """Write the model folder: config, heads, the trained encoder layers (fp16), curves and history."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        config = self.model.config
        config.head_dim = self.model.heads.dim
        config.notes = self.config.notes or config.notes
        heads = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in self.model.heads.state_dict().items()}
        save_file(heads, str(folder / HEADS_FILE))
        prefix_names = {f"encoder.layer.{self.first + i}.": i for i in range(len(self.layers))}
        layers = {}
        for name, tensor in self.model.encoder.model.state_dict().items():
            if any(name.startswith(p) for p in prefix_names):
                layers[name] = tensor.detach().to(torch.float16).contiguous().cpu()
        if layers:
            save_file(layers, str(folder / ENCODER_FILE))
        config.save(folder)
        (folder / "training.json").write_text(json.dumps(
            {"config": asdict(self.config), "relations": self.relations, "result": result}, indent=1) + "\n")
        plot_history(self.history, folder / "training.png")


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up to 1, then linear decay to 0 at the last step."""
    if step < warmup:
        return step / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))


def plot_history(history: list[dict], path: Path) -> None:
    """Loss and dev-accuracy curves as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(steps, [h["loss"] for h in history], marker="o")
    ax1.set_xlabel("step")
    ax1.set_ylabel("training loss")
    ax1.grid(alpha=0.3)
    for key in sorted({k for h in history for k in h if k.startswith("dev_") or k == "train_acc"}):
        ax2.plot(steps, [h.get(key) for h in history], marker="o", label=key)
    ax2.set_xlabel("step")
    ax2.set_ylabel("accuracy")
    ax2.grid(alpha=0.3)
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
