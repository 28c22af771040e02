"""Evaluation of a spotter on annotated sessions: window-level ROC AUC and interval-level precision, recall
and F1 (the MEGC metric, IoU >= 0.5), with or without the heart-rate-slope filter, and how well the spotted
intervals' extents match the truth.

Candidates go through the live engine's own steps (:func:`inference.spotting.spot_offline`): extents measured
from the motion, duplicates dropped, ME vs macro by the measured durations, and the HRS filter deciding on
the causal heart rate as known at the decision's sample. So the figures describe what runs live.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from acquisition.readers.annotations import Interval
from inference.decision import HrsFilter
from inference.extent import EXTENT, ExtentSettings
from inference.features.spec import FeatureSpec
from inference.metrics import SpottingCounts, evaluate_spotting, interval_iou, roc_auc
from inference.spotters import Candidate
from inference.spotters.cmcl import merge_windows
from inference.spotters.flow import FlowDetector, FlowSettings
from inference.spotting import Measured, spot_offline
from models.dataset import APEX_ZONE, SessionData, Windows, session_windows

ScoreFn = Callable[[Windows], np.ndarray]
DEFAULT_ETA = 2.0
UNFILTERED = HrsFilter(enabled=False)


@dataclass
class ExtentErrors:
    """Detected MEs (a spotted interval whose apex lies inside a truth ME) and how well they are placed."""

    onset_ms: list[float] = field(default_factory=list)  # spotted minus true
    offset_ms: list[float] = field(default_factory=list)
    iou: list[float] = field(default_factory=list)
    as_me: list[bool] = field(default_factory=list)  # called ME by the measured durations

    def extend(self, other: ExtentErrors) -> None:
        for name in ("onset_ms", "offset_ms", "iou", "as_me"):
            getattr(self, name).extend(getattr(other, name))

    def summary(self) -> dict[str, float]:
        n = len(self.iou)
        if not n:
            return {"detected": 0}
        return {
            "detected": n,
            "median_onset_error_ms": float(np.median(self.onset_ms)),
            "median_abs_onset_error_ms": float(np.median(np.abs(self.onset_ms))),
            "median_offset_error_ms": float(np.median(self.offset_ms)),
            "median_abs_offset_error_ms": float(np.median(np.abs(self.offset_ms))),
            "share_iou_0_5": float(np.mean(np.asarray(self.iou) >= 0.5)),
            "share_called_me": float(np.mean(self.as_me)),
        }


@dataclass(frozen=True)
class EvaluationResult:
    auc: float
    me: SpottingCounts
    overall: SpottingCounts
    windows: int
    me_windows: int
    extent: ExtentErrors = field(default_factory=ExtentErrors)

    def row(self) -> dict[str, float | int]:
        return {
            "auc": self.auc,
            "tp": self.me.tp,
            "fp": self.me.fp,
            "fn": self.me.fn,
            "precision": self.me.precision,
            "recall": self.me.recall,
            "f1": self.me.f1,
        }


CandidateFn = Callable[[SessionData, Windows, np.ndarray], list[Candidate]]


def cmcl_candidates(threshold: float, spec: FeatureSpec) -> CandidateFn:
    """Candidates of CMCL-Net's window scores, merged as the live spotter merges them."""
    def candidates(data: SessionData, windows: Windows, scores: np.ndarray) -> list[Candidate]:
        return merge_windows(windows.start_ms, scores, threshold, spec.window_ms)
    return candidates


def flow_candidates(data: SessionData, spec: FeatureSpec, settings: FlowSettings | None = None,
                    threshold: float = 1.0) -> tuple[list[Candidate], np.ndarray, np.ndarray]:
    """The training-free spotter over a session's features: its candidates and its score trace."""
    detector = FlowDetector(spec, data.fps, settings)
    found = detector.push(data.held_video(spec), data.frame_ms, threshold) + detector.finish(threshold)
    trace = np.array(detector.trace, dtype=float).reshape(-1, 2)
    return found, trace[:, 0], trace[:, 1]


def flow_window_scores(windows: Windows, trace_ms: np.ndarray, trace: np.ndarray, spec: FeatureSpec
                       ) -> np.ndarray:
    """Each window's flow score: the largest in its middle half, where an ME window has its apex."""
    scores = np.zeros(len(windows), np.float32)
    finite = np.where(np.isfinite(trace), trace, 0.0)
    for i, start in enumerate(windows.start_ms):
        lo = np.searchsorted(trace_ms, start + APEX_ZONE[0] * spec.window_ms)
        hi = np.searchsorted(trace_ms, start + APEX_ZONE[1] * spec.window_ms)
        scores[i] = finite[lo:hi].max() if hi > lo else 0.0
    return scores


def extent_errors(measured: list[Measured], truth: list[Interval], frame_ms: np.ndarray) -> ExtentErrors:
    """For each true ME holding a spotted interval's apex: onset and offset errors (ms) and IoU."""
    out = ExtentErrors()
    last = len(frame_ms) - 1
    for t in truth:
        if t.kind != "ME":
            continue
        inside = [m.extent for m in measured if t.onset <= m.extent.apex <= t.offset]
        if not inside:
            continue
        best = max(inside, key=lambda e: interval_iou(e.onset, e.offset, t.onset, t.offset))
        out.onset_ms.append(best.onset_ms - float(frame_ms[min(t.onset, last)]))
        out.offset_ms.append(best.offset_ms - float(frame_ms[min(t.offset, last)]))
        out.iou.append(interval_iou(best.onset, best.offset, t.onset, t.offset))
        out.as_me.append(best.kind == "ME")
    return out


def evaluate_candidates(
    sessions: list[SessionData],
    spec: FeatureSpec,
    session_scores: list[tuple[Windows, np.ndarray, list[Candidate]]],
    *,
    hrs: HrsFilter = UNFILTERED,
    extent: ExtentSettings = EXTENT,
) -> EvaluationResult:
    """The metrics of given window scores and candidates (one entry per session)."""
    labels, scores, truth, predicted = [], [], [], []
    errors = ExtentErrors()
    for data, (windows, window_scores, candidates) in zip(sessions, session_scores, strict=True):
        labeled = windows.label != -1
        labels.append(windows.label[labeled])
        scores.append(window_scores[labeled])
        decided = spot_offline(candidates, data.held_video(spec), data.frame_ms, data.heart(),
                               reference_ms=spec.reference_ms, hrs=hrs, extent=extent)
        kept = [m for m, decision in decided if decision != "rejected"]
        errors.extend(extent_errors(kept, data.truth, data.frame_ms))
        truth.extend(data.truth)
        video = data.truth[0].video if data.truth else data.session_id
        predicted.extend(
            Interval(video=video, onset=m.extent.onset, offset=m.extent.offset, apex=m.extent.apex,
                     subject=data.subject, label="", kind=m.extent.kind)
            for m in kept
        )
    all_labels = np.concatenate(labels) if labels else np.zeros(0)
    report = evaluate_spotting(truth, predicted)
    return EvaluationResult(
        auc=roc_auc(all_labels, np.concatenate(scores)) if scores else float("nan"),
        me=report.per_class["ME"],
        overall=report.overall,
        windows=len(all_labels),
        me_windows=int(np.sum(all_labels == 1)),
        extent=errors,
    )


def evaluate(
    score_fn: ScoreFn,
    sessions: list[SessionData],
    spec: FeatureSpec,
    threshold: float,
    *,
    hrs: HrsFilter = UNFILTERED,
    windows: list[Windows] | None = None,
) -> EvaluationResult:
    """Score every window of every session with a CMCL-Net model, spot intervals, and compare with the
    ground truth (``windows``: the sessions' windows when already built)."""
    entries = []
    pick = cmcl_candidates(threshold, spec)
    for group, data in enumerate(sessions):
        session = windows[group] if windows is not None else session_windows(data, spec, group=group)
        window_scores = score_fn(session)
        entries.append((session, window_scores, pick(data, session, window_scores)))
    return evaluate_candidates(sessions, spec, entries, hrs=hrs)


def evaluate_flow(
    sessions: list[SessionData],
    spec: FeatureSpec,
    *,
    settings: FlowSettings | None = None,
    threshold: float = 1.0,
    hrs: HrsFilter = UNFILTERED,
    windows: list[Windows] | None = None,
) -> EvaluationResult:
    """The training-free spotter on the sessions (window AUC from its score in each window's middle)."""
    entries = []
    for group, data in enumerate(sessions):
        session = windows[group] if windows is not None else session_windows(data, spec, group=group)
        candidates, trace_ms, trace = flow_candidates(data, spec, settings, threshold)
        entries.append((session, flow_window_scores(session, trace_ms, trace, spec), candidates))
    return evaluate_candidates(sessions, spec, entries, hrs=hrs)
