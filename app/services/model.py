"""Relation model folders: which one serves, adapting or recalibrating one to the user's examples, switching back.

Adapted models live under `<data_dir>/models/<name>/`; the serving choice is kept in
`<data_dir>/models/active.json` so a restart serves the same model. A switch loads the new model
completely before it replaces the old one, so requests never see half a model.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path

from kgrel.app.config import Settings
from kgrel.app.services.graph import MODEL, GraphService
from kgrel.app.services.jobs import Job, JobRunner
from kgrel.app.services.predictions import PredictionService
from kgrel.kg import examples as kg_examples
from kgrel.kg.errors import NotFound
from kgrel.models.relation.adaptation import AdaptConfig, adapt, recalibrate, split_relations
from kgrel.models.relation.calibration_fitting import calibration_examples
from kgrel.models.relation.instances import instance_from_record
from kgrel.models.relation.model import RelationModel

BASE = "base"  # the model the settings name (the shipped one by default)
ACTIVE_FILE = "active.json"


class ModelService:
    def __init__(self, settings: Settings, graph: GraphService, predictions: PredictionService, jobs: JobRunner,
                 active: str = BASE):
        self.settings = settings
        self.graph = graph
        self.predictions = predictions
        self.jobs = jobs
        self.folder = settings.data_dir / "models"
        self.active = active
        self._switching = threading.Lock()

    # Which model serves ----------------------------------------------------------------------

    @staticmethod
    def saved_choice(settings: Settings) -> str:
        """The model chosen before a restart (BASE when none, or when it is gone). A model named in the
        settings wins over the saved choice."""
        path = settings.data_dir / "models" / ACTIVE_FILE
        if settings.model or not path.exists():
            return BASE
        name = json.loads(path.read_text(encoding="utf-8")).get("model", BASE)
        try:
            ModelService.location_of(settings, name)
        except NotFound:
            return BASE
        return name

    @staticmethod
    def location_of(settings: Settings, name: str) -> str | None:
        """The folder of model `name` (None: the untrained encoder); NotFound for an unknown name."""
        if name == BASE:
            return settings.model_location()
        folder = settings.data_dir / "models" / name
        if "/" in name or name.startswith(".") or not (folder / "kgrel.json").exists():
            raise NotFound(f"no model {name!r}; GET /model lists them")
        return str(folder)

    def location(self, name: str) -> str | None:
        return self.location_of(self.settings, name)

    def models(self) -> list[dict]:
        """The base model and every adapted one, newest last, with how each was validated."""
        out = [{"name": BASE, "path": self.settings.model_location() or "untrained", "active": self.active == BASE,
                "adaptation": None}]
        if self.folder.is_dir():
            for folder in sorted(p for p in self.folder.iterdir() if (p / "kgrel.json").exists()):
                training = folder / "training.json"
                info = json.loads(training.read_text(encoding="utf-8")) if training.exists() else {}
                out.append({"name": folder.name, "path": str(folder), "active": self.active == folder.name,
                            "adaptation": info.get("result", {}).get("adaptation")})
        return out

    def select(self, name: str) -> dict:
        """Serve model `name` from now on (and after a restart, and on the other workers)."""
        self._switch(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / (ACTIVE_FILE + ".tmp")
        tmp.write_text(json.dumps({"model": name}) + "\n", encoding="utf-8")
        os.replace(tmp, self.folder / ACTIVE_FILE)
        self.graph.announce({MODEL})
        return next(m for m in self.models() if m["name"] == name)

    def reload(self) -> None:
        """Serve the model another worker sharing the data dir chose."""
        self._switch(self.saved_choice(self.settings))

    def _switch(self, name: str) -> None:
        with self._switching:
            if name == self.active and self.predictions.model is not None:
                return
            model = RelationModel.load(self.location(name), encoder_dir=self.settings.encoder,
                                       device=self.settings.device, batch_size=self.settings.batch_size,
                                       precision=self.settings.precision)
            self.predictions.switch_model(model)
            self.active = name

    # Adapting --------------------------------------------------------------------------------

    def examples(self) -> dict:
        out = defaultdict(list)
        for rec in kg_examples.list_examples(self.graph.store):
            out[rec.relation].append(instance_from_record(rec))
        return dict(out)

    def _serving_folder(self, doing: str) -> tuple[str, str]:
        """(name, folder) of the serving model, which `doing` starts from; NotFound for the untrained encoder."""
        base = self.location(self.active)
        if base is None:
            raise NotFound(f"the untrained encoder has no heads to {doing}; serve a trained model first")
        return self.active, base

    def _new_name(self, kind: str) -> str:
        """A model name from the time, never one already taken (two jobs may end in the same second)."""
        name = stem = f"{kind}-" + time.strftime("%Y%m%d-%H%M%S")
        n = 1
        while (self.folder / name).exists() or (self.folder / f"{name}.partial").exists():
            n += 1
            name = f"{stem}-{n}"
        return name

    def _side_info(self, examples: dict) -> dict:
        return {r.iri: r for r in self.graph.ontology.relations(sorted(examples))}

    def start_adapt(self, config: AdaptConfig) -> Job:
        """Fine-tune the serving model on the store's examples in the background; switch to the result
        when it validates at least as well (relation-disjoint), else keep serving the current one."""
        examples = self.examples()
        split_relations(examples, config)  # too few examples: say so now, not in a failed job
        base_name, base = self._serving_folder("adapt")
        side_info = self._side_info(examples)

        def work(progress) -> dict:
            progress({"stage": "adapting", "relations": len(examples)})
            name = self._new_name("adapted")
            result = adapt(Path(base), examples, side_info, self.folder / name, config,
                           device=self.settings.device, encoder_dir=self.settings.encoder)
            out = {"model": name if result.kept else None, "from": base_name, **asdict(result),
                   "config": asdict(config)}
            if result.kept:
                progress({"stage": "switching"})
                self.select(name)
            return out

        return self.jobs.start("model-adapt", work)

    def start_recalibrate(self, seed: int = 0) -> Job:
        """Refit the serving model's calibration on the store's examples in the background and switch to
        the result: the same model, whose scores (and so none-of-the-above) fit the user's text."""
        examples = calibration_examples(self.examples())  # too few: say so now, not in a failed job
        base_name, base = self._serving_folder("calibrate")
        side_info = self._side_info(examples)

        def work(progress) -> dict:
            progress({"stage": "calibrating", "relations": len(examples)})
            name = self._new_name("calibrated")
            result = recalibrate(Path(base), examples, side_info, self.folder / name, seed=seed,
                                 device=self.settings.device, encoder_dir=self.settings.encoder)
            progress({"stage": "switching"})
            self.select(name)
            return {"model": name, "from": base_name, **result.as_dict()}

        return self.jobs.start("model-calibrate", work)
