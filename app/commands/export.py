"""`mespot export SESSION --csv out.csv`: spot MEs in a recorded session (offline, straight from disk)
and write the spotted intervals as CSV (readable by `mespot evaluate --pred`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from acquisition.errors import ConfigError
from acquisition.session import SessionReader
from app.report import write_report
from app.spotting import (
    add_engine_arguments,
    load_spotter_choice,
    make_engine,
    process_session,
    session_truth,
    spotting_summary,
)


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="spot MEs in a recorded session and export them to CSV")
    parser.add_argument("session", type=Path, help="session directory")
    add_engine_arguments(parser)
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.csv is None:
        raise ConfigError("--csv is required")
    reader = SessionReader(args.session)
    meta = reader.metadata
    truth = session_truth(reader, args.truth)
    video = truth[0].video if truth else meta.session_id
    engine = make_engine(
        load_spotter_choice(args),
        reader.fps,
        reader.ecg_rate,
        args,
        session_id=meta.session_id,
        subject=meta.subject,
        video=video,
        wall_clock_start=meta.wall_clock_start,
    )
    process_session(reader, engine, quiet=args.quiet)
    summary = spotting_summary(engine, truth, video=video, subject=meta.subject)
    summary["csv"] = str(args.csv)
    if args.report:
        summary["report"] = str(write_report(args.report, engine, truth))
    print(json.dumps(summary, indent=2))
    return 0
