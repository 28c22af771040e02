"""`mespot inspect PATH`: summarize a session directory, or an ECG file (.acq / .csv / .npy)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from acquisition.readers.ecg_files import list_acq_channels, read_ecg
from acquisition.session import SessionReader
from inference.signal.ecg import ecg_peaks


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="summarize a session or an ECG file")
    parser.add_argument("path", type=Path, help="session directory, or .acq / .csv / .npy ECG file")
    parser.add_argument("--channel", help="ECG channel name (ECG files)")
    parser.add_argument("--rate", type=float, help="sampling rate (CSV/NPY without a time column)")
    parser.add_argument("--skip-bad-markers", action="store_true",
                        help="read an .acq file whose marker table is corrupt, without its markers")
    return parser


def ecg_summary(args: argparse.Namespace) -> dict[str, Any]:
    recording = read_ecg(args.path, sampling_rate=args.rate, channel=args.channel,
                         markers="skip" if args.skip_bad_markers else "strict")
    signal = np.nan_to_num(recording.signal)
    peaks = ecg_peaks(signal, recording.sampling_rate)
    rr = np.diff(peaks) / recording.sampling_rate
    summary: dict[str, Any] = {
        "file": str(args.path),
        "channel": recording.channel,
        "units": recording.units,
        "sampling_rate": recording.sampling_rate,
        "samples": len(recording.signal),
        "duration_s": round(recording.duration_s, 3),
        "r_peaks": len(peaks),
        "heart_rate_bpm": [round(float(60 / rr.max()), 1), round(float(60 / rr.min()), 1)]
        if len(rr) else None,
        "markers": [{"time_s": round(m.time_s, 4), "label": m.label, "channel": m.channel}
                    for m in recording.markers],
        "skipped_markers": recording.skipped_markers,
    }
    if args.path.suffix.lower() == ".acq":
        summary["channels"] = [{"name": n, "rate": r, "units": u} for n, r, u in list_acq_channels(args.path)]
    return summary


def run(args: argparse.Namespace) -> int:
    summary = SessionReader(args.path).summary() if args.path.is_dir() else ecg_summary(args)
    print(json.dumps(summary, indent=2))
    return 0
