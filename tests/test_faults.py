"""Device-class faults of the recording itself and shutdown: a full disk (a size-limited file) stops the
acquisition with exit 3 and one line naming the path and the free space, keeps what was written readable,
leaves no temporary file; Ctrl-C repeated during shutdown still closes the session."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from acquisition.session import SessionReader
from app.cli import main

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--size", "320x180", "--face-px", "80", "--quiet"]
LIMIT_BYTES = 256 * 2**10  # a file may not grow beyond this: the "disk" fills inside the first chunk file

FULL_DISK = r"""
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1])))
from app.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("faults") / "source"
    assert main(["synth", "--minutes", "0.1", "--seed", "3", "--out", str(out), *SMALL]) == 0
    return out


def record_command(source: Path, out: Path, seconds: float) -> list[str]:
    return ["record", "--set", "camera.driver=mock", "--set", "mock.source=session", "--set",
            f"mock.session={source}", "--duration", f"{seconds:g}", "--out", str(out), "--quiet"]


def test_a_full_disk_is_a_device_fault_that_keeps_what_was_written(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    command = [sys.executable, "-c", FULL_DISK, str(LIMIT_BYTES), *record_command(source, out, 5)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 3, done.stderr[-3000:]
    assert len(lines) == 1 and str(out) in lines[0] and "free there" in lines[0]
    assert "Traceback" not in done.stderr
    reader = SessionReader(out)  # unclosed (session.json could not be rewritten) or closed: readable
    assert len(reader) > 0 and reader.frame(len(reader) - 1).shape == SessionReader(source).frame_shape
    assert not list(out.rglob("*.tmp"))


def test_repeated_ctrl_c_during_shutdown_still_closes_the_session(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "rec"
    process = subprocess.Popen([sys.executable, "-m", "app", *record_command(source, out, 60)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    deadline = time.monotonic() + 60
    while not (out / "frames.idx").exists() or (out / "frames.idx").stat().st_size < 4096:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    for _ in range(8):  # an impatient operator
        process.send_signal(signal.SIGINT)
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr[-2000:]
    summary = json.loads(stdout)
    assert summary["stopped_by"] == "SIGINT"
    reader = SessionReader(out)
    assert reader.metadata.closed and len(reader) == summary["frames_written"] > 0
    assert np.asarray(reader.frame(0)).shape == SessionReader(source).frame_shape


def test_an_unexpected_error_in_the_capture_thread_is_a_camera_fault(source: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture) -> None:
    from acquisition.camera.ximea import XimeaCamera

    grab = XimeaCamera.grab
    calls = {"n": 0}

    def failing_grab(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 60:
            raise ZeroDivisionError("a bug in the driver wrapper")
        return grab(self, *args, **kwargs)

    monkeypatch.setattr(XimeaCamera, "grab", failing_grab)
    code = main(record_command(source, tmp_path / "rec", 20))
    captured = capsys.readouterr()
    assert code == 3
    summary = json.loads(captured.out)
    assert summary["stopped_by"] == "camera fault" and summary["wall_s"] < 15
    assert any("unexpected error (ZeroDivisionError" in f for f in summary["faults"])
    reader = SessionReader(tmp_path / "rec")
    assert reader.metadata.closed and 50 <= len(reader) <= 60
    assert any(e["kind"] == "fault" and e["label"] == "camera lost" for e in reader.events)
