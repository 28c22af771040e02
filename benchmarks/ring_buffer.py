"""Ring buffer write cost per frame against a plain numpy copy of the same frame (goal: ratio <= 1.5).

    .venv/bin/python benchmarks/ring_buffer.py [--seconds 2] [--repeats 2000] [--check]

Cache effects: a 2040x1080 MONO8 frame is 2.2 MB. The ring writes each frame into the next of its
``seconds x fps`` slots (300 x 2.2 MB = 660 MB for 2 s), so every write goes to memory that left the CPU
caches long ago. A numpy copy repeated into ONE destination keeps that destination (and the source) in
the last-level cache and measures a cache-hot copy the ring can never match. The fair baseline therefore
copies into a destination that rotates over as many distinct, prefaulted buffers as the ring has slots;
both ratios are printed, the fair one is the goal. The three measurements run interleaved in small
batches so that clock-frequency drift hits them alike; each figure is the median over ``repeats`` calls.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from acquisition.ring_buffer import RingBuffer
from acquisition.session._format import FRAME_INDEX_DTYPE

GOAL_RATIO = 1.5
FPS = 150.0
FRAME_HEIGHT, FRAME_WIDTH = 1080, 2040
BATCH = 50  # calls of one kind before switching to the next kind
NS_PER_US = 1000.0
SAMPLES_PER_FRAME = 1000 / FPS  # ECG samples (1 kHz) between trigger edges, for realistic stamps


def measure(seconds: float, repeats: int, height: int, width: int) -> tuple[dict[str, float], int]:
    """Median microseconds per call of each kind, and the ring's capacity in frames."""
    ring = RingBuffer.for_frames(seconds, FPS, (height, width))  # prefaulted at construction
    capacity = ring.capacity
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
    rotating = np.ones((capacity, height, width), dtype=np.uint8)  # np.ones touches every page
    hot = np.ones((height, width), dtype=np.uint8)
    record = np.zeros((), dtype=FRAME_INDEX_DTYPE)

    times: dict[str, list[int]] = {"ring": [], "claim_commit": [], "fair": [], "hot": []}
    clock = time.perf_counter_ns
    frame = 0

    def ring_write() -> None:
        nonlocal frame
        record["trigger_pulse"] = frame
        record["ecg_sample"] = round(frame * SAMPLES_PER_FRAME)
        start = clock()
        ring.write(source, record)
        times["ring"].append(clock() - start)
        frame += 1

    def claim_commit() -> None:
        """Ring bookkeeping alone, as with a camera API that fills the claimed slot in place."""
        nonlocal frame
        record["trigger_pulse"] = frame
        record["ecg_sample"] = round(frame * SAMPLES_PER_FRAME)
        start = clock()
        ring.claim()
        ring.commit(record)
        times["claim_commit"].append(clock() - start)
        frame += 1

    def fair_copy(k: int) -> None:
        start = clock()
        np.copyto(rotating[k % capacity], source)
        times["fair"].append(clock() - start)

    def hot_copy() -> None:
        start = clock()
        np.copyto(hot, source)
        times["hot"].append(clock() - start)

    for _ in range(capacity):  # warm-up lap: every slot written once, page tables and TLB settled
        ring.write(source, record)
    copies = 0
    for _ in range(max(repeats // BATCH, 1)):
        for _ in range(BATCH):
            ring_write()
        for _ in range(BATCH):
            claim_commit()
        for _ in range(BATCH):
            fair_copy(copies)
            copies += 1
        for _ in range(BATCH):
            hot_copy()
    return {name: statistics.median(values) / NS_PER_US for name, values in times.items()}, capacity


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="ring length in seconds (at 150 fps)")
    parser.add_argument("--repeats", type=int, default=2000, help="timed calls of each kind")
    parser.add_argument("--height", type=int, default=FRAME_HEIGHT)
    parser.add_argument("--width", type=int, default=FRAME_WIDTH)
    parser.add_argument("--check", action="store_true", help=f"exit 1 if the fair ratio exceeds {GOAL_RATIO}")
    args = parser.parse_args(argv)

    us, capacity = measure(args.seconds, args.repeats, args.height, args.width)
    fair = us["ring"] / us["fair"]
    hot = us["ring"] / us["hot"]
    print(f"frame {args.width}x{args.height} uint8, ring of {capacity} slots, median of {args.repeats} calls")
    print(f"ring write per frame: {us['ring']:.1f} us; numpy copy: {us['fair']:.1f} us; "
          f"ratio: {fair:.2f} (goal <= {GOAL_RATIO})")
    print(f"cache-hot numpy copy (one destination): {us['hot']:.1f} us; ratio: {hot:.2f} (not the goal)")
    print(f"claim + commit (no copy, in-place capture): {us['claim_commit']:.1f} us")
    return 1 if args.check and fair > GOAL_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
