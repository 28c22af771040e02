"""The demo model's training time, and whether the documented command reproduces the bundled model.

    .venv/bin/python benchmarks/demo_training.py [--workdir build/training-data]

Runs `mespot train --demo` into a temporary file (the synthetic sessions' features are cached in
``--workdir``; the first run builds them, a few minutes more), prints its wall time (goal < 30 min here),
then compares the new model with the bundled one: largest weight difference over the ONNX initializers, and
the report's best epoch, validation AUC, threshold and validation ME F1. Training is deterministic for a given
seed and machine; on another CPU the same seed may give other weights.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from app.cli import main
from app.commands.train import DEFAULT_WORKDIR
from models.demo import DEMO_MODEL, DEMO_REPORT

HERE = Path(__file__).resolve().parent

TRAINING_GOAL_S = 30 * 60.0
COMPARED = ("best_epoch", "val_auc", "threshold", "val_interval_me_f1")


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {i.name: numpy_helper.to_array(i) for i in onnx.load(str(path)).graph.initializer}


def main_benchmark(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="feature cache")
    args = parser.parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="mespot-training-bench-")) / "demo-again.onnx"
    started = time.monotonic()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", "--demo", "--workdir", str(args.workdir), "--out", str(out), "--quiet"])
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"mespot train --demo failed with exit code {code}")
    report = json.loads(out.with_suffix(".report.json").read_text())
    print(f"mespot train --demo: {wall / 60:.1f} min wall (recipe training "
          f"{report['recipe_train_seconds']:.0f} s; goal < {TRAINING_GOAL_S / 60:.0f} min)")

    bundled, again = initializers(DEMO_MODEL), initializers(out)
    if bundled.keys() != again.keys():
        print("the retrained model's graph differs from the bundled one's (other code or model config)")
        return 1
    diff = max((float(np.max(np.abs(bundled[k] - again[k]))) for k in bundled if bundled[k].size),
               default=0.0)
    print(f"weights: {len(bundled)} initializers, largest difference to the bundled model {diff:.3g}")
    bundled_report = json.loads(DEMO_REPORT.read_text())
    same = True
    for key in COMPARED:
        equal = bundled_report[key] == report[key]
        same &= equal
        print(f"{key}: bundled {bundled_report[key]}, again {report[key]}{'' if equal else '  (differs)'}")
    same &= bundled_report["history"] == report["history"]
    ok = wall < TRAINING_GOAL_S and diff == 0.0 and same
    print("reproduced, within the time goal" if ok else "NOT reproduced, or over the time goal")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main_benchmark())
