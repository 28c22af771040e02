"""`mespot replay SESSION | --video V --ecg E`: stream a recording back through the mock camera, the
AcqKnowledge emulator and the mock trigger box into the same acquisition code, and spot MEs in it with the
whole pipeline (engine, HRS filter, alerts), at 1x or at maximum speed."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

from acquisition.errors import ConfigError
from acquisition.session import SessionReader
from app.commands.record import MOCK_WORKDIR, add_config_arguments
from app.config import load_config
from app.devices import mock_lab
from app.report import write_report
from app.runner import run_acquisition
from app.spotting import (
    add_engine_arguments,
    load_spotter_choice,
    make_engine,
    session_truth,
    spotting_summary,
)
from inference.engine import EngineThreads


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="replay a recording through the mock devices and spot MEs in it")
    parser.add_argument("session", type=Path, nargs="?", help="session directory")
    parser.add_argument("--video", type=Path, help="a video file or frame folder (with --ecg) instead")
    parser.add_argument("--ecg", type=Path, help="the ECG file that goes with --video")
    parser.add_argument("--ecg-rate", type=float, help="sampling rate of a CSV/NPY ECG file")
    parser.add_argument(
        "--speed",
        choices=("1", "max"),
        default="1",
        help="1 = real time, max = as fast as the acquisition side reads",
    )
    parser.add_argument("--duration", type=float, help="seconds of the recording to replay (default: all)")
    parser.add_argument("--record", type=Path, metavar="OUT", help="also record the replay as a new session")
    parser.add_argument("--no-engine", action="store_true", help="acquisition only, no spotting")
    add_engine_arguments(parser)
    add_config_arguments(parser)
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    if (args.session is None) == (args.video is None):
        raise ConfigError("give a SESSION directory, or --video with --ecg")
    if args.video is not None and args.ecg is None:
        raise ConfigError("--video needs --ecg")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(f"--duration must be a positive number of seconds, not {args.duration}")
    config = load_config(args.config, args.overrides)
    if args.session is not None:
        mock = replace(config.mock, source="session", session=str(args.session), speed=args.speed)
        reader = SessionReader(args.session)
        session_id, subject = reader.metadata.session_id, reader.metadata.subject
        wall = reader.metadata.wall_clock_start
    else:
        mock = replace(
            config.mock,
            source="video+ecg",
            video=str(args.video),
            ecg=str(args.ecg),
            ecg_rate=args.ecg_rate or 0.0,
            speed=args.speed,
        )
        reader, session_id, subject, wall = None, args.video.stem, config.recording.subject, ""
    config = replace(config, mock=mock)
    spotter = None if args.no_engine else load_spotter_choice(args)
    truth = session_truth(reader, args.truth)
    video = truth[0].video if truth else session_id
    threads: list[EngineThreads] = []
    started_at: list[float] = []  # when the devices started playing
    with mock_lab(config, MOCK_WORKDIR, duration_s=args.duration) as setup:
        lab_config = setup.config
        engine = None
        if spotter is not None:
            engine = make_engine(
                spotter,
                lab_config.camera.fps,
                lab_config.ecg.sampling_rate,
                args,
                session_id=session_id,
                subject=subject,
                video=video,
                wall_clock_start=wall,
            )

        def attach(acquisition) -> None:
            started_at.append(time.monotonic())
            if engine is not None:
                hold = acquisition.hold_for if args.speed == "max" else None
                threads.append(EngineThreads(engine, acquisition.frames, acquisition.ecg, lossless_hold=hold,
                                             stamps=acquisition.stamps))
                threads[0].start()

        def done(acquisition) -> bool:
            return setup.done(acquisition)

        try:
            result = run_acquisition(
                lab_config,
                out=args.record,
                source_label="replay",
                duration_s=None,
                done=done,
                quiet=args.quiet,
                lossless=args.speed == "max",
                on_started=attach,
            )
        finally:
            for t in threads:
                t.stop()
    summary = {"acquisition": result.summary()}
    if started_at:  # playing and processing, without start-up (model, ring buffers, devices) and report
        processing_s = time.monotonic() - started_at[0]
        summary["processing_s"] = round(processing_s, 3)
        summary["realtime_factor"] = round(result.status.ecg_samples / lab_config.ecg.sampling_rate
                                           / max(processing_s, 1e-9), 2)
    if engine is not None:
        if threads and threads[0].error is not None:
            raise threads[0].error
        summary["spotting"] = spotting_summary(engine, truth, video=video, subject=subject)
        if args.report:
            write_report(args.report, engine, truth)
            summary["report"] = str(args.report)
        if args.csv:
            summary["csv"] = str(args.csv)
    print(json.dumps(summary, indent=2))
    if result.device_fault:
        print("mespot replay: device fault(s): " + "; ".join(result.status.faults), file=sys.stderr)
        return 3
    return 0
