"""`mespot synth`: write a synthetic session (face video + ECG + trigger + ground truth)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from tqdm import tqdm

from acquisition._checks import check_name
from acquisition.errors import ConfigError
from acquisition.session import SessionReader
from hardware_mocks.synth.face import face_names
from hardware_mocks.synth.session import SynthConfig, synthesize_session
from hardware_mocks.synth.timeline import TimelineProfile
from hardware_mocks.synth.variation import VariationProfile


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
        description="Generate a synthetic trial: a real face photograph, reshaped, posed and lit anew for "
        "each seed, animated with micro- and macro-expressions (MECG durations), blinks and head motion; ECG "
        "whose heart rate responds after most MEs; one trigger pulse per frame; ground truth in the MEGC and "
        "MECG coding-file formats (plus truth/events.csv and truth/variation.json).",
    )
    parser.add_argument("--out", required=True, type=Path, help="session directory to create")
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--fps", type=float, default=defaults.fps)
    parser.add_argument("--ecg-rate", type=float, default=defaults.ecg_rate, help="ECG samples per second")
    parser.add_argument("--size", type=parse_size, default=defaults.frame_size, help="camera frame WxH")
    parser.add_argument("--face-px", type=int, default=defaults.face_px,
                        help="nominal face width in the frame (each session draws its own around it)")
    parser.add_argument("--roi-scale", type=float, default=defaults.roi_scale,
                        help="stored face region side, in nominal face widths")
    parser.add_argument("--full-frame", action="store_true", help="store full frames, not the face region")
    parser.add_argument("--face", choices=face_names(), help="face photograph (default: by seed)")
    parser.add_argument("--subject", default="", help="subject id (default synthNNN by seed)")
    parser.add_argument("--trial", default=defaults.trial)
    parser.add_argument("--me-per-minute", type=float, default=profile.me_per_minute)
    parser.add_argument("--hr-response-fraction", type=float, default=profile.hr_response_fraction,
                        help="fraction of MEs followed by a heart-rate acceleration")
    parser.add_argument("--macro-hr-response-fraction", type=float,
                        default=profile.macro_hr_response_fraction,
                        help="fraction of macro-expressions followed by a heart-rate response")
    parser.add_argument("--spurious-hr-per-minute", type=float, default=profile.spurious_hr_per_minute,
                        help="heart-rate responses without any expression")
    parser.add_argument("--long-macro-per-minute", type=float, default=profile.long_macro_per_minute,
                        help="long (1-4 s), large macro-expressions")
    parser.add_argument("--blinks-per-minute", type=float, default=profile.blinks_per_minute)
    parser.add_argument("--variation-scale", type=float, default=1.0,
                        help="widen (> 1) or narrow (< 1) every session-to-session range: face shape, pose, "
                        "distance, lighting (0: none)")
    parser.add_argument("--still", action="store_true",
                        help="no variation: the photo's own shape, a still head, even light, no noise")
    parser.add_argument("--landmarks", action="store_true",
                        help="also write the true 68 landmarks of every frame (truth/landmarks.npy)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing session directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def _check(args: argparse.Namespace) -> None:
    """One-line ConfigError naming the first bad option."""
    positive = {"--minutes": args.minutes, "--fps": args.fps, "--ecg-rate": args.ecg_rate,
                "--face-px": args.face_px, "--roi-scale": args.roi_scale}
    for option, value in positive.items():
        if not value > 0:
            raise ConfigError(f"{option} must be positive, got {value}")
    not_negative = {"--me-per-minute": args.me_per_minute,
                    "--spurious-hr-per-minute": args.spurious_hr_per_minute,
                    "--long-macro-per-minute": args.long_macro_per_minute,
                    "--blinks-per-minute": args.blinks_per_minute, "--variation-scale": args.variation_scale}
    for option, value in not_negative.items():
        if not value >= 0:
            raise ConfigError(f"{option} must not be negative, got {value}")
    for option, value in {"--hr-response-fraction": args.hr_response_fraction,
                          "--macro-hr-response-fraction": args.macro_hr_response_fraction}.items():
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"{option} must lie in 0..1, got {value}")
    if args.subject:
        check_name(args.subject, "--subject")
    check_name(args.trial, "--trial")
    for option, value in {"--roi-scale": args.roi_scale, "--variation-scale": args.variation_scale}.items():
        if not math.isfinite(value):
            raise ConfigError(f"{option} must be a finite number, got {value}")
    if args.face_px > min(args.size):
        width, height = args.size
        raise ConfigError(f"--face-px: a {args.face_px} px face does not fit a {width}x{height} frame")
    if args.out.exists() and any(args.out.iterdir()) and not args.overwrite:
        raise ConfigError(f"{args.out} is not empty; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    _check(args)
    profile = TimelineProfile(
        me_per_minute=args.me_per_minute,
        hr_response_fraction=args.hr_response_fraction,
        macro_hr_response_fraction=args.macro_hr_response_fraction,
        spurious_hr_per_minute=args.spurious_hr_per_minute,
        long_macro_per_minute=args.long_macro_per_minute,
        blinks_per_minute=args.blinks_per_minute,
    )
    variation = VariationProfile.still() if args.still else VariationProfile().scaled(args.variation_scale)
    config = SynthConfig(
        out=args.out, minutes=args.minutes, seed=args.seed, fps=args.fps, ecg_rate=args.ecg_rate,
        frame_size=args.size, face_px=args.face_px, roi_scale=args.roi_scale,
        store_full_frame=args.full_frame,
        face=args.face, subject=args.subject, trial=args.trial, timeline=profile, variation=variation,
        store_landmarks=args.landmarks, overwrite=args.overwrite,
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
    if result.variation is not None:
        summary["face"] = result.variation.face
        summary["face_px"] = round(result.variation.face_px, 1)
    print(json.dumps(summary, indent=2))
    return 0
