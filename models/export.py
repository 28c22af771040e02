"""Export a trained CMCL-Net to a self-describing ONNX file for ``inference.runtime.SpottingModel``.

The graph holds ``sigmoid(CmclNet(video, ecg_wave, hrv))`` with a dynamic batch axis on every input and
on the output ``score``. Input standardization is *not* baked into the graph: it travels as
``mespot.normalization`` metadata and the runtime applies it with the same numpy code
(``Normalization.apply``) that training must use. The full metadata layout is documented in
``inference.runtime``. After writing, the file is re-opened through the runtime (which validates the
metadata and signature) and checked against torch on a random batch.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from inference.features.spec import FeatureSpec
from inference.runtime import (
    INPUT_NAMES,
    META_FEATURE_SPEC,
    META_FORMAT_VERSION,
    META_MODEL_CONFIG,
    META_NORMALIZATION,
    META_REPORT,
    META_STRIDE_MS,
    META_THRESHOLD,
    META_TRAINED_ON,
    META_VERSION,
    META_WINDOW_MS,
    MODEL_FORMAT_VERSION,
    OUTPUT_NAME,
    Normalization,
    SpottingModel,
)
from models.cmcl_net import CmclNet, parameter_count

OPSET_VERSION = 18
MAX_MODEL_BYTES = 10 * 1024 * 1024
PARITY_TOLERANCE = 1e-4  # max |torch - onnxruntime| on the exported probability
PARITY_BATCH = 3
PARITY_SEED = 1234
_EXAMPLE_BATCH = 2  # > 1 so that torch.export does not specialize the batch axis to 1
_MAX_BATCH = 1 << 16
_EXPORTER_NOISE = (  # harmless warnings of torch 2.13's exporter, silenced during export only
    r".*isinstance\(treespec, LeafSpec\).*",
    r".*The axis name: .* will not be used.*",
)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    size_bytes: int
    parameters: int
    parity_max_abs_diff: float


class ScoreGraph(nn.Module):
    """What the ONNX file computes: the ME probability ``sigmoid(logit)`` of each window."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor, ecg_wave: torch.Tensor, hrv: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(video, ecg_wave, hrv))


def mespot_version() -> str:
    try:
        return importlib.metadata.version("mespot")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def export_onnx(model: CmclNet, spec: FeatureSpec, path: str | Path, *, normalization: Mapping[str, Any],
                threshold: float, trained_on: Mapping[str, Any], report: Mapping[str, Any] | None = None,
                check_parity: bool = True) -> ExportResult:
    """Write ``model`` (eval mode) with its metadata to ``path``; ValueError when something does not fit.

    ``normalization`` is ``Normalization.to_dict()`` of the standardization training applied;
    ``trained_on`` and ``report`` are free JSON-able dicts (data sets, subjects, epochs; validation scores).
    """
    path = Path(path)
    if getattr(model, "spec", spec) != spec:
        raise ValueError("the model was built for another feature spec: "
                         + "; ".join(model.spec.differences(spec)))
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], not {threshold}")
    norm = Normalization.from_dict(normalization, spec)
    metadata = {
        META_FEATURE_SPEC: spec.to_json(),
        META_NORMALIZATION: json.dumps(norm.to_dict()),
        META_THRESHOLD: json.dumps(float(threshold)),
        META_WINDOW_MS: json.dumps(float(spec.window_ms)),
        META_STRIDE_MS: json.dumps(float(spec.stride_ms)),
        META_MODEL_CONFIG: model.config.to_json(),
        META_TRAINED_ON: json.dumps(trained_on, sort_keys=True),
        META_VERSION: mespot_version(),
        META_FORMAT_VERSION: str(MODEL_FORMAT_VERSION),
    }
    if report is not None:
        metadata[META_REPORT] = json.dumps(report, sort_keys=True)

    path.parent.mkdir(parents=True, exist_ok=True)
    was_training = model.training
    model.eval()
    try:
        _export_graph(model, spec, path)
        proto = onnx.load(str(path))
        _strip_debug_info(proto)
        del proto.metadata_props[:]
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(path))
        size = path.stat().st_size
        if size > MAX_MODEL_BYTES:
            path.unlink()
            raise ValueError(f"exported model is {size / 1e6:.1f} MB; the limit is "
                             f"{MAX_MODEL_BYTES / 1e6:.1f} MB")
        diff = _parity(model, spec, norm, path) if check_parity else float("nan")
    finally:
        model.train(was_training)
    return ExportResult(path, size, parameter_count(model), diff)


def _export_graph(model: nn.Module, spec: FeatureSpec, path: Path) -> None:
    graph = ScoreGraph(model).eval()
    generator = torch.Generator().manual_seed(0)
    example = (torch.randn(_EXAMPLE_BATCH, spec.video_steps, spec.video_channels, generator=generator),
               torch.randn(_EXAMPLE_BATCH, spec.ecg_steps, generator=generator),
               torch.randn(_EXAMPLE_BATCH, len(spec.hrv_features), generator=generator))
    batch = torch.export.Dim("batch", min=1, max=_MAX_BATCH)
    # the exporter reports progress on stdout and its optimizer logs at INFO/WARNING: keep them quiet
    quiet = [logging.getLogger(name) for name in ("onnxscript", "torch.onnx", "torch.export")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:
        logger.setLevel(logging.ERROR)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            for message in _EXPORTER_NOISE:
                warnings.filterwarnings("ignore", message=message)
            torch.onnx.export(
                graph, example, str(path), dynamo=True, opset_version=OPSET_VERSION,
                input_names=list(INPUT_NAMES), output_names=[OUTPUT_NAME],
                dynamic_shapes=tuple({0: batch} for _ in INPUT_NAMES), external_data=False, verbose=False,
            )
    finally:
        for logger, level in zip(quiet, levels, strict=True):
            logger.setLevel(level)


def _strip_debug_info(proto: onnx.ModelProto) -> None:
    """Drop the exporter's per-node stack traces and doc strings (local paths, ~40% of the file)."""
    for node in proto.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    proto.graph.doc_string = ""


def _parity(model: nn.Module, spec: FeatureSpec, norm: Normalization, path: Path) -> float:
    """Max |torch - onnxruntime| of the probability on a random raw batch; ValueError above tolerance."""
    runtime = SpottingModel.load(path, spec)
    rng = np.random.default_rng(PARITY_SEED)
    raw = []
    for name, shape in zip(INPUT_NAMES, ((spec.video_steps, spec.video_channels), (spec.ecg_steps,),
                                         (len(spec.hrv_features),)), strict=True):
        z = rng.standard_normal((PARITY_BATCH, *shape)).astype(np.float32)
        raw.append(z * norm.std[name] + norm.mean[name])  # raw features whose standardized values are z
    with torch.no_grad():
        expected = ScoreGraph(model).eval()(*(torch.from_numpy(x) for x in norm.apply(*raw))).numpy()
    diff = float(np.max(np.abs(runtime.score(*raw) - expected)))
    if not diff <= PARITY_TOLERANCE:
        raise ValueError(f"ONNX export differs from torch by {diff:.2e} (tolerance {PARITY_TOLERANCE:.0e})")
    return diff
