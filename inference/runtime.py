"""The CMCL-Net runtime: score feature windows with an exported model on onnxruntime (no torch here).

A mespot model file is an ONNX graph (inputs ``video`` (B, video_steps, video_channels), ``ecg_wave``
(B, ecg_steps), ``hrv`` (B, n_hrv), all float32 with a dynamic batch axis; output ``score`` (B,), the
sigmoid probability that the window holds an ME) plus string metadata (``metadata_props``):

=========================  ===========================================================================
``mespot.feature_spec``    ``FeatureSpec.to_json()`` of the features it was trained on (must equal ours)
``mespot.normalization``   JSON ``{"video"|"ecg_wave"|"hrv": {"mean": [...], "std": [...]}}``; applied
                           here, before the graph (see :class:`Normalization`)
``mespot.threshold``       decision threshold on ``score`` (JSON float in [0, 1])
``mespot.window_ms``       window length, JSON float (a copy of the spec's, for a quick look)
``mespot.stride_ms``       window stride, JSON float (idem)
``mespot.model_config``    JSON of the ``ModelConfig`` (architecture, modality)
``mespot.trained_on``      JSON: what data and settings the model was trained on
``mespot.version``         the mespot version that wrote the file
``mespot.format_version``  layout version of this metadata (this runtime reads ``MODEL_FORMAT_VERSION``)
``mespot.report``          optional JSON: validation figures of the training run
=========================  ===========================================================================

The session runs single-threaded and sequentially (intra/inter-op threads = 1) with all graph
optimizations, so that scoring does not compete with acquisition for cores.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from acquisition.errors import InputFileError
from inference.features.spec import FeatureSpec

MODEL_FORMAT_VERSION = 1
INPUT_NAMES: tuple[str, ...] = ("video", "ecg_wave", "hrv")
OUTPUT_NAME = "score"

META_PREFIX = "mespot."
META_FEATURE_SPEC = "mespot.feature_spec"
META_NORMALIZATION = "mespot.normalization"
META_THRESHOLD = "mespot.threshold"
META_WINDOW_MS = "mespot.window_ms"
META_STRIDE_MS = "mespot.stride_ms"
META_MODEL_CONFIG = "mespot.model_config"
META_TRAINED_ON = "mespot.trained_on"
META_VERSION = "mespot.version"
META_FORMAT_VERSION = "mespot.format_version"
META_REPORT = "mespot.report"  # optional
REQUIRED_METADATA: tuple[str, ...] = (
    META_FEATURE_SPEC, META_NORMALIZATION, META_THRESHOLD, META_WINDOW_MS, META_STRIDE_MS,
    META_MODEL_CONFIG, META_TRAINED_ON, META_VERSION, META_FORMAT_VERSION,
)

MIN_STD = 1e-6  # a fitted std below this (a constant channel) is replaced by 1
_FLOAT_TYPE = "tensor(float)"


def input_shapes(spec: FeatureSpec) -> dict[str, tuple[int, ...]]:
    """Per-window (batch axis left out) shape of each model input."""
    return {"video": (spec.video_steps, spec.video_channels), "ecg_wave": (spec.ecg_steps,),
            "hrv": (len(spec.hrv_features),)}


# --- normalization --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Normalization:
    """Per-input standardization ``(x - mean) / std`` over the last axis, applied outside the graph.

    Each mean/std array has the length of its input's last axis (video: channels, ecg_wave: samples,
    hrv: features) or length 1 (one value for the whole input). Training must standardize through
    :meth:`apply` too, so that the runtime applies exactly what training applied.
    """

    mean: Mapping[str, np.ndarray]
    std: Mapping[str, np.ndarray]

    @classmethod
    def identity(cls) -> Normalization:
        one = np.ones(1, np.float32)
        return cls({n: np.zeros(1, np.float32) for n in INPUT_NAMES}, {n: one for n in INPUT_NAMES})

    @classmethod
    def fit(cls, video: np.ndarray, ecg_wave: np.ndarray, hrv: np.ndarray) -> Normalization:
        """Statistics of a training set: video per channel, ECG one value for all samples, HRV per feature."""
        stats = {"video": np.asarray(video, np.float64).reshape(-1, np.shape(video)[-1]),
                 "ecg_wave": np.asarray(ecg_wave, np.float64).reshape(-1, 1),
                 "hrv": np.asarray(hrv, np.float64).reshape(-1, np.shape(hrv)[-1])}
        mean = {n: x.mean(axis=0).astype(np.float32) for n, x in stats.items()}
        std = {n: x.std(axis=0) for n, x in stats.items()}
        std = {n: np.where(s < MIN_STD, 1.0, s).astype(np.float32) for n, s in std.items()}
        return cls(mean, std)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], spec: FeatureSpec) -> Normalization:
        """Parse and check the JSON layout against the spec (ValueError when it does not fit)."""
        if set(data) != set(INPUT_NAMES):
            raise ValueError(f"normalization must have exactly the inputs {', '.join(INPUT_NAMES)}, "
                             f"got {', '.join(sorted(data))}")
        shapes = input_shapes(spec)
        mean: dict[str, np.ndarray] = {}
        std: dict[str, np.ndarray] = {}
        for name in INPUT_NAMES:
            entry = data[name]
            if not isinstance(entry, Mapping) or set(entry) != {"mean", "std"}:
                raise ValueError(f"normalization[{name!r}] must be {{'mean': [...], 'std': [...]}}")
            width = shapes[name][-1]
            for key, target in (("mean", mean), ("std", std)):
                values = np.asarray(entry[key], dtype=np.float32).reshape(-1)
                if values.size not in (1, width):
                    raise ValueError(f"normalization[{name!r}][{key!r}] has {values.size} values; "
                                     f"want 1 or {width}")
                if not np.all(np.isfinite(values)):
                    raise ValueError(f"normalization[{name!r}][{key!r}] is not finite")
                target[name] = values
            if np.any(std[name] <= 0):
                raise ValueError(f"normalization[{name!r}]['std'] must be > 0")
        return cls(mean, std)

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        return {n: {"mean": [float(v) for v in self.mean[n]], "std": [float(v) for v in self.std[n]]}
                for n in INPUT_NAMES}

    def apply(self, video: np.ndarray, ecg_wave: np.ndarray, hrv: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Standardized float32 copies of the three inputs (any leading axes)."""
        out = []
        for name, x in zip(INPUT_NAMES, (video, ecg_wave, hrv), strict=True):
            mean = np.asarray(self.mean[name], np.float32)
            std = np.asarray(self.std[name], np.float32)
            out.append(((np.asarray(x, np.float32) - mean) / std).astype(np.float32, copy=False))
        return out[0], out[1], out[2]


# --- the model ------------------------------------------------------------------------------------------


def session_options() -> ort.SessionOptions:
    """Single-threaded, sequential, fully optimized: scoring must not compete with acquisition."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only
    return options


class SpottingModel:
    """A loaded, validated mespot model; :meth:`score` maps raw feature windows to ME probabilities."""

    def __init__(self, path: Path, session: ort.InferenceSession, spec: FeatureSpec,
                 normalization: Normalization, threshold: float, metadata: dict[str, str]) -> None:
        self.path = path
        self.session = session
        self.spec = spec
        self.normalization = normalization
        self.threshold = threshold
        self.metadata = metadata  # the raw mespot.* strings
        self._shapes = input_shapes(spec)

    @classmethod
    def load(cls, path: str | Path, expected_spec: FeatureSpec) -> SpottingModel:
        """Open and validate a model file; InputFileError with one clear reason when it cannot be used."""
        path = Path(path)
        if not path.is_file():
            raise InputFileError(path, "no such model file")
        try:
            session = ort.InferenceSession(str(path), sess_options=session_options(),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors derive from Exception only
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise InputFileError(path, f"not an ONNX model (or one onnxruntime cannot load): {reason}"
                                 ) from exc
        metadata = {k: v for k, v in session.get_modelmeta().custom_metadata_map.items()
                    if k.startswith(META_PREFIX)}
        missing = [key for key in REQUIRED_METADATA if key not in metadata]
        if missing:
            raise InputFileError(path, f"not a mespot model: metadata missing ({', '.join(missing)})")
        spec = _read_spec(path, metadata, expected_spec)
        _check_format(path, metadata, spec)
        _check_signature(path, session, spec)
        try:
            normalization = Normalization.from_dict(json.loads(metadata[META_NORMALIZATION]), spec)
        except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
            raise InputFileError(path, f"bad {META_NORMALIZATION}: {exc}") from exc
        threshold = _read_float(path, metadata, META_THRESHOLD)
        if not 0.0 <= threshold <= 1.0:
            raise InputFileError(path, f"bad {META_THRESHOLD}: {threshold} is not in [0, 1]")
        return cls(path, session, spec, normalization, threshold, metadata)

    def score(self, video: np.ndarray, ecg_wave: np.ndarray, hrv: np.ndarray) -> np.ndarray:
        """ME probability (B,) float32 of each window; inputs are raw (un-normalized) features."""
        arrays = (np.asarray(video), np.asarray(ecg_wave), np.asarray(hrv))
        batch = arrays[0].shape[0] if arrays[0].ndim else -1
        for name, x in zip(INPUT_NAMES, arrays, strict=True):
            if x.shape != (batch, *self._shapes[name]):
                want = ", ".join(str(n) for n in ("B", *self._shapes[name]))
                raise ValueError(f"{name} has shape {x.shape}; the model wants ({want}) with one B for all")
        if batch == 0:
            return np.zeros(0, np.float32)
        normalized = self.normalization.apply(*arrays)
        feeds = {name: np.ascontiguousarray(x) for name, x in zip(INPUT_NAMES, normalized, strict=True)}
        (scores,) = self.session.run([OUTPUT_NAME], feeds)
        return scores

    def decide(self, scores: np.ndarray) -> np.ndarray:
        """Boolean ME decision of each score, with the stored threshold."""
        return np.asarray(scores) >= self.threshold

    @property
    def model_config(self) -> dict[str, Any]:
        return json.loads(self.metadata[META_MODEL_CONFIG])

    @property
    def trained_on(self) -> dict[str, Any]:
        return json.loads(self.metadata[META_TRAINED_ON])

    @property
    def report(self) -> dict[str, Any] | None:
        text = self.metadata.get(META_REPORT)
        return json.loads(text) if text else None

    @property
    def version(self) -> str:
        return self.metadata[META_VERSION]


RETRAIN_HINT = ("retrain it on annotated sessions with `mespot train --sessions S1 S2 ... --out MODEL.onnx` "
                "(or `mespot train --demo` for the demo model), or spot without a model: `--spotter flow`")


def spec_mismatch_message(model_spec: FeatureSpec, ours: FeatureSpec) -> str:
    """One line naming what differs between the model's features and this mespot's, and what to do."""
    if model_spec.version != ours.version:
        return (f"the model was trained on feature spec version {model_spec.version}, this mespot extracts "
                f"version {ours.version} (facial motion on face-mesh landmarks, AU regions placed on them): "
                + RETRAIN_HINT)
    differing = {line.split(":", 1)[0] for line in model_spec.differences(ours)}
    if differing & {"regions", "layout_digest"}:
        return (f"the model was trained on another face layout (regions {', '.join(model_spec.regions)}; "
                f"layout digest {model_spec.layout_digest}, this mespot's {ours.layout_digest}): "
                + RETRAIN_HINT)
    parts = [f"model expects {f.name} {getattr(model_spec, f.name)!r} but this mespot extracts "
             f"{getattr(ours, f.name)!r}" for f in fields(FeatureSpec) if f.name in differing]
    return ("feature spec differs: " + "; ".join(parts)
            + ". Retrain the model or use a matching mespot version")


def _read_spec(path: Path, metadata: Mapping[str, str], expected: FeatureSpec) -> FeatureSpec:
    try:
        spec = FeatureSpec.from_json(metadata[META_FEATURE_SPEC])
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, f"bad {META_FEATURE_SPEC} ({exc}); the model may come from another "
                                   f"mespot version: retrain or use a matching mespot version") from exc
    if spec != expected:
        raise InputFileError(path, spec_mismatch_message(spec, expected))
    return spec


def _check_format(path: Path, metadata: Mapping[str, str], spec: FeatureSpec) -> None:
    try:
        version = int(metadata[META_FORMAT_VERSION])
    except ValueError as exc:
        raise InputFileError(path, f"bad {META_FORMAT_VERSION}: {metadata[META_FORMAT_VERSION]!r}") from exc
    if version != MODEL_FORMAT_VERSION:
        raise InputFileError(path, f"model file format {version}, this mespot reads {MODEL_FORMAT_VERSION}: "
                                   "use a matching mespot version")
    for key, value in ((META_WINDOW_MS, spec.window_ms), (META_STRIDE_MS, spec.stride_ms)):
        stored = _read_float(path, metadata, key)
        if not math.isclose(stored, value):
            raise InputFileError(path, f"{key} {stored} contradicts the feature spec's {value}")
    for key in (META_MODEL_CONFIG, META_TRAINED_ON):
        try:
            json.loads(metadata[key])
        except ValueError as exc:
            raise InputFileError(path, f"bad {key}: not JSON ({exc})") from exc


def _check_signature(path: Path, session: ort.InferenceSession, spec: FeatureSpec) -> None:
    shapes = input_shapes(spec)
    inputs = {i.name: i for i in session.get_inputs()}
    if set(inputs) != set(INPUT_NAMES):
        raise InputFileError(path, f"model inputs are {', '.join(inputs)}; want {', '.join(INPUT_NAMES)}")
    for name in INPUT_NAMES:
        node = inputs[name]
        shape = list(node.shape)
        if node.type != _FLOAT_TYPE or len(shape) != 1 + len(shapes[name]) \
                or tuple(shape[1:]) != shapes[name]:
            raise InputFileError(path, f"model input {name} is {node.type} {shape}; the spec wants float "
                                       f"[batch, {', '.join(map(str, shapes[name]))}]")
        if isinstance(shape[0], int):
            raise InputFileError(path, f"model input {name} has a fixed batch size {shape[0]}; want dynamic")
    outputs = session.get_outputs()
    if [o.name for o in outputs] != [OUTPUT_NAME] or len(outputs[0].shape) != 1:
        raise InputFileError(path, f"model outputs are {[(o.name, o.shape) for o in outputs]}; "
                                   f"want one {OUTPUT_NAME} [batch]")


def _read_float(path: Path, metadata: Mapping[str, str], key: str) -> float:
    try:
        value = float(json.loads(metadata[key]))
    except (ValueError, TypeError) as exc:
        raise InputFileError(path, f"bad {key}: {metadata[key]!r} is not a number") from exc
    if not math.isfinite(value):
        raise InputFileError(path, f"bad {key}: {value} is not finite")
    return value
