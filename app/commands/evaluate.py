"""`mespot evaluate --truth T --pred P`: the MEGC spotting metric (TP/FP/FN, precision, recall, F1)."""

from __future__ import annotations

import argparse
import csv
import json

from acquisition.errors import InputFileError
from acquisition.readers.annotations import read_megc_csv
from inference.metrics import SpottingCounts, SpottingReport, evaluate_spotting


def _iou_threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {text}")
    return value


def _positive_fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0.0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def add_parser(sub: argparse._SubParsersAction, name: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help="score predicted intervals against ground truth (MEGC spotting metric)",
        description=(
            "Match predicted intervals to ground-truth intervals one-to-one (IoU >= threshold, same video) "
            "and report TP, FP, FN, precision, recall and F1 pooled over all videos, per class (ME, macro) "
            "and overall. Both files are MEGC CSVs: subject,video,onset,offset[,apex,emotion,class]."
        ),
    )
    parser.add_argument("--truth", required=True, metavar="CSV", help="ground-truth intervals (MEGC CSV)")
    parser.add_argument("--pred", required=True, metavar="CSV", help="predicted intervals (MEGC CSV)")
    parser.add_argument(
        "--iou", type=_iou_threshold, default=0.5, metavar="T", help="IoU threshold for a match (default 0.5)"
    )
    parser.add_argument(
        "--fps",
        type=_positive_fps,
        default=None,
        metavar="F",
        help="frame rate, to classify intervals without a class column by duration; without it such "
        "intervals count in 'overall' only",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--include-rejected", action="store_true",
                        help="also count rows a mespot CSV marks as rejected by the HRS filter")
    return parser


def without_rejected(path: str, pred: list) -> list:
    """A spotted-interval CSV written by mespot keeps the candidates the HRS filter rejected, marked in its
    ``decision`` column: they are not predictions."""
    with open(path, newline="", encoding="utf-8") as f:
        decisions = [row.get("decision", "") for row in csv.DictReader(f)]
    if len(decisions) != len(pred):
        return pred
    return [p for p, d in zip(pred, decisions, strict=True) if (d or "").strip() != "rejected"]


def run(args: argparse.Namespace) -> int:
    truth = read_megc_csv(args.truth)
    pred = read_megc_csv(args.pred)
    if not args.include_rejected:
        pred = without_rejected(args.pred, pred)
    try:
        report = evaluate_spotting(truth, pred, iou_threshold=args.iou, fps=args.fps)
    except ValueError as exc:  # e.g. a prediction without subject whose video name is ambiguous
        raise InputFileError(args.pred, str(exc)) from None

    if args.json:
        payload = {"truth": str(args.truth), "pred": str(args.pred), **report.to_dict()}
        print(json.dumps(payload, indent=2))
    else:
        print(format_report(report, n_truth=len(truth), n_pred=len(pred)))
    return 0


def format_report(report: SpottingReport, n_truth: int, n_pred: int) -> str:
    """The plain-text table: one row per class, then "overall"; ratios with 4 decimals."""
    fps = "none" if report.fps is None else f"{report.fps:g}"
    lines = [
        f"{n_truth} ground-truth and {n_pred} predicted intervals, "
        f"IoU >= {report.iou_threshold:g}, fps {fps}",
        f"{'class':<8} {'TP':>6} {'FP':>6} {'FN':>6} {'precision':>9} {'recall':>9} {'F1':>9}",
    ]
    rows: list[tuple[str, SpottingCounts]] = [*report.per_class.items(), ("overall", report.overall)]
    for name, c in rows:
        lines.append(
            f"{name:<8} {c.tp:>6} {c.fp:>6} {c.fn:>6} {c.precision:>9.4f} {c.recall:>9.4f} {c.f1:>9.4f}"
        )
    if report.unclassified_truth or report.unclassified_pred:
        lines.append(
            f"note: {report.unclassified_truth} ground-truth and {report.unclassified_pred} predicted "
            "intervals have no class and no --fps to derive one; they count in 'overall' only"
        )
    return "\n".join(lines)
