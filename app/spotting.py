"""Spotting runs shared by `mespot replay`, `mespot live`, `mespot export` and `mespot demo`: the engine on
a session file (offline) or on a running acquisition, its sinks, and the summary with P/R/F1."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from acquisition.errors import ConfigError
from acquisition.readers.annotations import Interval, read_megc_csv
from acquisition.session import SessionReader
from inference.alerts import AlertSink, CsvSink, LogSink
from inference.decision import BASELINES, HrsFilter
from inference.engine import EngineSettings, SpottingEngine
from inference.metrics import evaluate_spotting
from inference.spotters import SpotterChoice, load_spotter
from models.demo import DEMO_MODEL

OFFLINE_BLOCK_FRAMES = 150


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--model", type=Path, default=DEMO_MODEL,
                       help="CMCL-Net ONNX model, or a spotter file (.json) that names the training-free "
                            "spotter (default: the demo model)")
    which.add_argument("--spotter", choices=("flow",),
                       help="flow: the training-free spotter (no model needed)")
    parser.add_argument("--eta", type=float, default=HrsFilter().eta, help="HRS filter factor")
    parser.add_argument("--no-filter", action="store_true", help="switch the HRS filter off")
    parser.add_argument("--threshold", type=float,
                        help="score threshold (default: the model's; 1 for the flow spotter)")
    parser.add_argument("--hrs-baseline", choices=BASELINES, default="trial")
    parser.add_argument("--csv", type=Path, help="write the spotted intervals here")
    parser.add_argument("--report", type=Path, help="write the report figure (PNG) here")
    parser.add_argument("--truth", type=Path, help="MEGC CSV ground truth (default: the session's own)")


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    try:
        hrs = HrsFilter(eta=args.eta, enabled=not args.no_filter, baseline=args.hrs_baseline)
    except ValueError as exc:
        raise ConfigError(f"--eta / --hrs-baseline: {exc}") from None
    return EngineSettings(hrs=hrs)


def load_spotter_choice(args: argparse.Namespace) -> SpotterChoice:
    """The spotter the command line names (a bad model or spotter file: InputFileError, exit 2)."""
    threshold = getattr(args, "threshold", None)
    if threshold is not None and not (np.isfinite(threshold) and threshold >= 0):
        raise ConfigError(f"--threshold must be a number >= 0, not {threshold}")
    return load_spotter(args.spotter or args.model)


def make_engine(
    choice: SpotterChoice,
    fps: float,
    ecg_rate: float,
    args: argparse.Namespace,
    *,
    session_id: str,
    subject: str,
    video: str,
    wall_clock_start: str = "",
    extra_sinks: list[AlertSink] | None = None,
) -> SpottingEngine:
    sinks: list[AlertSink] = [LogSink(), *(extra_sinks or [])]
    if args.csv:
        sinks.append(CsvSink(args.csv, subject=subject, video=video))
    start = dt.datetime.fromisoformat(wall_clock_start) if wall_clock_start else None
    return SpottingEngine(
        choice.build(fps, args.threshold),
        fps,
        ecg_rate,
        sinks,
        settings=engine_settings(args),
        session_id=session_id,
        wall_clock_start=start,
    )


def process_session(reader: SessionReader, engine: SpottingEngine, quiet: bool = False) -> SpottingEngine:
    """Run the engine over a recorded session straight from disk (no devices)."""
    ecg = reader.ecg_channel()
    stamps = reader.frame_samples()
    pushed = 0
    trial_starts = [e["sample"] for e in reader.events if e["kind"] == "trial_start"]
    if trial_starts:
        engine.mark_trial_start(int(trial_starts[0]))
    with tqdm(total=len(reader), unit="frame", disable=quiet, desc="spotting") as bar:
        for first in range(0, len(reader), OFFLINE_BLOCK_FRAMES):
            last = min(first + OFFLINE_BLOCK_FRAMES, len(reader))
            upto = len(ecg) if last == len(reader) else int(stamps[last - 1]) + 1
            if upto > pushed:
                engine.push_ecg(np.asarray(ecg[pushed:upto]))
                pushed = upto
            block = reader.frames(first, last)
            for i in range(last - first):
                engine.push_frame(block[i], int(stamps[first + i]))
            engine.step()
            bar.update(last - first)
    engine.finish()
    return engine


def session_truth(reader: SessionReader | None, truth: Path | None) -> list[Interval]:
    if truth is not None:
        return read_megc_csv(truth)
    if reader is not None and reader.truth_megc_path is not None:
        return read_megc_csv(reader.truth_megc_path)
    return []


def spotting_summary(
    engine: SpottingEngine, truth: list[Interval], *, video: str, subject: str
) -> dict[str, Any]:
    alerts = engine.alerts
    summary: dict[str, Any] = {
        "session": engine.session_id,
        "frames": engine.stats.frames,
        "spotter": engine.spotter.describe(),
        "candidates": engine.stats.candidates,
        "candidates_unmeasured": engine.measurer.unmeasured,
        "candidates_found_twice": engine.measurer.duplicates,
        "alerts": len(alerts),
        "genuine": sum(a.decision == "genuine" for a in alerts),
        "rejected_by_hrs_filter": sum(a.decision == "rejected" for a in alerts),
        "micro_expressions": sum(a.kind == "ME" and a.genuine for a in alerts),
    }
    if engine.stats.latencies_s:
        lat = np.asarray(engine.stats.latencies_s)
        summary["alert_latency_s"] = {
            "p50": round(float(np.percentile(lat, 50)), 3),
            "p95": round(float(np.percentile(lat, 95)), 3),
        }
    if truth:
        video_name = truth[0].video
        predicted = [
            Interval(
                video=video_name,
                onset=a.onset_frame,
                offset=a.offset_frame,
                apex=a.apex_frame,
                subject=truth[0].subject,
                label="",
                kind=a.kind,
            )
            for a in alerts
            if a.genuine
        ]
        report = evaluate_spotting(truth, predicted)
        summary["evaluation"] = {
            name: counts.to_dict() for name, counts in {**report.per_class, "overall": report.overall}.items()
        }
    return summary
