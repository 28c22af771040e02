"""`mespot live --config lab.toml`: a live lab session, headless: acquisition from the devices (or the mocks
with ``--set camera.driver=mock``), the spotting engine on the ring buffers, alerts to the log, the CSV,
AcqKnowledge (insertGlobalEvent) and a Lab Streaming Layer marker stream; optionally recorded."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from app.commands.record import MOCK_WORKDIR, add_config_arguments
from app.config import load_config
from app.devices import mock_lab
from app.report import write_report
from app.runner import run_acquisition
from app.spotting import add_engine_arguments, load_spotter_choice, make_engine, spotting_summary
from inference.alerts import AcqKnowledgeEventSink, AlertSink, LslMarkerSink
from inference.engine import EngineThreads


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="run a live session: acquisition, spotting and alerts (headless)")
    add_config_arguments(parser)
    add_engine_arguments(parser)
    parser.add_argument("--record", type=Path, metavar="OUT", help="also record the session")
    parser.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    parser.add_argument("--no-lsl", action="store_true", help="no Lab Streaming Layer marker stream")
    parser.add_argument("--no-acq-events", action="store_true", help="do not mark alerts in AcqKnowledge")
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, args.overrides)
    spotter = load_spotter_choice(args)
    session_id = f"{config.recording.subject}_{config.recording.trial}"
    threads: list[EngineThreads] = []
    with ExitStack() as stack:
        done = None
        if config.camera.driver == "mock":
            setup = stack.enter_context(mock_lab(config, MOCK_WORKDIR))
            config, done = setup.config, setup.done
        extra: list[AlertSink] = [] if args.no_lsl else [
            LslMarkerSink(session_id, scope=config.lsl.scope, identify=config.lsl.identify_subject)]
        engine = make_engine(spotter, config.camera.fps, config.ecg.sampling_rate, args,
                             session_id=session_id,
                             subject=config.recording.subject, video=session_id,
                             wall_clock_start=dt.datetime.now().isoformat(), extra_sinks=extra)

        def attach(acquisition) -> None:
            if not args.no_acq_events:
                engine.sinks.append(AcqKnowledgeEventSink(acquisition.ecg_source.insert_event))
            threads.append(EngineThreads(engine, acquisition.frames, acquisition.ecg,
                                         stamps=acquisition.stamps))
            threads[0].start()

        try:
            result = run_acquisition(config, out=args.record, source_label="live", duration_s=args.duration,
                                     done=done, quiet=args.quiet, on_started=attach)
        finally:
            for t in threads:
                t.stop()
    summary = {"acquisition": result.summary(), "spotting": spotting_summary(engine, [], video=session_id,
                                                                             subject=config.recording.subject)}
    if args.report:
        summary["report"] = str(write_report(args.report, engine))
    print(json.dumps(summary, indent=2))
    if result.device_fault:
        print("mespot live: device fault(s): " + "; ".join(result.status.faults), file=sys.stderr)
        return 3
    return 0
