"""Convert MediaPipe's face detector and face mesh (TFLite files inside the ``mediapipe==0.10.21`` wheel) to
the ONNX files in this folder, once. Not used at run time: the app runs the ONNX files on onnxruntime.

Run in a throwaway environment (TensorFlow is needed by tf2onnx only here)::

    python -m venv /tmp/convert && /tmp/convert/bin/pip install tensorflow-cpu tf2onnx onnx onnxruntime \
        ai-edge-litert "opencv-python-headless<5"
    /tmp/convert/bin/pip download --no-deps mediapipe==0.10.21 -d /tmp/convert/wheel
    /tmp/convert/bin/python models/face/convert_mediapipe.py /tmp/convert/wheel/mediapipe-0.10.21-*.whl

Steps: the two ``.tflite`` files are read out of the wheel (the package itself is never installed: it pins
numpy < 2), converted by tf2onnx (opset 17), and every ``PRelu`` is rewritten as
``Relu(x) * (1 - slope) + x * slope``, which is exact and about twice as fast on onnxruntime's CPU kernels
(PRelu with a per-channel slope is not vectorized there). Each converted model is checked against the TFLite
original on ai-edge-litert (largest output difference printed; the script fails above ``TOLERANCE``).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

HERE = Path(__file__).parent
MODELS = {  # wheel member -> ONNX file written here
    "mediapipe/modules/face_landmark/face_landmark.tflite": "face_landmark.onnx",
    "mediapipe/modules/face_detection/face_detection_short_range.tflite": "face_detection_short_range.onnx",
}
LICENSE_MEMBER = "mediapipe-0.10.21.dist-info/LICENSE"
OPSET = 17
TOLERANCE = 1e-3  # largest absolute output difference allowed against the TFLite original


def rewrite_prelu(model: onnx.ModelProto) -> onnx.ModelProto:
    """PRelu(x, s) -> Relu(x) * (1 - s) + x * s, for constant slopes."""
    initializers = {i.name: i for i in model.graph.initializer}
    nodes = []
    for node in model.graph.node:
        if node.op_type != "PRelu" or node.input[1] not in initializers:
            nodes.append(node)
            continue
        slope = numpy_helper.to_array(initializers[node.input[1]]).astype(np.float32)
        keep = f"{node.name}_one_minus_slope"
        model.graph.initializer.append(numpy_helper.from_array(1.0 - slope, keep))
        x, out = node.input[0], node.output[0]
        nodes += [
            helper.make_node("Relu", [x], [f"{out}_relu"]),
            helper.make_node("Mul", [f"{out}_relu", keep], [f"{out}_pos"]),
            helper.make_node("Mul", [x, node.input[1]], [f"{out}_neg"]),
            helper.make_node("Add", [f"{out}_pos", f"{out}_neg"], [out]),
        ]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx.checker.check_model(model)
    return model


def max_difference(tflite_path: Path, onnx_path: Path) -> float:
    """Largest absolute difference between the two models' outputs on random input in [0, 1]."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(str(tflite_path), num_threads=1)
    interpreter.allocate_tensors()
    detail = interpreter.get_input_details()[0]
    x = np.random.default_rng(0).random(tuple(detail["shape"]), dtype=np.float32)
    interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, {session.get_inputs()[0].name: x})
    names = [o.name for o in session.get_outputs()]
    reference = {d["name"]: interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()}
    return max(float(np.abs(reference[n] - o).max()) for n, o in zip(names, outputs, strict=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path, help="mediapipe-0.10.21-*.whl")
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    print(f"wheel {args.wheel.name} sha256 {hashlib.sha256(args.wheel.read_bytes()).hexdigest()}")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(args.wheel) as wheel:
        (args.out / "LICENSE.mediapipe.txt").write_bytes(wheel.read(LICENSE_MEMBER))
        for member, name in MODELS.items():
            tflite = Path(tmp) / Path(member).name
            tflite.write_bytes(wheel.read(member))
            raw = Path(tmp) / name
            subprocess.run([sys.executable, "-m", "tf2onnx.convert", "--tflite", str(tflite), "--output",
                            str(raw), "--opset", str(OPSET)], check=True, capture_output=True)
            model = rewrite_prelu(onnx.load(raw))
            model.doc_string = f"{member} from mediapipe 0.10.21 (Apache-2.0), converted by tf2onnx"
            out = args.out / name
            onnx.save(model, out)
            difference = max_difference(tflite, out)
            print(f"{member}: sha256 {hashlib.sha256(tflite.read_bytes()).hexdigest()} -> {out} "
                  f"({out.stat().st_size} bytes), largest output difference {difference:.2e}")
            if difference > TOLERANCE:
                print(f"{name}: the converted model differs from the original", file=sys.stderr)
                return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
