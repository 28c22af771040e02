"""Batch-1 CMCL-Net scoring latency on onnxruntime, single-threaded (goal: p99 < 5 ms).

    .venv/bin/python benchmarks/onnx_latency.py [MODEL.onnx] [--repeats 2000] [--warmup 200] [--check]

Without a model argument it uses the bundled ``models/cmcl-net-demo.onnx`` when present, else exports a
randomly initialized CMCL-Net (default ``ModelConfig``, default ``FeatureSpec`` with
``--video-channels`` channels) to a temporary file (that path needs torch). Each call goes through
``SpottingModel.score``, normalization included, on fresh realistic random raw inputs (drawn from the
model's stored normalization, so the graph sees standardized values). ``--check`` exits 1 when p99
misses the goal.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from inference.features.spec import FeatureSpec
from inference.runtime import INPUT_NAMES, Normalization, SpottingModel, input_shapes

GOAL_P99_MS = 5.0
DEMO_MODEL = Path(__file__).resolve().parent.parent / "models" / "cmcl-net-demo.onnx"
DEFAULT_VIDEO_CHANNELS = 48  # only for the random model when no file is given
INPUT_POOL = 64  # distinct random windows cycled through the timed calls
NS_PER_MS = 1e6


def random_model(path: Path, video_channels: int) -> Path:
    """Export a randomly initialized CMCL-Net with the default configs to ``path``."""
    import torch  # training extra only: the runtime itself never needs torch

    from models.cmcl_net import CmclNet, ModelConfig
    from models.export import export_onnx

    spec = FeatureSpec() if FeatureSpec().video_channels else dataclasses.replace(
        FeatureSpec(), video_channels=video_channels)
    torch.manual_seed(0)
    export_onnx(CmclNet(spec, ModelConfig()), spec, path, normalization=Normalization.identity().to_dict(),
                threshold=0.5, trained_on={"data": "none (random weights, benchmark)"})
    return path


def stored_spec(path: Path) -> FeatureSpec:
    """The model's own feature spec (the benchmark measures any model, whatever its spec)."""
    import onnxruntime as ort

    from inference.runtime import META_FEATURE_SPEC

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta()
    return FeatureSpec.from_json(meta.custom_metadata_map[META_FEATURE_SPEC])


def measure(model: SpottingModel, repeats: int, warmup: int) -> np.ndarray:
    """Milliseconds of each of ``repeats`` batch-1 ``score`` calls after ``warmup`` untimed ones."""
    rng = np.random.default_rng(0)
    shapes = input_shapes(model.spec)
    norm = model.normalization
    pool = [tuple((rng.standard_normal((1, *shapes[n])) * norm.std[n] + norm.mean[n]).astype(np.float32)
                  for n in INPUT_NAMES) for _ in range(INPUT_POOL)]
    for i in range(warmup):
        model.score(*pool[i % INPUT_POOL])
    times = np.empty(repeats)
    clock = time.perf_counter_ns
    for i in range(repeats):
        inputs = pool[i % INPUT_POOL]
        start = clock()
        model.score(*inputs)
        times[i] = clock() - start
    return times / NS_PER_MS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", type=Path,
                        help=f"model file (default {DEMO_MODEL.name}, else a random one)")
    parser.add_argument("--repeats", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--video-channels", type=int, default=DEFAULT_VIDEO_CHANNELS)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if p99 >= {GOAL_P99_MS} ms")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.model or (DEMO_MODEL if DEMO_MODEL.is_file() else None)
        if path is None:
            print("no model given and no bundled demo model: exporting a random CMCL-Net", file=sys.stderr)
            path = random_model(Path(tmp) / "cmcl-net-random.onnx", args.video_channels)
        model = SpottingModel.load(path, stored_spec(path))
        ms = measure(model, args.repeats, args.warmup)
        size = path.stat().st_size

    p50, p99 = np.percentile(ms, [50, 99])
    verdict = "ok" if p99 < GOAL_P99_MS else "MISSED"
    print(f"model {path.name}: {size / 1e6:.2f} MB, config {model.model_config}")
    print(f"batch-1 score over {args.repeats} calls (1 thread): p50 {p50:.3f} ms, p99 {p99:.3f} ms, "
          f"max {ms.max():.3f} ms (goal p99 < {GOAL_P99_MS} ms: {verdict})")
    return 1 if args.check and p99 >= GOAL_P99_MS else 0


if __name__ == "__main__":
    sys.exit(main())
