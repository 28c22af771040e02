"""Evaluation of a spotting model on annotated sessions: window-level ROC AUC and interval-level
precision, recall and F1 (the MEGC metric, IoU >= 0.5), optionally with the heart-rate-slope filter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from acquisition.readers.annotations import Interval
from inference.features.spec import FeatureSpec
from inference.metrics import SpottingCounts, evaluate_spotting, roc_auc
from inference.spotting import SpottedInterval, spot_intervals
from models.dataset import SessionData, Windows, session_windows

ScoreFn = Callable[[Windows], np.ndarray]
DEFAULT_ETA = 2.0


@dataclass(frozen=True)
class EvaluationResult:
    auc: float
    me: SpottingCounts
    overall: SpottingCounts
    windows: int
    me_windows: int

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


def hrs_filter(spotted: list[SpottedInterval], data: SessionData, eta: float) -> list[SpottedInterval]:
    """Keep candidates whose HRS at the apex exceeds eta x the trial's mean HRS (CMCL-Net's filter)."""
    if not len(data.hrs):
        return spotted
    mean = float(np.mean(data.hrs))
    keep = []
    for s in spotted:
        sample = min(round(s.apex_ms * data.ecg_rate / 1000.0), len(data.hrs) - 1)
        if data.hrs[sample] > eta * mean:
            keep.append(s)
    return keep


def evaluate(
    score_fn: ScoreFn,
    sessions: list[SessionData],
    spec: FeatureSpec,
    threshold: float,
    *,
    eta: float | None = None,
    windows: list[Windows] | None = None,
) -> EvaluationResult:
    """Score every window of every session, spot intervals, and compare with the ground truth
    (``windows``: the sessions' windows when already built)."""
    labels, scores, truth, predicted = [], [], [], []
    for group, data in enumerate(sessions):
        session = windows[group] if windows is not None else session_windows(data, spec, group=group)
        window_scores = score_fn(session)
        labeled = session.label != -1
        labels.append(session.label[labeled])
        scores.append(window_scores[labeled])
        spotted = spot_intervals(
            session.start_ms, window_scores, threshold, spec.window_ms, data.profile(spec), data.frame_ms
        )
        if eta is not None:
            spotted = hrs_filter(spotted, data, eta)
        truth.extend(data.truth)
        video = data.truth[0].video if data.truth else data.session_id
        predicted.extend(
            Interval(
                video=video,
                onset=s.onset_frame,
                offset=s.offset_frame,
                apex=s.apex_frame,
                subject=data.subject,
                label="",
                kind=s.kind,
            )
            for s in spotted
        )
    all_labels = np.concatenate(labels) if labels else np.zeros(0)
    report = evaluate_spotting(truth, predicted)
    return EvaluationResult(
        auc=roc_auc(all_labels, np.concatenate(scores)) if scores else float("nan"),
        me=report.per_class["ME"],
        overall=report.overall,
        windows=len(all_labels),
        me_windows=int(np.sum(all_labels == 1)),
    )
