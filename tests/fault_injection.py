"""SIGKILL at random moments of `mespot record` (mock lab): every session must open and replay to its end,
and lose at most one chunk of frames.

    .venv/bin/python -m tests.fault_injection [--kills 20] [--seed 0]

Frames lost by a kill: the trigger edges recorded in the session's ECG (the pulses the camera exposed while
the process lived) minus the frames stored; the recorder writes ECG and frames in the same batches, so the
difference is what was in flight. ``tests/test_fault_injection.py`` runs a few kills in the suite.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from acquisition.session import SessionReader
from acquisition.sync import rising_edges

ROOT = Path(__file__).resolve().parent.parent
KILL_WINDOW_S = (0.3, 4.0)  # after the first frame is on disk
START_TIMEOUT_S = 60.0
REPLAY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class KillResult:
    after_s: float
    frames: int
    pulses: int
    lost: int
    chunk: int
    opened: bool
    replay_code: int | None  # None: the replay hung
    replay_frames: int

    @property
    def ok(self) -> bool:
        return self.opened and self.replay_code in (0, 3) and self.lost <= self.chunk and \
            self.replay_frames == self.frames


def make_source(work: Path) -> Path:
    out = work / "source"
    command = [sys.executable, "-m", "app", "synth", "--minutes", "0.15", "--size", "320x180",
               "--face-px", "80", "--seed", "9", "--out", str(out), "--quiet"]
    subprocess.run(command, check=True, cwd=ROOT, timeout=300, capture_output=True)
    return out


def kill_once(source: Path, out: Path, after_s: float) -> KillResult:
    command = [sys.executable, "-m", "app", "record", "--set", "camera.driver=mock", "--set",
               "mock.source=session", "--set", f"mock.session={source}", "--out", str(out), "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ((out / "frames.idx").exists() and (out / "frames.idx").stat().st_size > 0):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("mespot record did not start")
        time.sleep(0.02)
    time.sleep(after_s)
    process.send_signal(signal.SIGKILL)
    process.wait()
    try:
        reader = SessionReader(out)
    except Exception:
        return KillResult(after_s, 0, 0, 0, 0, False, None, 0)
    trigger = reader.trigger_channel()
    threshold = reader.metadata.trigger.threshold
    pulses = len(rising_edges(np.asarray(trigger), threshold)) if trigger is not None else 0
    frames = len(reader)
    chunk = reader.metadata.video.frames_per_chunk
    try:
        replay = [sys.executable, "-m", "app", "replay", str(out), "--no-engine", "--speed", "max", "--quiet"]
        done = subprocess.run(replay, capture_output=True, text=True, timeout=REPLAY_TIMEOUT_S, cwd=ROOT)
        code = done.returncode
        replayed = json.loads(done.stdout)["acquisition"]["frames"] if code in (0, 3) and done.stdout else 0
    except subprocess.TimeoutExpired:
        code, replayed = None, 0
    return KillResult(after_s, frames, pulses, max(0, pulses - frames), chunk, True, code, replayed)


def run(kills: int, seed: int, work: Path) -> list[KillResult]:
    rng = np.random.default_rng(seed)
    source = make_source(work)
    return [kill_once(source, work / f"kill-{i:02d}", float(rng.uniform(*KILL_WINDOW_S)))
            for i in range(kills)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="mespot-kills-"))
    results = run(args.kills, args.seed, work)
    print("| kill | after (s) | frames stored | pulses recorded | frames lost | opens | replay exit | "
          "replayed |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for i, r in enumerate(results):
        print(f"| {i} | {r.after_s:.2f} | {r.frames} | {r.pulses} | {r.lost} | {r.opened} | "
              f"{r.replay_code} | {r.replay_frames} |")
    lost = np.array([r.lost for r in results])
    print(f"{len(results)} kills: frames lost per kill median {np.median(lost):.0f}, max {lost.max()} "
          f"(goal <= one chunk, {results[0].chunk} frames); every session opens: "
          f"{all(r.opened for r in results)}; every replay ends by itself with all stored frames: "
          f"{all(r.replay_code in (0, 3) and r.replay_frames == r.frames for r in results)}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
