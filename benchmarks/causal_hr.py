"""Causal R-peaks and heart rate (inference.signal.causal) against NeuroKit2's offline processing.

    .venv/bin/python benchmarks/causal_hr.py [--block 7] [--check]

For each real ECG in tests/data the whole recording is fed to :class:`CausalHeartRate` in blocks of
``--block`` samples (7 is one 150 fps video frame at 1 kHz), and compared with ``nk.ecg_process`` run on
the whole signal (after the same polarity check as ``ecg_peaks``; its ``ECG_Rate`` is ``nk.signal_rate``),
and with plain ``nk.ecg_peaks`` on the whole cleaned signal then ``nk.signal_rate`` (``ecg_process`` also
runs NeuroKit's artifact correction, which may move a peak).  Printed per file:

* peaks found causally and by ``ecg_process``, and how many match within 20 ms;
* HR RMSE (bpm) between the HR curve from the causal peaks and the offline HR of ``ecg_process``
  ("RMSE proc") and of ``ecg_peaks`` ("RMSE peaks"), on every sample from ``WARMUP_S`` to ``TAIL_S``
  before the end (the goal: under 1 bpm);
* live RMSE (bpm): the same against the HR a live reader sees at each instant, the rate of the last beat
  confirmed by then (held until the next is confirmed; shows the cost of the confirmation lag);
* median confirmation latency of a beat, and CPU ms per second of ECG (process time, one core).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import neurokit2 as nk
import numpy as np

ROOT = Path(__file__).resolve().parent.parent

from acquisition.readers.ecg_files import read_ecg  # noqa: E402
from inference.signal.causal import CausalHeartRate  # noqa: E402
from inference.signal.ecg import HR_MAX_BPM, HR_MIN_BPM, ecg_clean, ecg_is_inverted  # noqa: E402

DATA = ROOT / "tests" / "data"
FILES: tuple[tuple[Path, float | None, str | None], ...] = (
    (DATA / "ecg" / "ecg_1000hz.csv", 1000.0, None),
    (DATA / "acq" / "physio-5.0.1.acq", None, "EKG - ERS100C"),
    (DATA / "acq" / "r42_test.acq", None, "ECG (.05 - 150 Hz)"),
)
WARMUP_S = 3.0  # left out at the start: the offline rate's first beat gets a mean period, edge effects
TAIL_S = 1.0  # left out at the end: the last beats are not confirmed causally
MATCH_S = 0.020  # peaks closer than this are the same beat
GOAL_RMSE_BPM = 1.0
FRAME_BLOCK = 7  # samples per push: one 150 fps frame at 1 kHz


@dataclass(frozen=True)
class Comparison:
    """Causal against offline on one recording."""

    name: str
    duration_s: float
    causal_peaks: int
    offline_peaks: int
    matched: int
    rmse_bpm: float
    rmse_peaks_bpm: float
    live_rmse_bpm: float
    median_latency_s: float
    cpu_ms_per_s: float


def offline_reference(ecg: np.ndarray, fs: float, process: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """R-peaks and HR per sample of the whole, polarity-corrected signal, from ``nk.ecg_process``
    (``process``) or from ``nk.ecg_peaks`` on ``nk.ecg_clean``'s output and ``nk.signal_rate``."""
    sign = -1.0 if ecg_is_inverted(ecg_clean(ecg, fs), fs) else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if process:
            signals, info = nk.ecg_process(sign * ecg, sampling_rate=fs)
            rate = signals["ECG_Rate"].to_numpy(dtype=np.float64)
            return np.asarray(info["ECG_R_Peaks"], dtype=np.int64), rate
        _, info = nk.ecg_peaks(nk.ecg_clean(sign * ecg, sampling_rate=fs), sampling_rate=fs)
        peaks = np.asarray(info["ECG_R_Peaks"], dtype=np.int64)
        return peaks, np.asarray(nk.signal_rate(peaks, sampling_rate=fs, desired_length=ecg.size))


def run_causal(ecg: np.ndarray, fs: float, block: int) -> tuple[CausalHeartRate, float]:
    """Feed ``ecg`` in blocks of ``block`` samples; return the detector and the process time it took (s)."""
    live = CausalHeartRate(fs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.process_time()
        for begin in range(0, ecg.size, block):
            live.push(ecg[begin : begin + block])
        cpu_s = time.process_time() - started
    return live, cpu_s


def count_matched(found: np.ndarray, truth: np.ndarray, tolerance: int) -> int:
    """Peaks of ``found`` within ``tolerance`` samples of a distinct peak of ``truth``."""
    if found.size == 0 or truth.size == 0:
        return 0
    nearest = np.clip(np.searchsorted(truth, found), 1, truth.size - 1)
    left, right = truth[nearest - 1], truth[nearest]
    closest = np.where(np.abs(found - left) <= np.abs(found - right), left, right)
    hits = np.abs(found - closest) <= tolerance
    return int(np.unique(closest[hits]).size)


def live_rate(live: CausalHeartRate, samples: np.ndarray) -> np.ndarray:
    """HR a live reader sees at each of ``samples``: the last confirmed beat's rate (NaN before two)."""
    peaks, confirmed = live.peaks, live.confirmed_at
    known = np.searchsorted(confirmed, samples, side="right")  # peaks confirmed by each instant
    beat_rate = np.full(peaks.size + 1, np.nan)
    beat_rate[2:] = np.clip(60.0 * live.sampling_rate / np.diff(peaks), HR_MIN_BPM, HR_MAX_BPM)
    return beat_rate[known]


def evaluate(path: Path, sampling_rate: float | None, channel: str | None, block: int) -> Comparison:
    recording = read_ecg(path, sampling_rate, channel)
    ecg, fs = recording.signal, recording.sampling_rate
    offline_peaks, offline_rate = offline_reference(ecg, fs)
    _, peaks_rate = offline_reference(ecg, fs, process=False)
    live, cpu_s = run_causal(ecg, fs, block)
    grid = np.arange(round(WARMUP_S * fs), ecg.size - round(TAIL_S * fs))
    causal_rate = live.rate_curve(0, ecg.size)
    rmse = float(np.sqrt(np.mean((causal_rate[grid] - offline_rate[grid]) ** 2)))
    rmse_peaks = float(np.sqrt(np.mean((causal_rate[grid] - peaks_rate[grid]) ** 2)))
    seen = live_rate(live, grid)
    live_rmse = float(np.sqrt(np.nanmean((seen - offline_rate[grid]) ** 2)))
    duration_s = ecg.size / fs
    return Comparison(
        name=path.name,
        duration_s=duration_s,
        causal_peaks=int(live.peaks.size),
        offline_peaks=int(offline_peaks.size),
        matched=count_matched(live.peaks, offline_peaks, round(MATCH_S * fs)),
        rmse_bpm=rmse,
        rmse_peaks_bpm=rmse_peaks,
        live_rmse_bpm=live_rmse,
        median_latency_s=float(np.median(live.confirmed_at - live.peaks)) / fs,
        cpu_ms_per_s=1000.0 * cpu_s / duration_s,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--block", type=int, default=FRAME_BLOCK, help="samples per push (default 7)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 unless every RMSE < {GOAL_RMSE_BPM}")
    args = parser.parse_args(argv)
    header = (
        f"{'file':<18} {'dur s':>5} {'causal':>6} {'offline':>7} {'match':>5} {'RMSE proc':>9} "
        f"{'RMSE peaks':>10} {'live':>5} {'lat s':>5} {'CPU ms/s':>8}"
    )
    print(f"block = {args.block} samples; RMSE in bpm from {WARMUP_S:g} s to {TAIL_S:g} s before the end")
    print(header)
    ok = True
    for path, rate, channel in FILES:
        c = evaluate(path, rate, channel, args.block)
        ok &= max(c.rmse_bpm, c.rmse_peaks_bpm) < GOAL_RMSE_BPM
        print(
            f"{c.name:<18} {c.duration_s:5.1f} {c.causal_peaks:6d} {c.offline_peaks:7d} {c.matched:5d} "
            f"{c.rmse_bpm:9.3f} {c.rmse_peaks_bpm:10.3f} {c.live_rmse_bpm:5.2f} {c.median_latency_s:5.2f} "
            f"{c.cpu_ms_per_s:8.2f}"
        )
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
