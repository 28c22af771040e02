"""`mespot ablation`: the CMCL-Net ablation on held-out synthetic sessions (a face and seeds never used in
training), as a table like the paper's Table 3: window ROC AUC and ME interval P/R/F1 per variant."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from app.commands.train import DEFAULT_WORKDIR, MODALITIES, fit
from inference.features.spec import FeatureSpec
from inference.runtime import SpottingModel
from models.demo import (
    DEMO_MODEL,
    DEMO_SEED,
    TEST_ALL_RESPONSE_PLANS,
    TEST_NO_RESPONSE_PLANS,
    TEST_PLANS,
    TRAIN_PLANS,
    VAL_PLANS,
    build_sessions,
)
from models.evaluation import DEFAULT_ETA, evaluate

DEFAULT_OUT = Path("docs") / "ablation.md"
LABELS = {"video": "video only", "ecg": "ECG only", "video+ecg": "video + ECG"}


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help="train the three CMCL-Net variants and compare them on held-out data")
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help="feature cache")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown table to write")
    parser.add_argument("--seed", type=int, default=DEMO_SEED)
    parser.add_argument("--eta", type=float, default=DEFAULT_ETA, help="HRS filter factor")
    parser.add_argument("--quiet", action="store_true")
    return parser


def run(args: argparse.Namespace) -> int:
    from models.training import TrainConfig, predict

    spec = FeatureSpec()
    log = None if args.quiet else print
    train = build_sessions(TRAIN_PLANS, args.workdir, spec, progress=log)
    val = build_sessions(VAL_PLANS, args.workdir, spec, progress=log)
    test = build_sessions(TEST_PLANS, args.workdir, spec, progress=log)
    hearts = [  # (how the heart answers MEs, test sessions): the HRS filter's table
        ("every ME", build_sessions(TEST_ALL_RESPONSE_PLANS, args.workdir, spec, progress=log)),
        ("80 % of MEs (as in training)", test),
        ("no ME", build_sessions(TEST_NO_RESPONSE_PLANS, args.workdir, spec, progress=log)),
    ]
    rows, filter_rows = [], []
    for modality in MODALITIES[::-1]:  # video, ecg, video+ecg
        if modality == "video+ecg" and DEMO_MODEL.exists() and args.seed == DEMO_SEED:
            model = SpottingModel.load(DEMO_MODEL, spec)  # the demo model is this recipe's video+ECG model
            threshold = model.threshold

            def score(windows, model=model):
                return model.score(windows.video, windows.ecg, windows.hrv)
        else:
            result = fit(train, val, spec, TrainConfig(seed=args.seed, modality=modality), args.quiet)
            threshold = result.threshold

            def score(windows, result=result):
                return predict(result.model, windows, result.normalization)

        rows.append((LABELS[modality], evaluate(score, test, spec, threshold)))
        if modality == "video+ecg":
            rows.append((f"video + ECG + HRS filter (eta {args.eta:g})",
                         evaluate(score, test, spec, threshold, eta=args.eta)))
            for heart, sessions in hearts:
                filter_rows.append((f"{heart}: video + ECG", evaluate(score, sessions, spec, threshold)))
                filter_rows.append((f"{heart}: video + ECG + HRS filter (eta {args.eta:g})",
                                    evaluate(score, sessions, spec, threshold, eta=args.eta)))
    lines = [
        "# CMCL-Net ablation on held-out synthetic sessions",
        "",
        f"Written by `mespot ablation` on {dt.date.today().isoformat()}. Training: "
        f"{len(train)} sessions ({', '.join(p.name for p in TRAIN_PLANS)}), validation: {len(val)}; test: "
        f"{len(test)} sessions of a face never seen in training ({', '.join(p.name for p in TEST_PLANS)}), "
        f"{sum(len(s.truth) for s in test)} expressions, the heart answering 80 % of the MEs as in training. "
        "Window AUC over labelled windows; interval metrics for MEs with IoU >= 0.5 (MEGC).",
        "",
        *_table(rows),
        "",
        "## The heart-rate-slope filter",
        "",
        "The same test sessions (the same face, seeds and facial events) with a heart that answers every ME "
        "with an acceleration, 80 % of them, or none (accelerations then come only at random times). A "
        "candidate is kept when HRS at its apex exceeds eta x the trial's mean HRS.",
        "",
        *_table(filter_rows),
    ]
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


def _table(rows: list) -> list[str]:
    lines = ["| variant | window AUC | TP | FP | FN | precision | recall | F1 |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for label, r in rows:
        lines.append(
            f"| {label} | {r.auc:.4f} | {r.me.tp} | {r.me.fp} | {r.me.fn} | {r.me.precision:.4f} | "
            f"{r.me.recall:.4f} | {r.me.f1:.4f} |"
        )
    return lines
