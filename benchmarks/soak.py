"""Memory over a long live session: `mespot live` on the mock lab (150 fps, the demo session's face region
played back to back, engine and recorder on) for ``--minutes``; prints the process's RSS, mapped size and map
count at start and end, and their slopes (goal: flat, RSS < 1 MB per minute), and the frames dropped.

    .venv/bin/python benchmarks/soak.py [--minutes 60] [--interval-s 10]

The recorder writes the whole session (38 MB/s of face region); to fit an hour on this disk the harness
deletes completed chunk files of the recording as it goes (the newest ones, still being written, are left
alone). The recorder's memory does not depend on what is on disk, so the figures are those of a full run.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from acquisition.session import SessionReader
from app.commands.demo import DEFAULT_DEMO_DIR, ensure_demo_session

SLOPE_GOAL_MB_PER_MIN = 1.0
WARMUP_FRACTION = 0.1  # start-up (model, rings, first maps) is left out of the slope
KEEP_CHUNKS = 3  # newest chunk files of the recording left in place (one is being written)
STOP_GRACE_S = 60.0


def sample(pid: int) -> tuple[float, float, int]:
    """(RSS MB, mapped MB, number of maps) of a process, from /proc."""
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    mapped = count = 0
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            lo, hi = line.split(maxsplit=1)[0].split("-")
            mapped += int(hi, 16) - int(lo, 16)
            count += 1
    return rss_kb / 1024.0, mapped / 2**20, count


def prune_chunks(session: Path) -> int:
    chunks = sorted((session / "frames").glob("chunk-*"))
    for path in chunks[:-KEEP_CHUNKS]:
        path.unlink(missing_ok=True)
    return max(0, len(chunks) - KEEP_CHUNKS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval-s", type=float, default=10.0, help="time between memory samples")
    args = parser.parse_args(argv)
    if not (math.isfinite(args.minutes) and args.minutes > 0 and args.interval_s > 0):
        print("benchmarks/soak.py: --minutes and --interval-s must be positive", file=sys.stderr)
        return 2
    demo = ensure_demo_session(DEFAULT_DEMO_DIR)
    source_s = SessionReader(demo).ecg_sample_count / 1000.0
    duration_s = args.minutes * 60.0
    loops = math.ceil(duration_s / source_s) + 1
    workdir = Path(tempfile.mkdtemp(prefix="mespot-soak-"))
    out = workdir / "session"
    settings = ["camera.driver=mock", "mock.source=session", f"mock.session={demo}", f"mock.loops={loops}"]
    command = [sys.executable, "-m", "app", "live", *(x for s in settings for x in ("--set", s)),
               "--duration", f"{duration_s:g}", "--record", str(out), "--no-acq-events", "--quiet"]
    print(f"soak: mespot live on the mock lab for {args.minutes:g} min (demo session x {loops}, 150 fps, "
          f"engine and recorder on), memory every {args.interval_s:g} s", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    times, rows, pruned = [], [], 0
    try:
        while process.poll() is None:
            try:
                rows.append(sample(process.pid))
                times.append((time.monotonic() - started) / 60.0)
            except (OSError, StopIteration):
                break  # the process is ending
            pruned += prune_chunks(out)
            time.sleep(args.interval_s)
        stdout, stderr = process.communicate(timeout=duration_s + STOP_GRACE_S)
    finally:
        if process.poll() is None:
            process.kill()
    if process.returncode != 0 or len(rows) < 2:
        print(f"benchmarks/soak.py: mespot live ended with exit code {process.returncode} after "
              f"{len(rows)} samples: {stderr.strip().splitlines()[-1:] or ''}", file=sys.stderr)
        return 1
    summary = json.loads(stdout)["acquisition"]
    t = np.asarray(times)
    data = np.asarray(rows, dtype=float)
    steady = t >= WARMUP_FRACTION * t[-1]
    if steady.sum() < 2:
        steady[:] = True
    slopes = [float(np.polyfit(t[steady], data[steady, k], 1)[0]) if np.ptp(t[steady]) > 0 else 0.0
              for k in range(3)]
    first = int(np.flatnonzero(steady)[0])
    for label, k, unit in (("RSS", 0, "MB"), ("mapped", 1, "MB"), ("maps", 2, "")):
        print(f"{label:7s} start {data[first, k]:9.1f} {unit:2s} end {data[-1, k]:9.1f} {unit:2s} "
              f"slope {slopes[k]:+.3f} {unit or 'maps'}/min (after the first {WARMUP_FRACTION:.0%})")
    print(f"frames {summary['frames']}, dropped {summary['frames_dropped']}, written "
          f"{summary['frames_written']}; {pruned} completed chunk files deleted by the harness")
    ok = slopes[0] < SLOPE_GOAL_MB_PER_MIN and summary["frames_dropped"] == 0
    print(f"goal: RSS slope < {SLOPE_GOAL_MB_PER_MIN:g} MB/min and 0 frames dropped: "
          + ("met" if ok else "NOT met"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
