"""A relation model folder: the unit kgrel saves, loads and ships (like a sentence-transformers folder).

    kgrel.json               ModelConfig: base encoder, read-out, fusion weight, calibration
    heads.safetensors        trained relation heads (absent for the untrained model)
    encoder.safetensors      fine-tuned encoder weights, only the tensors that training changed

A plain Hugging Face encoder folder is also accepted: it is used untrained with default settings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from kgrel.models.relation.calibration import Calibration
from kgrel.models.relation.encoder import (
    InstanceEncoding,
    MarkedText,
    TextEncoder,
    TokenBatch,
    mark,
    packaged_encoder_path,
    plain_text,
)
from kgrel.models.relation.heads import RelationHeads, RelationViews
from kgrel.models.relation.instances import RelationInstance

log = logging.getLogger(__name__)

CONFIG_FILE = "kgrel.json"
HEADS_FILE = "heads.safetensors"
ENCODER_FILE = "encoder.safetensors"
PACKAGED = "packaged:all-MiniLM-L6-v2"


@dataclass
class ModelConfig:
    encoder: str = PACKAGED  # PACKAGED, or a Hugging Face folder (absolute, or relative to the model folder)
    max_length: int = 128
    side_weight: float = 2.0  # weight of side information, counted as that many examples
    head_dim: int | None = None  # None: untrained read-outs
    nota_threshold: float = 0.5  # "none of the above" when no relation reaches this probability
    calibration: dict = field(default_factory=dict)
    # Weight of each kind of graph evidence, counted in examples (models.fusion).
    graph_weights: dict = field(default_factory=lambda: {"hypernyms": 1.0, "hypernym_text": 0.0,
                                                         "argument_fit": 1.0, "plausibility": 1.0,
                                                         "type_conflict": 0.0})
    notes: str = ""

    @classmethod
    def load(cls, folder: Path) -> ModelConfig:
        data = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_FILE).write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")


def resolve_encoder_dir(config: ModelConfig, folder: Path | None) -> Path:
    if config.encoder == PACKAGED:
        return packaged_encoder_path()
    path = Path(config.encoder)
    if not path.is_absolute() and folder is not None:
        path = folder / path
    return path


class RelationModel(nn.Module):
    """Text encoder + relation heads + the settings that turn their outputs into calibrated scores."""

    def __init__(self, config: ModelConfig, encoder: TextEncoder, heads: RelationHeads):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.heads = heads
        self.calibration = Calibration.from_json(config.calibration)

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
            config, folder = ModelConfig(encoder=str(encoder_dir), max_length=config.max_length), None
        encoder = TextEncoder(resolve_encoder_dir(config, folder), device=device,
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
        return model

    @property
    def device(self) -> torch.device:
        return self.encoder.device

    def forward(self, batch: TokenBatch) -> RelationViews:
        """Example, side and description views of a batch of marked texts.

        The one pass that training (from cached lower layers) and inference (from token ids) share.
        """
        return self.heads(self.encoder(batch).float())

    @torch.inference_mode()
    def embed(self, marked: Sequence[MarkedText]) -> RelationViews:
        """`forward` over any number of texts in length-sorted batches; views on CPU, in input order."""
        if not marked:  # the heads give each view its width
            empty = torch.zeros(0, self.encoder.hidden_size, device=self.device)
            views = self.heads(InstanceEncoding(empty, empty, empty))
            return RelationViews(views.example.cpu(), views.side.cpu(), views.description.cpu())
        parts = [(idx, self(self.encoder.tokenize([marked[i] for i in idx])))
                 for idx in self.encoder.batches([len(m.text) for m in marked])]
        out = []
        for name in ("example", "side", "description"):
            full = torch.empty(len(marked), getattr(parts[0][1], name).shape[1])
            for idx, views in parts:
                full[idx] = getattr(views, name).float().cpu()
            out.append(full)
        return RelationViews(*out)

    def embed_instances(self, instances: Sequence[RelationInstance]) -> tuple[torch.Tensor, torch.Tensor]:
        """(example view, side view) of relation instances, on CPU."""
        views = self.embed([mark(x, self.encoder.max_chars) for x in instances])
        return views.example, views.side

    def embed_descriptions(self, texts: Sequence[str]) -> torch.Tensor:
        """Description view of side-information texts (relation descriptions, class labels), on CPU."""
        return self.embed([plain_text(t) for t in texts]).description

    def embed_labels(self, texts: list[str]) -> torch.Tensor:
        """Like embed_descriptions, for short texts that recur (class labels), with a bounded cache."""
        cache = self.__dict__.setdefault("_label_cache", {})
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if missing:
            if len(cache) + len(missing) > 50_000:
                cache.clear()
            cache.update(zip(missing, self.embed_descriptions(missing), strict=True))
        return torch.stack([cache[t] for t in texts])
