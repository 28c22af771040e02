"""Every benchmark script starts as a script (its own folder first on sys.path, where a script named like one
of mespot's packages would hide it) and prints its figures at a tiny size, so none rots. The one exception is
``demo_training.py``: it is the demo recipe's full training run (tens of minutes), so only its start is
checked here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
PACKAGES = ("acquisition", "app", "inference", "models", "hardware_mocks", "tests")
TIMEOUT_S = 120


def _run(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=TIMEOUT_S, cwd=BENCHMARKS.parent)


def test_no_benchmark_is_named_like_a_package() -> None:
    assert SCRIPTS
    assert not [s.name for s in SCRIPTS if s.stem in PACKAGES]


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_a_benchmark_starts(script: Path) -> None:
    done = _run(script, "--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")


@pytest.mark.parametrize(("name", "args", "figure"), [
    ("ring_buffer", ("--seconds", "0.2", "--repeats", "1"), "ring write per frame:"),
    ("onnx_latency", ("--repeats", "20", "--warmup", "2"), "batch-1 score over 20 calls"),
    ("video_features", ("--frames", "40"), "ms per frame mean"),
    ("acquisition_pipeline", ("--seconds", "1", "--write-seconds", "1"), "write rate"),
    ("causal_hr", (), "physio-5.0.1.acq"),
    ("gui", ("--seconds", "2"), "paint events"),
    ("landmarks", (), "face mesh (onnxruntime, 1 thread)"),
    ("spotting", ("--repeat", "1", "--full-seconds", "1", "--live-seconds", "2"), "CPU share at live"),
    ("soak", ("--minutes", "0.2", "--interval-s", "1"), "RSS"),
])
def test_a_quick_benchmark_prints_its_figures_at_a_tiny_size(name: str, args: tuple[str, ...],
                                                              figure: str) -> None:
    done = _run(BENCHMARKS / f"{name}.py", *args)
    # exit 1 is a goal missed (likely at a tiny size, on a busy machine); a crash is a traceback
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert figure in done.stdout


def test_the_dlib_comparison_says_what_to_install_where_dlib_is_absent() -> None:
    import importlib.util

    if importlib.util.find_spec("dlib") and importlib.util.find_spec("face_recognition_models"):
        pytest.skip("dlib is installed here: the comparison would run in full")
    done = _run(BENCHMARKS / "landmarks.py", "--dlib")
    assert done.returncode == 2
    assert "pip install dlib-bin face-recognition-models" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
