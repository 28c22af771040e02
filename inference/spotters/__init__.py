"""Spotters: what proposes candidates to the engine. ``--spotter flow`` (training-free) or a model file:
an ONNX CMCL-Net model, or a spotter file (JSON) that names the training-free spotter and its settings::

    {"mespot.spotter": "flow", "threshold": 1.0, "settings": {"threshold_mads": 5.0}}

:func:`load_spotter` reads and checks the choice once (bad files are an :class:`InputFileError`, exit 2);
:meth:`SpotterChoice.build` makes a fresh spotter for each run (a spotter holds a run's state).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

from acquisition.errors import InputFileError
from inference.features.spec import FeatureSpec
from inference.runtime import SpottingModel
from inference.spotters._base import Candidate, Spotter
from inference.spotters.cmcl import CmclNetSpotter
from inference.spotters.flow import FlowSettings, FlowSpotter

SPOTTERS = ("cmcl-net", "flow")
SPOTTER_FILE_KEY = "mespot.spotter"
FLOW_NAME = "flow"


@dataclass(frozen=True)
class SpotterChoice:
    kind: str
    model: SpottingModel | None = None
    flow: FlowSettings | None = None
    threshold: float | None = None  # None: the model's own (CMCL-Net) or 1 (flow)
    path: Path | None = None

    @property
    def label(self) -> str:
        return f"{self.kind} ({self.path})" if self.path else self.kind

    def build(self, fps: float, threshold: float | None = None) -> Spotter:
        """A fresh spotter for a run at ``fps`` (``threshold`` overrides the choice's)."""
        threshold = threshold if threshold is not None else self.threshold
        if self.kind == "cmcl-net":
            assert self.model is not None
            spotter: Spotter = CmclNetSpotter(self.model)
        else:
            spotter = FlowSpotter(FeatureSpec(), fps, self.flow)
        if threshold is not None:
            spotter.threshold = spotter.default_threshold = float(threshold)
        return spotter


def load_spotter(source: str | Path, spec: FeatureSpec | None = None) -> SpotterChoice:
    """``"flow"``, an ONNX model file, or a spotter JSON file."""
    spec = spec or FeatureSpec()
    if str(source) == FLOW_NAME:
        return SpotterChoice(FLOW_NAME, flow=FlowSettings())
    path = Path(source)
    if path.suffix.lower() == ".json":
        return _spotter_file(path)
    return SpotterChoice("cmcl-net", model=SpottingModel.load(path, spec), path=path)


def _spotter_file(path: Path) -> SpotterChoice:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InputFileError(path, "no such spotter file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputFileError(path, f"not a JSON spotter file ({exc})") from exc
    if not isinstance(data, dict) or data.get(SPOTTER_FILE_KEY) != FLOW_NAME:
        raise InputFileError(path, f'a spotter file needs "{SPOTTER_FILE_KEY}": "{FLOW_NAME}" '
                                   "(CMCL-Net models are ONNX files)")
    unknown = set(data) - {SPOTTER_FILE_KEY, "settings", "threshold", "description"}
    if unknown:
        raise InputFileError(path, f"unknown key(s) {', '.join(sorted(unknown))}")
    settings = data.get("settings", {})
    known = {f.name: f.type for f in fields(FlowSettings)}
    if not isinstance(settings, dict) or set(settings) - set(known):
        bad = sorted(set(settings) - set(known)) if isinstance(settings, dict) else ["(not an object)"]
        raise InputFileError(path, f"unknown flow spotter setting(s) {', '.join(bad)}; known: "
                                   f"{', '.join(known)}")
    try:
        flow = FlowSettings(**{k: (int(v) if known[k] in ("int", int) else float(v))
                               for k, v in settings.items()})
        threshold = float(data["threshold"]) if "threshold" in data else None
    except (TypeError, ValueError) as exc:
        raise InputFileError(path, str(exc)) from exc
    if threshold is not None and not threshold > 0:
        raise InputFileError(path, f"threshold must be positive, not {threshold}")
    return SpotterChoice(FLOW_NAME, flow=flow, threshold=threshold, path=path)


__all__ = ["SPOTTERS", "Candidate", "CmclNetSpotter", "FlowSettings", "FlowSpotter", "Spotter",
           "SpotterChoice", "load_spotter"]
