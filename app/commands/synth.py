"""`mespot synth`: write a synthetic session (face video + ECG + trigger + ground truth)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tqdm import tqdm

from acquisition.errors import ConfigError
from acquisition.session import SessionReader
from hardware_mocks.synth.face import face_names
from hardware_mocks.synth.session import SynthConfig, synthesize_session
from hardware_mocks.synth.timeline import TimelineProfile


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 2040x1080, got {text!r}") from None
    if width <= 0 or height <= 0:
        raise argparse.ArgumentTypeError(f"size must be positive, got {text!r}")
    return width, height


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    defaults = SynthConfig(out=Path("."))
    profile = TimelineProfile()
    parser = sub.add_parser(
        name,
        help="generate a synthetic session with ground truth",
        description="Generate a synthetic trial: a real face photograph animated with micro- and "
        "macro-expressions, blinks and head motion; ECG whose heart rate accelerates after most MEs; "
        "one trigger pulse per frame; ground truth in the MEGC and MECG coding-file formats.",
    )
    parser.add_argument("--out", required=True, type=Path, help="session directory to create")
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--ecg-rate", type=float, default=defaults.ecg_rate, help="ECG samples per second")
    parser.add_argument("--size", type=parse_size, default=defaults.frame_size, help="camera frame WxH")
    parser.add_argument("--face-px", type=int, default=defaults.face_px, help="face width in the frame")
    parser.add_argument("--full-frame", action="store_true", help="store full frames, not the face region")
    parser.add_argument("--face", choices=face_names(), help="face photograph (default: by seed)")
    parser.add_argument("--subject", default="", help="subject id (default synthNNN by seed)")
    parser.add_argument("--trial", default=defaults.trial)
    parser.add_argument("--me-per-minute", type=float, default=profile.me_per_minute)
    parser.add_argument("--hr-response-fraction", type=float, default=profile.hr_response_fraction,
                        help="fraction of MEs followed by a heart-rate acceleration")
    parser.add_argument("--spurious-hr-per-minute", type=float, default=profile.spurious_hr_per_minute)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing session directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.minutes <= 0 or args.fps <= 0 or args.ecg_rate <= 0 or args.face_px <= 0:
        raise ConfigError("--minutes, --fps, --ecg-rate and --face-px must be positive")
    if not 0.0 <= args.hr_response_fraction <= 1.0:
        raise ConfigError("--hr-response-fraction must lie in 0..1")
    if args.face_px > min(args.size):
        raise ConfigError(f"a {args.face_px} px face does not fit a {args.size[0]}x{args.size[1]} frame")
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        raise ConfigError(f"{args.out} is not empty; pass --overwrite to replace it")
    profile = TimelineProfile(
        me_per_minute=args.me_per_minute,
        hr_response_fraction=args.hr_response_fraction,
        spurious_hr_per_minute=args.spurious_hr_per_minute,
    )
    config = SynthConfig(
        out=args.out, minutes=args.minutes, seed=args.seed, fps=args.fps, ecg_rate=args.ecg_rate,
        frame_size=args.size, face_px=args.face_px, store_full_frame=args.full_frame, face=args.face,
        subject=args.subject, trial=args.trial, timeline=profile, overwrite=args.overwrite,
    )
    with tqdm(total=0, unit="frame", disable=args.quiet, desc="synth") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = synthesize_session(config, progress)
    summary = SessionReader(result.path).summary()
    summary["expressions"] = len(result.timeline.expressions)
    summary["micro_expressions"] = len(result.timeline.micro_expressions)
    summary["blinks"] = len(result.timeline.blinks)
    summary["head_moves"] = len(result.timeline.head_moves)
    print(json.dumps(summary, indent=2))
    return 0
