"""Training the relation model on real documents, where most entity pairs hold no relation.

Every pair of entities of a training document is an instance, read both ways, with all the relations it
holds or none (`withheld` pairs and the pairs of held-out relations are left out: neither positive nor
negative). Each step reads `docs_per_step` documents through the trainable top layers (the frozen lower
layers run once per document and are cached), scores every pair against every training relation with the
score the service uses (`prototypes.fused_similarity`, K examples drawn per step from `k_choices`) and takes
the binary cross-entropy of p = sigmoid(a_K s + b_K): the calibration the model is saved with.

Examples are single sentences from other training documents, as a curator's are; their encodings are
refreshed every `refresh_every` steps (the heads on top of them learn every step). Relation descriptions
are encoded the same way, full side information or the bare label (`side_dropout`). Types reach the model
as the encoded class label of each entity, dropped from whole documents at `type_dropout` so that a graph
without types is read well too. FewRel sentences (optional) add single-sentence episodes of other relations.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import math
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from kgrel.kg.ontology import RelationInfo
from kgrel.models.relation.calibration import MAX_K, Calibration
from kgrel.models.relation.docred import LabelledDocument
from kgrel.models.relation.documents import Document, instance_document, mark_document
from kgrel.models.relation.encoder import DocumentWindows, InstanceEncoding
from kgrel.models.relation.extraction_evaluation import DocumentEvaluator
from kgrel.models.relation.heads import RelationHeads
from kgrel.models.relation.instances import Mention, RelationInstance, make_instance
from kgrel.models.relation.model import RelationModel
from kgrel.models.relation.prototypes import PrototypeCache, PrototypicalClassifier, fused_similarity
from kgrel.models.relation.reader import pair_encodings, read_document
from kgrel.models.relation.side_info import relation_text

log = logging.getLogger(__name__)


@dataclass
class DocumentTrainConfig:
    epochs: int = 6
    train_layers: int = 5  # top encoder layers that learn; the others are frozen and cached
    docs_per_step: int = 2
    k_choices: tuple[int, ...] = (0, 0, 1, 5)
    lr_encoder: float = 5e-5
    lr_heads: float = 1e-3
    warmup: int = 100
    side_dropout: float = 0.2
    type_dropout: float = 0.3
    examples_per_relation: int = 16  # single-sentence examples kept per relation for prototypes
    refresh_every: int = 100
    fewrel_way: int = 8  # relations of the single-sentence episode of each step (0: none)
    fewrel_weight: float = 1.0
    # The description view stays the encoder's own sentence space (identity): a relation never trained on is
    # described where the encoder puts its text, not where training moved the trained relations' descriptions.
    train_description: bool = False
    sentence_steps: int = 100  # steps of an epoch without documents (single sentences only)
    # Weight of the type evidence (hypernyms against domain/range) saved with the model. Training learns its
    # calibration without graph evidence, and at 1.0 the evidence of a graph holding facts moved the operating
    # point to precision 0.44 / recall 0.58 (K = 0, Re-DocRED dev); 0.3 gives 0.57 / 0.47 at the same best F1.
    hypernym_weight: float = 0.3
    seed: int = 0
    notes: str = ""
    extra: dict = field(default_factory=dict)


@dataclass
class _Doc:
    """A training document, prepared once: marked text, cached lower-layer states, pairs and their labels."""

    document: Document
    marked: object
    hidden: list[torch.Tensor]  # per window, (tokens, hidden) states entering the first trainable layer, fp16
    placement: list[tuple[int, int]]  # per window, (first token, tokens)
    offsets: torch.Tensor
    pairs: list[tuple[int, int]]  # unordered (a < b) pairs that count
    labels: torch.Tensor  # (pairs, 2, relations) bool: relations of (a, b) and of (b, a)
    source: int  # index in the training documents


def example_instances(doc: LabelledDocument, relations: set[str],
                      entity_iri=None) -> list[tuple[str, RelationInstance]]:
    """Single-sentence examples of `relations` in a document: a sentence mentioning both entities of a fact,
    cut out with the first such mentions; `entity_iri(e)`, when given, names the graph entity of entity e."""
    iri = entity_iri or (lambda e: None)
    out = []
    d = doc.document
    for h, r, t in sorted(doc.facts):
        if r not in relations:
            continue
        for s, span in enumerate(d.sentences):
            hm = [m for m in d.entities[h].mentions if d.sentence_of(m[0]) == s]
            tm = [m for m in d.entities[t].mentions if d.sentence_of(m[0]) == s]
            hm = [m for m in hm if not any(m[0] < b and a < m[1] for a, b in tm)]
            if hm and tm:
                (hs, he), (ts, te) = hm[0], tm[0]
                with contextlib.suppress(ValueError):  # a mention of only spaces: no example
                    out.append((r, make_instance(span.text, Mention(hs - span.start, he - span.start, iri(h)),
                                                 Mention(ts - span.start, te - span.start, iri(t)))))
                break
    return out


class DocumentTrainer:
    def __init__(self, model: RelationModel, train: Sequence[LabelledDocument], side_info: dict[str, RelationInfo],
                 relations: Sequence[str], config: DocumentTrainConfig, dev: Sequence[LabelledDocument] = (),
                 dev_relations: Sequence[str] = (), fewrel: dict[str, list[RelationInstance]] | None = None,
                 dev_sentences: dict[str, list[RelationInstance]] | None = None):
        """`relations` are trained on; the facts of any other relation in `train` are held out (their pairs
        are left out, as withheld pairs are); `dev_relations` are scored on `dev` beside them, untrained.
        `fewrel` adds single-sentence episodes (alone, with no documents: adapting to a user's examples);
        `dev_sentences` is scored by N-way K-shot episodes when there are no dev documents."""
        self.model = model
        self.config = config
        self.train_docs = list(train)
        self.dev_docs = list(dev)
        self.relations = sorted(relations)
        self.dev_relations = sorted(r for r in dev_relations if r not in set(self.relations))
        self.side_info = side_info
        missing = [r for r in self.relations + self.dev_relations if r not in side_info]
        if missing:
            raise ValueError(f"no side information for relations {missing[:10]}")
        self.dev_sentences = dev_sentences or {}
        self.fewrel = {r: xs for r, xs in (fewrel or {}).items() if len(xs) >= 2}
        self.fewrel_relations = sorted(self.fewrel)
        layers = model.encoder.layers
        self.first = len(layers) - config.train_layers
        if not 0 <= self.first <= len(layers):
            raise ValueError(f"train_layers must be between 0 (heads only) and {len(layers)}")
        self.layers = layers[self.first:]
        if not model.heads.trained:
            model.heads = RelationHeads(model.encoder.hidden_size, 3 * model.encoder.hidden_size)
            model.heads.to(model.encoder.device)
        self.rho = nn.Parameter(torch.tensor(math.log(math.expm1(model.config.side_weight))))
        # p = sigmoid(a_K s + b_K): learned per K (a_K = exp of a parameter), saved as the model's calibration;
        # a trained model goes on from its own.
        start = [model.calibration.parameters(k) if model.config.calibration else (30.0, -6.0)
                 for k in range(MAX_K + 1)]
        self.log_scale = nn.Parameter(torch.tensor([math.log(max(a, 1e-3)) for a, _ in start]))
        self.bias = nn.Parameter(torch.tensor([b for _, b in start]))
        self.rng = random.Random(config.seed)
        torch.manual_seed(config.seed)
        self.history: list[dict] = []

    # Data -------------------------------------------------------------------------------------

    def _prepare_doc(self, doc: LabelledDocument, source: int) -> _Doc:
        encoder = self.model.encoder
        marked = mark_document(doc.document)
        windows = encoder.tokenize_documents([marked.text])
        with torch.inference_mode():
            states = encoder.window_states_at(windows, self.first)
        hidden = [states[w, :n + 2].to(torch.float16).cpu() for w, (_, _, n) in enumerate(windows.placement)]
        trained = set(self.relations)
        excluded = set(doc.withheld) | {(h, t) for h, r, t in doc.facts if r not in trained}
        index = {r: i for i, r in enumerate(self.relations)}
        n = len(doc.document.entities)
        pairs, rows = [], []
        for a in range(n):
            for b in range(a + 1, n):
                if (a, b) in excluded or (b, a) in excluded:
                    continue
                row = torch.zeros(2, len(self.relations), dtype=torch.bool)
                for h, r, t in doc.facts:
                    if r in index and {h, t} == {a, b}:
                        row[0 if h == a else 1, index[r]] = True
                pairs.append((a, b))
                rows.append(row)
        labels = torch.stack(rows) if rows else torch.zeros(0, 2, len(self.relations), dtype=torch.bool)
        return _Doc(doc.document, marked, hidden, [(s, k) for _, s, k in windows.placement],
                    windows.offsets[0], pairs, labels, source)

    def _prepare(self, progress: bool) -> None:
        self.docs = [self._prepare_doc(d, i) for i, d in enumerate(tqdm(self.train_docs, desc="caching documents",
                                                                         disable=not progress, leave=False))]
        trained = set(self.relations)
        self.examples: dict[str, list[tuple[int, RelationInstance]]] = {r: [] for r in self.relations}
        for i, doc in enumerate(self.train_docs):
            for r, x in example_instances(doc, trained):
                self.examples[r].append((i, x))
        for r in self.relations:
            self.rng.shuffle(self.examples[r])
            self.examples[r] = self.examples[r][:self.config.examples_per_relation]
        self.type_labels = sorted({c for d in self.train_docs for e in d.document.entities for c in e.classes})

    # Cached encodings (refreshed every `refresh_every` steps) --------------------------------

    @torch.no_grad()
    def _refresh(self) -> None:
        model = self.model
        model.eval()
        texts = [relation_text(self.side_info[r]) for r in self.relations]
        bare = [self.side_info[r].label for r in self.relations]
        sentences = model.embed_sentences(texts + bare).clone()  # out of inference mode: the heads learn on it
        self.full_text, self.bare_text = sentences[:len(texts)], sentences[len(texts):]
        self.type_vectors = dict(zip(self.type_labels, model.embed_descriptions(self.type_labels).clone(),
                                     strict=True)) if self.type_labels else {}
        model._label_cache.clear()  # the heads moved: labels encoded before no longer hold
        fewrel_texts = [relation_text(self.side_info[r]) if r in self.side_info else r for r in self.fewrel_relations]
        self.fewrel_text = dict(zip(self.fewrel_relations, model.embed_sentences(fewrel_texts).clone(), strict=True)) \
            if fewrel_texts else {}
        # Examples as encoder read-outs (context, head, tail): the heads on top of them learn every step.
        self.example_encodings: dict[str, tuple[list[int], InstanceEncoding]] = {}
        flat = [(r, src, x) for r in self.relations for src, x in self.examples[r]]
        if flat:
            encoded = self._encode_instances([x for _, _, x in flat])
            start = 0
            for r in self.relations:
                n = len(self.examples[r])
                sources = [src for _, src, _ in flat[start:start + n]]
                self.example_encodings[r] = (sources, _rows(encoded, slice(start, start + n)))
                start += n
        model.train()

    def _encode_instances(self, instances: Sequence[RelationInstance], grad: bool = False) -> InstanceEncoding:
        """Encoder read-outs of single-sentence instances (as two-entity documents)."""
        docs = [instance_document(x) for x in instances]
        marked = [mark_document(d) for d in docs]
        parts = []
        order = []
        for idx in self.model.encoder.batches([len(m.text) for m in marked]):
            windows = self.model.encoder.tokenize_documents([marked[i].text for i in idx])
            states = self.model.encoder.document_states(windows)
            for j, i in enumerate(idx):
                reading = read_document(states[j].float(), windows.offsets[j], marked[i], docs[i])
                parts.append(pair_encodings(reading, [(0, 1)], self.model.heads.context_query))
                order.append(i)
        enc = _cat(parts)
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        enc = _rows(enc, inverse)
        return enc if grad else InstanceEncoding(*(x.detach() for x in (enc.sentence, enc.head, enc.tail)))

    # Steps -------------------------------------------------------------------------------------

    def _states(self, doc: _Doc) -> torch.Tensor:
        """The document's token states through the trainable layers, from its cached lower-layer states."""
        device = self.model.encoder.device
        longest = max(h.shape[0] for h in doc.hidden)
        hidden = torch.zeros(len(doc.hidden), longest, doc.hidden[0].shape[1], device=device)
        mask = torch.zeros(len(doc.hidden), longest, dtype=torch.long, device=device)
        for w, h in enumerate(doc.hidden):
            hidden[w, :h.shape[0]] = h.float().to(device)
            mask[w, :h.shape[0]] = 1
        windows = DocumentWindows(torch.zeros_like(mask), mask, [(0, s, n) for s, n in doc.placement], [doc.offsets],
                                  hidden=hidden, start_layer=self.first)
        return self.model.encoder.document_states(windows)[0].float()

    def _types(self, document: Document) -> torch.Tensor | None:
        if not self.type_vectors or self.rng.random() < self.config.type_dropout:
            return None
        zero = torch.zeros(self.model.encoder.hidden_size)
        rows = [torch.stack([self.type_vectors[c] for c in e.classes]).mean(0) if e.classes else zero
                for e in document.entities]
        return torch.stack(rows).to(self.model.encoder.device)

    def _prototypes(self, k: int, avoid: set[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(example sums, K per relation, descriptions) of the training relations for this step."""
        device = self.model.encoder.device
        heads = self.model.heads
        use_bare = torch.tensor([self.rng.random() < self.config.side_dropout for _ in self.relations])
        text = torch.where(use_bare[:, None], self.bare_text, self.full_text).to(device)
        descriptions = heads.description_view(text)
        sums = torch.zeros(len(self.relations), heads.dim, device=device)
        ks = torch.zeros(len(self.relations), device=device)
        if k:
            for i, r in enumerate(self.relations):
                sources, enc = self.example_encodings.get(r, ([], None))
                usable = [j for j, src in enumerate(sources) if src not in avoid]
                chosen = self.rng.sample(usable, min(k, len(usable)))
                if chosen:
                    views = heads.pair_views(_rows(enc, torch.tensor(chosen)))[0]
                    sums[i] = views.sum(0)
                    ks[i] = len(chosen)
        return sums, ks, descriptions

    def _logits(self, example_q, side_q, sums, ks, descriptions) -> torch.Tensor:
        beta = F.softplus(self.rho)
        scores = fused_similarity(example_q, side_q, sums, descriptions, ks, beta) \
            - self.model.heads.nota_similarity(side_q)
        k_index = ks.long().clamp(max=MAX_K)
        return self.log_scale.exp()[k_index] * scores + self.bias[k_index]

    def _step_loss(self) -> tuple[torch.Tensor, dict]:
        cfg = self.config
        batch = self.rng.sample(self.docs, min(cfg.docs_per_step, len(self.docs))) if self.docs else []
        k = self.rng.choice(cfg.k_choices)
        sums, ks, descriptions = self._prototypes(k, {d.source for d in batch})
        losses, positives, right = [], 0, 0
        for doc in batch:
            if not doc.pairs:
                continue
            views = self.model(self._states(doc), doc.offsets, doc.marked, doc.document, doc.pairs,
                               self._types(doc.document))
            logits = torch.stack([self._logits(views.example, views.side, sums, ks, descriptions),
                                  self._logits(views.reversed_example, views.reversed_side, sums, ks, descriptions)],
                                 dim=1)  # (pairs, 2, R)
            labels = doc.labels.to(logits.device).float()
            losses.append(fact_loss(logits, labels))
            positives += int(labels.sum())
            right += int(((logits > 0) & (labels > 0)).sum())
        loss = torch.stack(losses).mean() if losses else torch.zeros((), device=self.model.encoder.device)
        stats = {"k": k, "doc_loss": float(loss.detach()), "recall": right / max(1, positives)}
        if self.fewrel and cfg.fewrel_way:
            sentence_loss = self._fewrel_loss(k)
            loss = loss + cfg.fewrel_weight * sentence_loss
            stats["sentence_loss"] = float(sentence_loss.detach())
        stats["loss"] = float(loss.detach())
        return loss, stats

    def _fewrel_loss(self, k: int) -> torch.Tensor:
        """An N-way episode of single sentences of other relations (FewRel), scored as documents' pairs are:
        each query against every episode relation, and reversed (a reading that states no relation)."""
        chosen = self.rng.sample(self.fewrel_relations, min(self.config.fewrel_way, len(self.fewrel_relations)))
        k = min(k, min(len(self.fewrel[r]) for r in chosen) - 1)
        support, queries = [], []
        for r in chosen:
            picked = self.rng.sample(self.fewrel[r], k + 1)
            support += picked[:k]
            queries.append(picked[k])
        enc = self._encode_instances(support + queries, grad=True)
        heads = self.model.heads
        example, side = heads.pair_views(enc)
        device = example.device
        if k:
            sums = example[:len(support)].reshape(len(chosen), k, -1).sum(1)
        else:
            sums = torch.zeros(len(chosen), heads.dim, device=device)
        ks = torch.full((len(chosen),), float(k), device=device)
        descriptions = heads.description_view(torch.stack([self.fewrel_text[r] for r in chosen]).to(device))
        q = _rows(enc, torch.arange(len(support), len(support) + len(queries)))
        forward = heads.pair_views(q)
        backward = heads.pair_views(q.reversed())
        logits = torch.stack([self._logits(*forward, sums, ks, descriptions),
                              self._logits(*backward, sums, ks, descriptions)], dim=1)
        labels = torch.zeros_like(logits)
        labels[torch.arange(len(chosen)), 0, torch.arange(len(chosen))] = 1
        return fact_loss(logits, labels)

    # Evaluation --------------------------------------------------------------------------------

    def evaluate_sentences(self, data: dict[str, list[RelationInstance]], settings=((5, 1), (5, 0)),
                           episodes: int = 200, seed: int = 12345) -> dict[str, float]:
        """Accuracy of N-way K-shot episodes of single sentences, with the model as it is now."""
        from kgrel.models.relation.evaluation import evaluate_fewshot

        self.model.eval()
        self._sync_config()
        out = {}
        for n, k in settings:
            n = min(n, sum(len(items) >= k + 1 for items in data.values()))
            if n >= 2:
                out[f"{n}w{k}s"] = evaluate_fewshot(self.model, data, n, k, episodes, seed + k,
                                                    side_info=self.side_info)["accuracy"]
        self.model.train()
        return out

    @torch.inference_mode()
    def evaluate(self, docs: Sequence[LabelledDocument] | None = None) -> dict[str, float]:
        """Zero-shot fact F1 on `docs` (all pairs, every relation registered, one direction per fact, threshold
        0.5: `extraction_evaluation.DocumentEvaluator`), on the trained relations and the held-out ones, with the
        model as it is now."""
        docs = self.dev_docs if docs is None else docs
        if not docs:
            return {}
        model = self.model
        model.eval()
        self._sync_config()
        relations = self.relations + self.dev_relations
        protos = PrototypeCache(model).build([self.side_info[r] for r in relations])
        classifier = PrototypicalClassifier(model)
        pairs = [[(a, b) for a in range(len(d.document.entities)) for b in range(a + 1, len(d.document.entities))]
                 for d in docs]
        returned = []
        for doc_pairs, views in zip(pairs, model.read_pairs([d.document for d in docs], pairs), strict=True):
            found: dict[tuple[int, str, int], float] = {}
            if doc_pairs:
                fwd, bwd = classifier.oriented((views.example, views.side), (views.reversed_example,
                                                                             views.reversed_side), protos)
                for probs, turned in ((fwd, False), (bwd, True)):
                    for i, j in (probs >= 0.5).nonzero().tolist():
                        a, b = doc_pairs[i]
                        found[(b, relations[j], a) if turned else (a, relations[j], b)] = float(probs[i, j])
            returned.append(found)
        groups = DocumentEvaluator(docs, relations, self.relations).counts(returned, 0.5)
        model.train()
        out = {}
        for name in ("trained", "held_out"):
            m = groups[name].metrics()
            out.update({f"{name}_f1": m["f1"], f"{name}_precision": m["precision"], f"{name}_recall": m["recall"]})
        return out

    def _sync_config(self) -> None:
        """The learned side weight and calibration into the model's config."""
        self.model.config.side_weight = float(F.softplus(self.rho.detach()))
        # Only the K trained with have learnt their sigmoid; others take the nearest (`Calibration.parameters`).
        scale = self.log_scale.detach().exp()
        trained = set(self.config.k_choices) | {int(k) for k in self.model.config.calibration}
        params = {k: (float(scale[k]), float(self.bias[k].detach())) for k in range(MAX_K + 1) if k in trained}
        self.model.calibration = Calibration(params)
        self.model.config.calibration = self.model.calibration.to_json()

    # Loop -------------------------------------------------------------------------------------

    def train(self, progress: bool = True) -> dict:
        with torch.enable_grad():
            return self._train(progress)

    def _train(self, progress: bool) -> dict:
        cfg = self.config
        started = time.perf_counter()
        self._prepare(progress)
        self.model.train()
        encoder_params = [p for layer in self.layers for p in layer.parameters()]
        for p in self.model.encoder.model.parameters():
            p.requires_grad_(False)
        for p in encoder_params:
            p.requires_grad_(True)
        frozen = set() if cfg.train_description else {id(p) for p in self.model.heads.description_proj.parameters()}
        head_params = [p for p in self.model.heads.parameters() if id(p) not in frozen]
        for p in self.model.heads.parameters():
            p.requires_grad_(id(p) not in frozen)
        optimizer = torch.optim.AdamW([
            {"params": encoder_params, "lr": cfg.lr_encoder, "weight_decay": 0.01},
            {"params": head_params, "lr": cfg.lr_heads, "weight_decay": 0.0},
            {"params": [self.rho, self.log_scale, self.bias], "lr": 3e-2, "weight_decay": 0.0},
        ])
        base_lrs = [g["lr"] for g in optimizer.param_groups]
        steps_per_epoch = max(1, len(self.docs) // cfg.docs_per_step) if self.docs else cfg.sentence_steps
        total = cfg.epochs * steps_per_epoch
        best, best_state = -1.0, None
        running: list[dict] = []
        bar = tqdm(range(1, total + 1), desc="training", unit="step", disable=not progress)
        for step in bar:
            if (step - 1) % cfg.refresh_every == 0:
                self._refresh()
            for group, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                group["lr"] = lr * lr_factor(step, cfg.warmup, total)
            loss, stats = self._step_loss()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder_params + head_params, 1.0)
            optimizer.step()
            running.append(stats)
            if step % steps_per_epoch == 0 or step == total:
                window = running[-steps_per_epoch:]
                record = {"step": step, "epoch": round(step / steps_per_epoch, 2),
                          "loss": sum(s["loss"] for s in window) / len(window),
                          "train_recall": sum(s["recall"] for s in window) / len(window),
                          "seconds": round(time.perf_counter() - started, 1)}
                if self.dev_docs:
                    dev = self.evaluate()
                    score = dev["trained_f1"] + dev["held_out_f1"]
                elif self.dev_sentences:
                    dev = self.evaluate_sentences(self.dev_sentences)
                    score = sum(dev.values()) / max(1, len(dev))
                else:
                    dev, score = {}, -record["loss"]
                record.update({f"dev_{k}": round(v, 4) for k, v in dev.items()})
                if score > best:
                    best, best_state = score, self._state()
                self.history.append(record)
                log.info("epoch %s", json.dumps(record))
                bar.set_postfix({k: v for k, v in record.items() if k.endswith("_f1") or k == "loss"})
        if best_state is not None:
            self._load_state(best_state)
        self._sync_config()
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return {"seconds": round(time.perf_counter() - started, 1), "steps": total, "history": self.history}

    def _state(self) -> dict:
        return {"layers": copy.deepcopy(self.layers.state_dict()),
                "heads": copy.deepcopy(self.model.heads.state_dict()),
                "rho": self.rho.detach().clone(), "log_scale": self.log_scale.detach().clone(),
                "bias": self.bias.detach().clone()}

    def _load_state(self, state: dict) -> None:
        self.layers.load_state_dict(state["layers"])
        self.model.heads.load_state_dict(state["heads"])
        with torch.no_grad():
            self.rho.copy_(state["rho"])
            self.log_scale.copy_(state["log_scale"])
            self.bias.copy_(state["bias"])

    def save(self, folder: Path, result: dict, calibration: dict | None = None) -> None:
        """Write the model folder: config (with the learned calibration, or `calibration`), heads, trained
        encoder layers (fp16), training record."""
        self._sync_config()
        if calibration is not None:
            self.model.config.calibration = calibration
        self.model.config.graph_weights = {**self.model.config.graph_weights, "hypernyms": self.config.hypernym_weight}
        self.model.config.notes = self.config.notes or self.model.config.notes
        self.model.save(folder, range(self.first, self.first + len(self.layers)),
                        {"config": asdict(self.config), "relations": self.relations, "held_out": self.dev_relations,
                         "result": result})
        plot_history(self.history, folder / "training.png")


def plot_history(history: list[dict], path: Path) -> None:
    """Training loss and the dev F1 of each epoch, as PNG."""
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(epochs, [h["loss"] for h in history], marker="o")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax1.grid(alpha=0.3)
    dev_keys = sorted({k for h in history for k in h if k.startswith("dev_") and k.endswith(("_f1", "w1s", "w0s"))})
    for key in dev_keys:
        ax2.plot(epochs, [h.get(key) for h in history], marker="o", label=key)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("dev F1 (threshold 0.5, no examples)")
    ax2.grid(alpha=0.3)
    if dev_keys:  # a run without dev data has nothing to name
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def fact_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of each (reading, relation), plus ATLOP's adaptive-threshold ranking with the
    threshold at logit 0: each relation that holds above it, and it above every relation that does not.
    Most pairs hold nothing, so the ranking term keeps the few positives from being drowned out."""
    flat, gold = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1, labels.shape[-1]) > 0
    zero = torch.zeros(len(flat), 1, dtype=flat.dtype, device=flat.device)
    # Positives against the threshold: -log(e^z / (e^z + e^0)) summed over the positives of each reading.
    positive = (F.softplus(-flat) * gold).sum(1)
    # The threshold against the negatives: -log(e^0 / (e^0 + sum e^z_negative)).
    negatives = torch.cat([zero, flat.masked_fill(gold, float("-inf"))], dim=1)
    negative = torch.logsumexp(negatives, dim=1)
    ranking = (positive + negative).mean()
    return F.binary_cross_entropy_with_logits(logits, labels) + ranking


def _rows(enc: InstanceEncoding, idx) -> InstanceEncoding:
    return InstanceEncoding(enc.sentence[idx], enc.head[idx], enc.tail[idx])


def _cat(parts: Sequence[InstanceEncoding]) -> InstanceEncoding:
    return InstanceEncoding(torch.cat([p.sentence for p in parts]), torch.cat([p.head for p in parts]),
                            torch.cat([p.tail for p in parts]))


def lr_factor(step: int, warmup: int, steps: int) -> float:
    """Linear warm-up to 1, then linear decay to 0 at the last step."""
    if step < warmup:
        return step / warmup
    return max(0.0, (steps - step) / max(1, steps - warmup))
