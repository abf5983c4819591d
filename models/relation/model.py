"""A relation model folder: the unit kgrel saves, loads and ships (like a sentence-transformers folder).

    kgrel.json               ModelConfig: base encoder, read-out, fusion weight, calibration
    heads.safetensors        trained relation heads (absent for the untrained model)
    encoder.safetensors      fine-tuned encoder weights, only the tensors that training changed

A plain Hugging Face encoder folder is also accepted: it is used untrained with default settings.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from torch import nn

from kgrel.models.lru import LruCache
from kgrel.models.relation.calibration import Calibration
from kgrel.models.relation.documents import Document, MarkedDocument, instance_document, mark_document
from kgrel.models.relation.encoder import TextEncoder, packaged_encoder_path
from kgrel.models.relation.heads import RelationHeads
from kgrel.models.relation.instances import RelationInstance
from kgrel.models.relation.reader import pair_encodings, read_document

log = logging.getLogger(__name__)

CONFIG_FILE = "kgrel.json"
HEADS_FILE = "heads.safetensors"
ENCODER_FILE = "encoder.safetensors"
PACKAGED = "packaged:all-MiniLM-L6-v2"


@dataclass
class ModelConfig:
    # PACKAGED, or a Hugging Face folder: held absolute, written relative to the model folder (the two can move
    # together; a path given relative to the working directory is never read against the model folder).
    encoder: str = PACKAGED
    max_length: int = 512  # tokens the encoder reads at once; longer documents are read in overlapping windows
    side_weight: float = 2.0  # weight of side information, counted as that many examples
    head_dim: int | None = None  # None: untrained read-outs
    nota_threshold: float = 0.5  # "none of the above" when no relation reaches this probability
    calibration: dict = field(default_factory=dict)
    # Weight of each kind of graph evidence, counted in examples (models.fusion).
    graph_weights: dict = field(default_factory=lambda: {"hypernyms": 1.0, "argument_fit": 1.0, "plausibility": 1.0})
    notes: str = ""

    @classmethod
    def load(cls, folder: Path) -> ModelConfig:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__}
        config = cls(**{k: v for k, v in data.items() if k in known})
        if config.encoder != PACKAGED:
            config.encoder = str((folder / config.encoder).resolve())  # an absolute path stays as it is
        return config

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        encoder = (self.encoder if self.encoder == PACKAGED
                   else os.path.relpath(Path(self.encoder).resolve(), folder.resolve()))
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(replace(self, encoder=encoder)), indent=1) + "\n",
                                          encoding="utf-8")


def resolve_encoder_dir(config: ModelConfig) -> Path:
    return packaged_encoder_path() if config.encoder == PACKAGED else Path(config.encoder)


@dataclass
class PairViews:
    """(example, side) views of a document's entity pairs as asked and reversed, each (pairs, dim)."""

    example: torch.Tensor
    side: torch.Tensor
    reversed_example: torch.Tensor
    reversed_side: torch.Tensor

    def detached(self) -> PairViews:
        return PairViews(*(x.detach().float().cpu() for x in (self.example, self.side, self.reversed_example,
                                                                 self.reversed_side)))


class RelationModel(nn.Module):
    """Text encoder + relation heads + the settings that turn their outputs into calibrated scores."""

    def __init__(self, config: ModelConfig, encoder: TextEncoder, heads: RelationHeads):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.heads = heads
        self.calibration = Calibration.from_json(config.calibration)
        self._label_cache = LruCache(50_000)  # encoded class labels (`embed_labels`); training clears it

    @classmethod
    def load(cls, folder: str | Path | None = None, *, encoder_dir: str | Path | None = None,
             device: str = "auto", batch_size: int = 32, precision: str = "fp32") -> RelationModel:
        """Load a model folder, a plain HF encoder folder, or (both None) the untrained packaged encoder."""
        folder = Path(folder) if folder else None
        if folder is not None and not (folder / CONFIG_FILE).exists():
            if (folder / "config.json").exists():  # a plain Hugging Face encoder folder
                encoder_dir, folder = folder, None
            else:
                raise FileNotFoundError(f"{folder} is neither a kgrel model folder ({CONFIG_FILE}) "
                                        "nor a Hugging Face model folder (config.json)")
        config = ModelConfig.load(folder) if folder else ModelConfig()
        if encoder_dir is not None:
            # Trained heads and calibration belong to the folder's own encoder: another encoder starts fresh.
            if folder is not None:
                log.info("encoder %s replaces the encoder of %s, untrained and uncalibrated", encoder_dir, folder)
            config, folder = ModelConfig(encoder=str(Path(encoder_dir).resolve()), max_length=config.max_length), None
        encoder = TextEncoder(resolve_encoder_dir(config), device=device,
                              max_length=config.max_length, batch_size=batch_size)
        heads = RelationHeads(encoder.hidden_size, config.head_dim)
        if folder is not None and config.head_dim is not None:
            from safetensors.torch import load_file

            heads.load_state_dict(load_file(str(folder / HEADS_FILE)))
            if (folder / ENCODER_FILE).exists():
                missing = encoder.model.load_state_dict(load_file(str(folder / ENCODER_FILE)), strict=False)
                if missing.unexpected_keys:
                    raise ValueError(f"{folder / ENCODER_FILE} does not fit the encoder: {missing.unexpected_keys[:3]}")
        encoder.set_precision(precision)
        if not config.calibration:
            log.warning("model has no calibration; scores are uncalibrated (run `kgrel calibrate`)")
        model = cls(config, encoder, heads)
        model.to(encoder.device)
        model.eval()
        for p in model.parameters():  # loaded to serve; training turns on what it trains
            p.requires_grad_(False)
        return model

    def save(self, folder: Path, trained_layers: Iterable[int], record: dict) -> None:
        """Write the model folder: config, heads and the encoder layers `trained_layers` (fp16: what training
        changed), and `record` (how it was trained) as training.json. The one writer of a model folder."""
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        self.config.head_dim = self.heads.dim
        heads = {k: v.detach().to(torch.float16).contiguous().cpu() for k, v in self.heads.state_dict().items()}
        save_file(heads, str(folder / HEADS_FILE))
        prefixes = tuple(f"encoder.layer.{i}." for i in trained_layers)
        layers = {name: t.detach().to(torch.float16).contiguous().cpu()
                  for name, t in self.encoder.model.state_dict().items() if prefixes and name.startswith(prefixes)}
        if layers:
            save_file(layers, str(folder / ENCODER_FILE))
        self.config.save(folder)
        (folder / "training.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def embed_instances(self, instances: Sequence[RelationInstance]) -> tuple[torch.Tensor, torch.Tensor]:
        """(example view, side view) of relation instances, on CPU."""
        return self.embed_both_ways(instances)[0]

    def embed_both_ways(self, instances: Sequence[RelationInstance]
                        ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """(example, side) views of relation instances as asked and reversed, on CPU, from one reading each."""
        read = self.read_pairs([instance_document(x) for x in instances], [[(0, 1)] for _ in instances])
        if not read:
            width = self.heads.dim if self.heads.trained else 3 * self.heads.hidden
            empty = (torch.zeros(0, width), torch.zeros(0, self.encoder.hidden_size))
            return empty, empty
        return ((torch.cat([r.example for r in read]), torch.cat([r.side for r in read])),
                (torch.cat([r.reversed_example for r in read]), torch.cat([r.reversed_side for r in read])))

    @torch.inference_mode()
    def read_pairs(self, documents: Sequence[Document], pairs: Sequence[Sequence[tuple[int, int]]]) -> list[PairViews]:
        """(example, side) views of the given entity pairs of each document, as asked and reversed, on CPU.

        Each document is encoded once for all of its pairs (`models.relation.reader`), in length-sorted batches."""
        out: list[PairViews | None] = [None] * len(documents)
        marked = [mark_document(d) for d in documents]
        types = self.entity_types(documents)
        for idx in self.encoder.batches([len(m.text) for m in marked]):
            windows = self.encoder.tokenize_documents([marked[i].text for i in idx])
            states = self.encoder.document_states(windows)
            for j, i in enumerate(idx):
                out[i] = self(states[j].float(), windows.offsets[j], marked[i], documents[i], pairs[i],
                              types[i]).detached()
        return out  # type: ignore[return-value]

    def forward(self, states: torch.Tensor, offsets: torch.Tensor, marked: MarkedDocument, document: Document,
                pairs: Sequence[tuple[int, int]], types: torch.Tensor | None) -> PairViews:
        """Views of a document's entity pairs from its token states (tokens, hidden) and their character
        offsets in the marked text: the step training (from cached lower layers) and inference (`read_pairs`)
        share. `types` holds each entity's encoded class labels (zero rows: none known), or None."""
        reading = read_document(states, offsets, marked, document)
        enc = pair_encodings(reading, pairs, self.heads.context_query if self.heads.trained else None)
        if types is not None and pairs:
            types = types.to(states.device)
            enc.head_type = types[[h for h, _ in pairs]]
            enc.tail_type = types[[t for _, t in pairs]]
        forward, backward = self.heads.pair_views(enc), self.heads.pair_views(enc.reversed())
        return PairViews(forward[0], forward[1], backward[0], backward[1])

    def entity_types(self, documents: Sequence[Document]) -> list[torch.Tensor | None]:
        """Per document, (entities, hidden): the mean encoded label of each entity's classes; None where no
        entity of the document has a class."""
        labels = sorted({c for d in documents for e in d.entities for c in e.classes})
        if not labels or not self.heads.trained:
            return [None] * len(documents)
        vectors = dict(zip(labels, self.embed_labels(labels), strict=True))
        out = []
        for d in documents:
            if not any(e.classes for e in d.entities):
                out.append(None)
                continue
            rows = [torch.stack([vectors[c] for c in e.classes]).mean(0) if e.classes
                    else torch.zeros(self.encoder.hidden_size) for e in d.entities]
            out.append(torch.stack(rows))
        return out

    @torch.inference_mode()
    def embed_sentences(self, texts: Sequence[str]) -> torch.Tensor:
        """The encoder's mean token state of plain texts (before the heads), on CPU, in input order."""
        out = torch.empty(len(texts), self.encoder.hidden_size)
        for idx in self.encoder.batches([len(t) for t in texts]):
            out[idx] = self.encoder(self.encoder.tokenize([texts[i] for i in idx])).float().cpu()
        return out

    @torch.inference_mode()
    def embed_descriptions(self, texts: Sequence[str]) -> torch.Tensor:
        """Description view of side-information texts (relation descriptions, class labels), on CPU."""
        return self.heads.description_view(self.embed_sentences(texts).to(self.device)).float().cpu()

    def embed_labels(self, texts: list[str]) -> torch.Tensor:
        """Like embed_descriptions, for short texts that recur (class labels), kept in a bounded cache."""
        found = self._label_cache.fetch(texts, lambda missing: list(self.embed_descriptions(missing)))
        return torch.stack([found[t] for t in texts])
