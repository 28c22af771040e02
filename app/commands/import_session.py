"""`mespot import`: turn what a lab already has (a trial video or frame folder, its ECG file and the coding
file) into a mespot session, so that it can be replayed, trained on and evaluated like a recording.

The video's first frame and the ECG file's sample at ``--ecg-start-s`` are taken to be simultaneous; the
trigger channel is rebuilt from the video's frame rate (one pulse per frame on the ECG clock).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from acquisition._checks import check_name
from acquisition.errors import ConfigError, InputFileError
from acquisition.readers.annotations import read_mecg_coding, read_megc_csv, write_megc_csv
from acquisition.session import (
    FRAME_INDEX_DTYPE,
    EcgInfo,
    SessionMetadata,
    SessionWriter,
    TriggerInfo,
    VideoInfo,
)
from acquisition.session._format import TRUTH_DIR, TRUTH_MEGC_FILE
from hardware_mocks.sources import DEFAULT_PULSE_WIDTH_S, TRIGGER_HIGH_V, VideoEcgSource

ECG_CHANNEL, TRIGGER_CHANNEL = "ECG", "TRIGGER"
BLOCK_FRAMES = 64


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="import a trial video + ECG file (+ coding file) as a session")
    parser.add_argument(
        "--video",
        type=Path,
        required=True,
        help="video file, or folder of HH-MM-SS-mmm-uuu frames (then --fps is required)",
    )
    parser.add_argument("--fps", type=float, help="frame rate (required for a frame folder)")
    parser.add_argument("--ecg", type=Path, required=True, help=".acq, .csv or .npy ECG")
    parser.add_argument("--ecg-rate", type=float, help="sampling rate of a CSV/NPY ECG file")
    truth = parser.add_mutually_exclusive_group()
    truth.add_argument("--coding", type=Path, help="MECG coding file (xlsx or csv) of this trial")
    truth.add_argument("--megc", type=Path, help="MEGC spotting CSV of this trial")
    parser.add_argument("--subject", default="S01")
    parser.add_argument("--trial", default="1")
    parser.add_argument("--out", type=Path, required=True, help="session directory to create")
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.video.is_dir() and not args.fps:
        raise ConfigError("--fps is required for a frame folder")
    check_name(args.subject, "--subject")
    check_name(args.trial, "--trial")
    if args.out.exists():
        raise InputFileError(args.out, "already exists; choose a new session directory")
    # written aside and renamed when complete: a failed import leaves no half session behind
    partial = args.out.with_name(f".{args.out.name}.importing")
    shutil.rmtree(partial, ignore_errors=True)
    source = VideoEcgSource(args.video, args.ecg, fps=args.fps, ecg_rate=args.ecg_rate)
    try:
        truth = []
        if args.coding:
            truth = read_mecg_coding(args.coding, fps=source.fps, frame_names=source.video.frame_names)
        elif args.megc:
            truth = read_megc_csv(args.megc)
        height, width = source.sensor_shape
        start = dt.datetime.now()
        if source.video.frame_times is not None:  # a frame folder names its wall-clock times
            start = dt.datetime.combine(dt.date.today(), dt.time()) + dt.timedelta(
                seconds=float(source.video.frame_times[0])
            )
        meta = SessionMetadata(
            subject=args.subject,
            trial=args.trial,
            video=VideoInfo(fps=source.fps, resolution=(width, height)),
            ecg=EcgInfo(
                source.ecg_rate,
                [ECG_CHANNEL, TRIGGER_CHANNEL],
                [source.ecg_units, "V"],
                ECG_CHANNEL,
                TRIGGER_CHANNEL,
            ),
            trigger=TriggerInfo(
                "free-run", source.fps, "rising", DEFAULT_PULSE_WIDTH_S * 1000, TRIGGER_HIGH_V / 2
            ),
            wall_clock_start=start.isoformat(timespec="microseconds"),
            devices={"video": str(args.video), "ecg": str(args.ecg)},
            source="import",
        )
        n = source.n_pulses
        with SessionWriter(partial, meta) as writer, tqdm(total=n, unit="frame", disable=args.quiet) as bar:
            for first in range(0, n, BLOCK_FRAMES):
                pulses = range(first, min(first + BLOCK_FRAMES, n))
                frames = []
                for p in pulses:
                    frame = source.frame(p)
                    if frame is None:
                        raise InputFileError(args.video, f"ends after {p} frames")
                    frames.append(frame)
                index = np.zeros(len(pulses), FRAME_INDEX_DTYPE)
                index["camera_frame"] = np.arange(first, first + len(pulses)) + 1
                index["camera_ts_us"] = np.round(np.asarray(pulses) / source.fps * 1e6)
                index["host_ns"] = -1
                index["trigger_pulse"] = list(pulses)
                index["ecg_sample"] = source.edges[first : first + len(pulses)]
                writer.append_frames(np.stack(frames), index)
                bar.update(len(pulses))
            writer.append_ecg(source.ecg_rows(0, source.n_samples))
            writer.add_event(0, "trial_start", "imported")
            if truth:
                (writer.path / TRUTH_DIR).mkdir(exist_ok=True)
                video = f"{args.subject}_{args.trial}"
                write_megc_csv(
                    writer.path / TRUTH_DIR / TRUTH_MEGC_FILE,
                    [replace(t, video=video, subject=args.subject) for t in truth],
                )
        os.replace(partial, args.out)
    finally:
        source.close()
        shutil.rmtree(partial, ignore_errors=True)
    print(
        json.dumps(
            {
                "session": str(args.out),
                "frames": n,
                "ecg_samples": source.n_samples,
                "expressions": len(truth),
            },
            indent=2,
        )
    )
    return 0
