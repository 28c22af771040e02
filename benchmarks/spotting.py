"""The whole pipeline (mock devices -> acquisition -> engine -> alerts): replay throughput at maximum speed,
alert latency and CPU share at live 150 fps.

    .venv/bin/python benchmarks/spotting.py [--model models/cmcl-net-demo.onnx | --spotter flow]
        [--full-seconds 6]

Video features include the face mesh (landmarks every ``landmark_period_ms``) and the aligned crops.

1. Replay of the demo session (one minute, 150 fps, face region read out by the camera) at maximum speed:
   throughput as a multiple of real time, from the devices' start to the last alert (goal >= 10x on this
   2-core machine), and end to end with start-up (model, ring buffers, devices) and the report PNG.
2. The same for a session stored as full 2040x1080 frames (shorter: they are 330 MB/s).
3. Replay of the demo session in real time (live mock mode): alert latency from the apex frame's arrival to
   the alert (p50, p95; goal p95 <= 1.5 s) and the process's CPU share (goal < 60% of the machine, mock
   devices included).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from app.cli import main
from app.commands.demo import DEFAULT_DEMO_DIR, ensure_demo_session
from models.demo import DEMO_MODEL

THROUGHPUT_GOAL = 10.0
LATENCY_GOAL_S = 1.5
CPU_GOAL = 0.60


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def replay(session: Path, spotter: list[str], speed: str, workdir: Path, seconds: float | None = None
           ) -> tuple[dict, float, float]:
    out = workdir / f"replay-{speed}.json"
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    saved = sys.stdout
    limit = ["--duration", f"{seconds:g}"] if seconds else []
    with out.open("w") as sys.stdout:
        code = main(["replay", str(session), *spotter, "--speed", speed, *limit, "--quiet"])
    sys.stdout = saved
    wall, cpu = time.monotonic() - wall0, cpu_seconds() - cpu0
    if code not in (0, 3):
        raise SystemExit(f"replay failed with exit code {code}")
    return json.loads(out.read_text()), wall, cpu


def main_benchmark(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, default=DEMO_MODEL)
    which.add_argument("--spotter", choices=("flow",), help="the training-free spotter instead of a model")
    parser.add_argument("--full-seconds", type=float, default=6.0, help="length of the full-frame session")
    parser.add_argument("--repeat", type=int, default=5, help="replays at maximum speed (the median counts)")
    parser.add_argument("--live-seconds", type=float, help="live (1x) replay length (default: all)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="mespot-spotting-bench-"))
    ok = True

    demo = ensure_demo_session(DEFAULT_DEMO_DIR)
    spotter = ["--spotter", args.spotter] if args.spotter else ["--model", str(args.model)]
    print(f"spotter: {' '.join(spotter)}")
    runs = [replay(demo, spotter, "max", workdir) for _ in range(args.repeat)]
    factors = sorted(summary["realtime_factor"] for summary, _, _ in runs)
    summary, wall, _ = runs[0]
    duration = summary["acquisition"]["ecg_samples"] / 1000.0
    speedup = float(np.median(factors))
    print(f"replay at max speed, face region ({demo}): {duration:.1f} s of recording played and spotted at "
          f"{speedup:.1f}x real time, median of {len(runs)} runs ({factors[0]:.1f}-{factors[-1]:.1f}x; goal "
          f">= {THROUGHPUT_GOAL:g}x); {duration / wall:.1f}x counting start-up and the report "
          f"({wall:.1f} s); frames dropped {max(r[0]['acquisition']['frames_dropped'] for r in runs)}")
    ok &= speedup >= THROUGHPUT_GOAL

    full = workdir / "full-frames"
    main(["synth", "--minutes", f"{args.full_seconds / 60:.4f}", "--seed", "7", "--full-frame", "--out",
          str(full), "--quiet"])
    summary_full, wall_full, _ = replay(full, spotter, "max", workdir)
    duration_full = summary_full["acquisition"]["ecg_samples"] / 1000.0
    print(f"replay at max speed, full 2040x1080 frames: {duration_full:.1f} s in "
          f"{summary_full['processing_s']:.1f} s = {summary_full['realtime_factor']:.1f}x real time; "
          f"{duration_full / wall_full:.1f}x counting start-up ({wall_full:.1f} s)")

    summary_live, wall_live, cpu_live = replay(demo, spotter, "1", workdir, args.live_seconds)
    spotting = summary_live["spotting"]
    latency = spotting.get("alert_latency_s", {})
    share = cpu_live / wall_live / os.cpu_count()
    print(f"live mock mode (1x, {wall_live:.1f} s): {spotting['alerts']} alerts, latency apex -> alert "
          f"p50 {latency.get('p50', float('nan')):.3f} s, p95 {latency.get('p95', float('nan')):.3f} s "
          f"(goal p95 <= {LATENCY_GOAL_S:g} s); frames dropped "
          f"{summary_live['acquisition']['frames_dropped']}")
    print(f"CPU share at live 150 fps: {100 * share:.1f}% of the machine ({os.cpu_count()} cores; "
          f"mock devices included; goal < {100 * CPU_GOAL:g}%)")
    ok &= latency.get("p95", float("inf")) <= LATENCY_GOAL_S and share < CPU_GOAL
    ok &= summary_live["acquisition"]["frames_dropped"] == 0
    print("all goals met" if ok else "some goals NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main_benchmark())
