"""`mespot train`: train CMCL-Net on annotated sessions and export it to ONNX with its report.

mespot train --demo                                  # the bundled demo model (synthetic sessions)
mespot train --sessions S1 S2 ... --out lab.onnx     # a lab's own annotated recordings
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm import tqdm

from acquisition.errors import ConfigError
from inference.features.spec import FeatureSpec
from inference.runtime import SpottingModel
from models.dataset import SessionData, Windows, load_session_data, session_windows
from models.demo import DEMO_MODEL, DEMO_SEED, TRAIN_PLANS, VAL_PLANS, build_sessions
from models.evaluation import evaluate

if TYPE_CHECKING:  # torch is imported only when training runs (the app itself runs on onnxruntime)
    from models.cmcl_net import CmclNet
    from models.training import TrainConfig, TrainResult

DEFAULT_WORKDIR = Path("build") / "training-data"
THRESHOLD_GRID = np.round(np.arange(0.30, 0.991, 0.02), 2)
MODALITIES = ("video+ecg", "video", "ecg")


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="train CMCL-Net and export it to ONNX")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--demo", action="store_true", help="the demo model's recipe (synthetic sessions)")
    source.add_argument("--sessions", nargs="+", type=Path, help="annotated session directories")
    parser.add_argument("--val", nargs="+", type=Path, help="validation sessions (default: split by subject)")
    parser.add_argument(
        "--split",
        choices=("subject", "session", "loso"),
        default="subject",
        help="how to hold out validation data; loso also reports leave-one-subject-out folds",
    )
    parser.add_argument("--modality", choices=MODALITIES, default="video+ecg")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--out", type=Path, help=f"model file (default with --demo: {DEMO_MODEL})")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="feature cache")
    parser.add_argument("--quiet", action="store_true")
    return parser


def windows_of(sessions: list[SessionData], spec: FeatureSpec) -> Windows:
    parts, offset = [], 0
    for group, data in enumerate(sessions):
        parts.append(session_windows(data, spec, group=group, event_offset=offset))
        offset += len(data.truth)
    return Windows.concat(parts)


def split_sessions(sessions: list[SessionData], mode: str) -> tuple[list[SessionData], list[SessionData]]:
    """Hold out the last subject (by name) for validation, or the last session."""
    if len(sessions) < 2:
        raise ConfigError("training needs at least two sessions (one is held out for validation)")
    subjects = sorted({s.subject for s in sessions})
    if mode != "session" and len(subjects) >= 2:
        held = subjects[-1]
        return [s for s in sessions if s.subject != held], [s for s in sessions if s.subject == held]
    return sessions[:-1], sessions[-1:]


def fit_recipe(
    train: list[SessionData], val: list[SessionData], spec: FeatureSpec, config: TrainConfig, quiet: bool
) -> tuple[TrainResult, TrainResult | None]:
    """Train ``config.modality`` by the full recipe; for video+ECG with ``config.warm_start``, first the
    video-only variant (same seed), whose video encoder the fused model starts from. Returns the model and
    that video-only model (None when there is none)."""
    if config.modality != "video+ecg" or not config.warm_start:
        return fit(train, val, spec, config, quiet), None
    video = fit(train, val, spec, replace(config, modality="video"), quiet)
    fused = fit(train, val, spec, config, quiet, encoders_from=video.model)
    fused.report["warm_start_from"] = {
        "modality": "video",
        "val_auc": video.report["val_auc"],
        "val_interval_me_f1": video.report["val_interval_me_f1"],
        "train_seconds": video.report["train_seconds"],
    }
    total = video.report["train_seconds"] + fused.report["train_seconds"]
    fused.report["recipe_train_seconds"] = round(total, 1)
    return fused, video


def fit(
    train: list[SessionData],
    val: list[SessionData],
    spec: FeatureSpec,
    config: TrainConfig,
    quiet: bool,
    encoders_from: CmclNet | None = None,
) -> TrainResult:
    bars: dict[str, tqdm] = {}

    def progress(stage: str, done: int, total: int, values: dict[str, float]) -> None:
        if quiet:
            return
        if stage not in bars:
            bars[stage] = tqdm(total=total, desc=f"{config.modality} {stage}", unit="epoch")
        bar = bars[stage]
        bar.set_postfix({k: round(v, 4) for k, v in values.items() if isinstance(v, float)})
        bar.update(done - bar.n)

    from models.training import predict, train_model

    # the epoch kept and the decision threshold are chosen on what the lab sees: spotted ME intervals on the
    # validation sessions
    val_windows = [session_windows(data, spec, group=i) for i, data in enumerate(val)]

    def val_interval_f1(model, norm) -> float:
        return interval_threshold(lambda w: predict(model, w, norm), val, spec, val_windows)[1]

    result = train_model(windows_of(train, spec), windows_of(val, spec), spec, config, progress=progress,
                         select=val_interval_f1 if val else None, encoders_from=encoders_from)
    for bar in bars.values():
        bar.close()
    threshold, val_f1 = interval_threshold(lambda w: predict(result.model, w, result.normalization), val,
                                           spec, val_windows)
    result.report.update(window_threshold=result.threshold, threshold=threshold, val_interval_me_f1=val_f1)
    result.threshold = threshold
    return result


def interval_threshold(score, sessions: list[SessionData], spec: FeatureSpec,
                       windows: list | None = None) -> tuple[float, float]:
    """The threshold with the best ME interval F1 (MEGC, IoU >= 0.5) on ``sessions`` (scored once;
    ``windows``: their windows when already built)."""
    if windows is None:
        windows = [session_windows(data, spec, group=i) for i, data in enumerate(sessions)]
    scores = {id(w): score(w) for w in windows}
    best = (0.5, -1.0)
    for threshold in THRESHOLD_GRID:
        f1 = evaluate(lambda w: scores[id(w)], sessions, spec, float(threshold), windows=windows).me.f1
        if f1 > best[1]:
            best = (float(threshold), f1)
    return best


def export(result: TrainResult, spec: FeatureSpec, out: Path, trained_on: dict) -> Path:
    from models.export import export_onnx

    out.parent.mkdir(parents=True, exist_ok=True)
    export_onnx(
        result.model,
        spec,
        out,
        normalization=result.normalization,
        threshold=result.threshold,
        trained_on=trained_on,
        report=result.report,
    )
    report_path = out.with_suffix(".report.json")
    report_path.write_text(json.dumps({"trained_on": trained_on, **result.report}, indent=2, default=float))
    return report_path


def run(args: argparse.Namespace) -> int:
    from models.training import TrainConfig

    spec = FeatureSpec()
    config = TrainConfig(seed=args.seed, modality=args.modality)
    if args.demo:
        log = None if args.quiet else print
        train = build_sessions(TRAIN_PLANS, args.workdir, spec, progress=log)
        val = build_sessions(VAL_PLANS, args.workdir, spec, progress=log)
        trained_on = {
            "recipe": "models/demo.py",
            "train": [p.name for p in TRAIN_PLANS],
            "val": [p.name for p in VAL_PLANS],
            "synthetic": True,
            "seed": args.seed,
        }
        out = args.out or DEMO_MODEL
    else:
        cache = args.workdir / "features"
        sessions = [load_session_data(p, spec, cache) for p in args.sessions]
        if args.val:
            train, val = sessions, [load_session_data(p, spec, cache) for p in args.val]
        else:
            train, val = split_sessions(sessions, args.split)
        if args.split == "loso":
            report_loso(sessions, spec, config, args.quiet)
        trained_on = {
            "train": [s.session_id for s in train],
            "val": [s.session_id for s in val],
            "synthetic": False,
            "seed": args.seed,
        }
        if args.out is None:
            raise ConfigError("--out is required when training on sessions")
        out = args.out
    result, _ = fit_recipe(train, val, spec, config, args.quiet)
    report_path = export(result, spec, out, trained_on)
    model = SpottingModel.load(out, spec)
    val_metrics = evaluate(lambda w: model.score(w.video, w.ecg, w.hrv), val, spec, model.threshold)
    print(
        json.dumps(
            {
                "model": str(out),
                "report": str(report_path),
                "val_auc": round(result.report["val_auc"], 4),
                "threshold": round(result.threshold, 3),
                "val_me_f1": round(val_metrics.me.f1, 4),
                "val_me_precision": round(val_metrics.me.precision, 4),
                "val_me_recall": round(val_metrics.me.recall, 4),
                "train_seconds": result.report.get("recipe_train_seconds", result.report["train_seconds"]),
            },
            indent=2,
        )
    )
    return 0


def report_loso(sessions: list[SessionData], spec: FeatureSpec, config: TrainConfig, quiet: bool) -> None:
    """Leave-one-subject-out: one model per held-out subject, its window AUC on that subject."""
    subjects = sorted({s.subject for s in sessions})
    if len(subjects) < 2:
        raise ConfigError("leave-one-subject-out needs sessions of at least two subjects")
    aucs = []
    for held in subjects:
        train = [s for s in sessions if s.subject != held]
        test = [s for s in sessions if s.subject == held]
        result, _ = fit_recipe(train, test, spec, config, quiet)
        aucs.append(result.report["val_auc"])
        print(f"LOSO held out {held}: window AUC {aucs[-1]:.4f}")
    print(f"LOSO mean window AUC {np.nanmean(aucs):.4f}")
