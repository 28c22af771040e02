"""Mock acquisition at 150 fps, 2040x1080 MONO8, ECG at 1 kHz through the trigger box mock, recorder on.

    .venv/bin/python benchmarks/acquisition_pipeline.py [--seconds 60] [--write-seconds 10] [--out DIR]

Prints: frames dropped, ECG samples lost, worst sync error (frames), CPU used by the acquisition side
(capture, ECG and NDT reader threads, recorder) apart from the mock devices, ring write cost per frame
against a plain numpy copy, and the recorder's full-frame write rate in MB/s.

The mock devices run in the same process in their own threads (AcqKnowledge emulator, trigger box on a
pseudo-terminal); the mock camera renders its frames inside ``get_image`` on the capture thread, so that
rendering time (measured by the mock) is subtracted from the capture thread's CPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

# this file is named like the `acquisition` package: run from benchmarks/, keep the package importable
from acquisition.recorder import Recorder
from acquisition.session import FRAME_INDEX_DTYPE, SessionWriter
from app.config import load_config
from app.devices import build_acquisition, mock_lab, session_metadata

HERE = Path(__file__).resolve().parent


def _ring_benchmark():
    """The ring buffer micro-benchmark beside this file (benchmarks/ring_buffer.py)."""
    spec = importlib.util.spec_from_file_location("ring_benchmark", HERE / "ring_buffer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ACQUISITION_THREADS = ("capture", "ecg", "ndt-reader", "recorder")
GOALS = {"frames dropped": 0, "ECG samples lost": 0, "worst sync error (frames)": 0}
CPU_GOAL_PERCENT = 50.0
RING_GOAL = 1.5


def thread_cpu_s(native_id: int) -> float:
    """User + system CPU seconds of one thread of this process."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def acquisition_threads() -> dict[str, int]:
    return {t.name: t.native_id for t in threading.enumerate()
            if t.name in ACQUISITION_THREADS and t.native_id is not None}


def run_acquisition(seconds: float, workdir: Path) -> dict[str, float]:
    config = load_config(None, ["camera.driver=mock", f"mock.synth_minutes={max(seconds / 60, 0.1):.3f}",
                                "mock.speed=1"])
    with mock_lab(config, workdir / "sources") as setup:
        cfg = replace(setup.config, recording=replace(setup.config.recording, fsync_interval_s=5.0))
        acquisition = build_acquisition(cfg)
        acquisition.open()
        writer = SessionWriter(workdir / "recorded", session_metadata(cfg, "live"), overwrite=True)
        recorder = Recorder(acquisition, writer, fsync_interval_s=cfg.recording.fsync_interval_s)
        recorder.start()
        acquisition.start()
        time.sleep(1.0)  # settle; CPU is counted from here
        threads = acquisition_threads()
        cpu0 = {name: thread_cpu_s(tid) for name, tid in threads.items()}
        mock_render0 = setup.lab.optics.cpu_s
        frames0 = acquisition.status().frames
        wall0 = time.monotonic()
        while time.monotonic() - wall0 < seconds - 1.0 and not setup.done(acquisition):
            time.sleep(0.1)
        wall = time.monotonic() - wall0
        cpu = {name: thread_cpu_s(tid) - cpu0[name] for name, tid in threads.items()}
        mock_render = setup.lab.optics.cpu_s - mock_render0
        acquisition.stop()
        stats = recorder.stop()
    status = acquisition.status()
    acquisition_cpu = sum(cpu.values()) - mock_render
    return {
        "frames": status.frames,
        "pulses": status.pulses_seen,
        "frames dropped": status.frames_dropped + stats.frames_lost_by_recorder,
        "ECG samples lost": status.ecg_lost + stats.ecg_lost_by_recorder,
        "worst sync error (frames)": status.worst_sync_error_frames,
        "cpu_percent": 100.0 * acquisition_cpu / wall,
        "cpu_by_thread": {k: round(100.0 * v / wall, 1) for k, v in cpu.items()},
        "mock_render_percent": 100.0 * mock_render / wall,
        "fps": (status.frames - frames0) / wall,
        "frames_written": stats.frames_written,
        "faults": status.faults,
    }


def full_frame_write_rate(seconds: float, workdir: Path) -> float:
    """MB/s of SessionWriter appending full 2040x1080 frames (fsync included) for ``seconds``."""
    config = load_config(None, ["recording.store=full"])
    meta = session_metadata(config, "live")
    shape = meta.video.frame_shape
    frames = np.random.default_rng(0).integers(0, 256, size=(8, *shape), dtype=np.uint8)
    index = np.zeros(1, dtype=FRAME_INDEX_DTYPE)
    written = 0
    with SessionWriter(workdir / "full-frames", meta, overwrite=True) as writer:
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            index["trigger_pulse"] = index["ecg_sample"] = written
            writer.append_frames(frames[written % len(frames)], index)
            written += 1
        writer.flush_to_disk()
        elapsed = time.monotonic() - start
    shutil.rmtree(workdir / "full-frames")
    return written * frames[0].nbytes / elapsed / 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the mock acquisition")
    parser.add_argument("--write-seconds", type=float, default=10.0, help="length of the write-rate test")
    parser.add_argument("--out", type=Path, help="work directory (default: a temporary one)")
    args = parser.parse_args(argv)
    workdir = args.out or Path(tempfile.mkdtemp(prefix="mespot-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)

    print(f"mock acquisition: {args.seconds:g} s at 150 fps, 2040x1080 MONO8, ECG 1 kHz, recorder on "
          "(face region)", flush=True)
    result = run_acquisition(args.seconds, workdir)
    print(f"  frames captured: {result['frames']} of {result['pulses']} pulses ({result['fps']:.1f} fps)")
    ok = True
    for name, goal in GOALS.items():
        print(f"  {name}: {result[name]} (goal {goal})")
        ok &= result[name] == goal
    print(f"  CPU of the acquisition side: {result['cpu_percent']:.1f}% of one core "
          f"(goal < {CPU_GOAL_PERCENT:g}%); by thread {result['cpu_by_thread']}, mock camera rendering "
          f"{result['mock_render_percent']:.1f}% subtracted")
    ok &= result["cpu_percent"] < CPU_GOAL_PERCENT
    if result["faults"]:
        print(f"  faults: {result['faults']}")

    us, _ = _ring_benchmark().measure(2.0, 1000, 1080, 2040)
    ratio = us["ring"] / us["fair"]
    print(f"ring write per frame: {us['ring']:.1f} us; plain numpy copy: {us['fair']:.1f} us; "
          f"ratio {ratio:.2f} (goal <= {RING_GOAL})")
    ok &= ratio <= RING_GOAL

    rate = full_frame_write_rate(args.write_seconds, workdir)
    print(f"recorder full-frame write rate over {args.write_seconds:g} s: {rate:.0f} MB/s "
          f"(150 fps full frames need {2040 * 1080 * 150 / 1e6:.0f} MB/s)")
    if args.out is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print("all goals met" if ok else "some goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
