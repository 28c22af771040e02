"""MEGC-style spotting metric: one-to-one interval matching at an IoU threshold, pooled TP/FP/FN, P/R/F1.

Conventions (MEGC spotting challenge):

* Intervals are INCLUSIVE frame ranges: ``onset..offset`` covers ``offset - onset + 1`` frames.
* A prediction is a true positive when it overlaps a not-yet-matched ground truth of the same video with
  ``IoU >= iou_threshold`` (0.5 by default, an IoU of exactly 0.5 counts). Matching is one-to-one and greedy
  by IoU: every candidate pair is sorted by IoU descending (ties by truth index, then prediction index) and
  taken when neither side is used yet. Unmatched truths are FN, unmatched predictions are FP.
* Counts are pooled over all videos before computing precision, recall and F1 (not averaged per video).
  A video without predictions still contributes its truths as FN; predictions in a video without truth
  are FP.
* Per class ("ME", "macro"), truths of class c are matched only against predictions of class c; "overall"
  matches all truths against all predictions regardless of class.
* Class of an interval: its ``kind`` when that is "ME" or "macro"; otherwise, when ``fps`` is given, the
  duration rule of ``classify_expression``: ME if ``(offset - onset) / fps <= 0.5`` s or, with an apex
  inside the interval, ``(apex - onset) / fps <= 0.25`` s, else macro. With no kind and no fps the interval
  is unclassified: it counts in "overall" only (the report says how many there were).
* Videos are keyed by ``(subject, video)``. A prediction whose subject is empty is matched by video name
  alone: it joins the ground-truth video of that name when exactly one subject has one (a ValueError when
  several do); likewise a prediction with a subject joins a truth video of that name whose subject is empty.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from acquisition.readers.annotations import classify_expression

CLASSES: tuple[str, ...] = ("ME", "macro")
"""The expression classes reported separately; every report also has "overall"."""


VideoKey = tuple[str, str]
"""(subject, video)."""


class IntervalLike(Protocol):
    """What the metric needs from an annotation (``acquisition.readers.annotations.Interval`` fits)."""

    @property
    def video(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def onset(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def apex(self) -> int | None: ...
    @property
    def kind(self) -> str: ...


def interval_iou(a_onset: int, a_offset: int, b_onset: int, b_offset: int) -> float:
    """IoU of two inclusive frame intervals; 0.0 when they do not overlap."""
    if a_offset < a_onset or b_offset < b_onset:
        raise ValueError(f"interval with offset before onset: {a_onset}..{a_offset}, {b_onset}..{b_offset}")
    intersection = min(a_offset, b_offset) - max(a_onset, b_onset) + 1
    if intersection <= 0:
        return 0.0
    union = (a_offset - a_onset + 1) + (b_offset - b_onset + 1) - intersection
    return intersection / union


@dataclass(frozen=True)
class MatchResult:
    """Outcome of :func:`match_intervals`, as indices into the truth and prediction sequences."""

    pairs: list[tuple[int, int, float]]
    """(truth index, prediction index, IoU), in the order they were taken (IoU descending)."""
    unmatched_truth: list[int]
    unmatched_pred: list[int]

    @property
    def counts(self) -> SpottingCounts:
        """TP / FP / FN of this matching."""
        return SpottingCounts(tp=len(self.pairs), fp=len(self.unmatched_pred), fn=len(self.unmatched_truth))


def match_intervals(
    truth: Sequence[tuple[Hashable, int, int]],
    pred: Sequence[tuple[Hashable, int, int]],
    iou_threshold: float = 0.5,
) -> MatchResult:
    """Greedy one-to-one matching of ``(video_key, onset, offset)`` tuples; only equal keys can match.

    All pairs of the same video with ``IoU >= iou_threshold`` are sorted by IoU descending, ties broken by
    truth index then prediction index, and a pair is taken when neither side is matched yet.
    """
    _check_threshold(iou_threshold)
    pred_by_key: dict[Hashable, list[int]] = {}
    for j, (key, _, _) in enumerate(pred):
        pred_by_key.setdefault(key, []).append(j)

    candidates: list[tuple[float, int, int]] = []
    for i, (key, t_on, t_off) in enumerate(truth):
        for j in pred_by_key.get(key, ()):
            _, p_on, p_off = pred[j]
            iou = interval_iou(t_on, t_off, p_on, p_off)
            if iou >= iou_threshold:
                candidates.append((iou, i, j))
    candidates.sort(key=lambda c: (-c[0], c[1], c[2]))

    used_truth: set[int] = set()
    used_pred: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for iou, i, j in candidates:
        if i in used_truth or j in used_pred:
            continue
        used_truth.add(i)
        used_pred.add(j)
        pairs.append((i, j, iou))
    return MatchResult(
        pairs=pairs,
        unmatched_truth=[i for i in range(len(truth)) if i not in used_truth],
        unmatched_pred=[j for j in range(len(pred)) if j not in used_pred],
    )


@dataclass(frozen=True)
class SpottingCounts:
    """Pooled TP / FP / FN; ``a + b`` pools two counts. Undefined ratios are 0.0."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __add__(self, other: SpottingCounts) -> SpottingCounts:
        if not isinstance(other, SpottingCounts):
            return NotImplemented
        return SpottingCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    @property
    def precision(self) -> float:
        """TP / (TP + FP), 0.0 without predictions."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        """TP / (TP + FN), 0.0 without ground truth."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        """2TP / (2TP + FP + FN) (the harmonic mean of P and R), 0.0 when TP is 0."""
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0

    def to_dict(self) -> dict[str, int | float]:
        """Counts and ratios, for JSON."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }


@dataclass(frozen=True)
class SpottingReport:
    """Result of :func:`evaluate_spotting`."""

    iou_threshold: float
    fps: float | None
    overall: SpottingCounts
    per_class: dict[str, SpottingCounts]
    """One entry per name in :data:`CLASSES`, always present (zero counts when a class is absent)."""
    per_video: dict[VideoKey, SpottingCounts] = field(default_factory=dict)
    """Overall (class-agnostic) counts per (subject, video), sorted by key."""
    unclassified_truth: int = 0
    """Truths with no kind and no fps to classify them: counted in "overall" only."""
    unclassified_pred: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "iou_threshold": self.iou_threshold,
            "fps": self.fps,
            "classes": {name: counts.to_dict() for name, counts in self.per_class.items()},
            "overall": self.overall.to_dict(),
            "per_video": [
                {"subject": subject, "video": video, **counts.to_dict()}
                for (subject, video), counts in self.per_video.items()
            ],
            "unclassified": {"truth": self.unclassified_truth, "pred": self.unclassified_pred},
        }


def expression_class(interval: IntervalLike, fps: float | None = None) -> str | None:
    """"ME" or "macro" from ``kind``, else from the duration rule at ``fps``; None when neither applies.

    An apex is used only when it lies within onset..offset (0 or -1 often stand for "unknown").
    """
    if interval.kind in CLASSES:
        return interval.kind
    if fps is None:
        return None
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    apex = interval.apex
    apex_s = apex / fps if apex is not None and interval.onset <= apex <= interval.offset else None
    return classify_expression(interval.onset / fps, apex_s, interval.offset / fps)


def evaluate_spotting(
    truth: Sequence[IntervalLike],
    pred: Sequence[IntervalLike],
    iou_threshold: float = 0.5,
    fps: float | None = None,
) -> SpottingReport:
    """Match predictions to ground truth per video and pool the counts per class and overall.

    See the module docstring for the conventions (classes, unclassified intervals, video keys).
    Raises ValueError for a bad threshold or fps, an interval with offset before onset, or a prediction
    without subject whose video name belongs to several subjects.
    """
    _check_threshold(iou_threshold)
    if fps is not None and fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")

    truth_keys: list[VideoKey] = [(t.subject, t.video) for t in truth]
    pred_keys = _resolve_pred_keys(pred, truth_keys)
    truth_classes = [expression_class(t, fps) for t in truth]
    pred_classes = [expression_class(p, fps) for p in pred]

    truth_tuples = [(key, t.onset, t.offset) for key, t in zip(truth_keys, truth, strict=True)]
    pred_tuples = [(key, p.onset, p.offset) for key, p in zip(pred_keys, pred, strict=True)]

    overall_match = match_intervals(truth_tuples, pred_tuples, iou_threshold)
    per_video = _per_video_counts(truth_keys, pred_keys, overall_match)

    per_class: dict[str, SpottingCounts] = {}
    for name in CLASSES:
        class_truth = [t for t, c in zip(truth_tuples, truth_classes, strict=True) if c == name]
        class_pred = [p for p, c in zip(pred_tuples, pred_classes, strict=True) if c == name]
        per_class[name] = match_intervals(class_truth, class_pred, iou_threshold).counts

    return SpottingReport(
        iou_threshold=iou_threshold,
        fps=fps,
        overall=overall_match.counts,
        per_class=per_class,
        per_video=per_video,
        unclassified_truth=sum(c is None for c in truth_classes),
        unclassified_pred=sum(c is None for c in pred_classes),
    )


def _check_threshold(iou_threshold: float) -> None:
    if not 0.0 < iou_threshold <= 1.0:
        raise ValueError(f"IoU threshold must be in (0, 1], got {iou_threshold}")


def _resolve_pred_keys(pred: Iterable[IntervalLike], truth_keys: Iterable[VideoKey]) -> list[VideoKey]:
    """(subject, video) of each prediction, with an empty subject on either side matching by video name."""
    known = set(truth_keys)
    subjects_by_video: dict[str, set[str]] = {}
    for subject, video in known:
        subjects_by_video.setdefault(video, set()).add(subject)

    keys: list[VideoKey] = []
    for p in pred:
        key = (p.subject, p.video)
        if key not in known:
            subjects = subjects_by_video.get(p.video, set())
            if not p.subject and len(subjects) > 1:
                raise ValueError(
                    f"prediction for video {p.video!r} has no subject, and the ground truth has that video "
                    f"for {len(subjects)} subjects ({', '.join(sorted(subjects))})"
                )
            if not p.subject and len(subjects) == 1:
                key = (next(iter(subjects)), p.video)
            elif p.subject and "" in subjects:
                key = ("", p.video)
        keys.append(key)
    return keys


def _per_video_counts(
    truth_keys: Sequence[VideoKey], pred_keys: Sequence[VideoKey], match: MatchResult
) -> dict[VideoKey, SpottingCounts]:
    counts: dict[VideoKey, SpottingCounts] = {key: SpottingCounts() for key in (*truth_keys, *pred_keys)}
    for i, _, _ in match.pairs:
        counts[truth_keys[i]] += SpottingCounts(tp=1)
    for i in match.unmatched_truth:
        counts[truth_keys[i]] += SpottingCounts(fn=1)
    for j in match.unmatched_pred:
        counts[pred_keys[j]] += SpottingCounts(fp=1)
    return dict(sorted(counts.items()))


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN with one class only."""
    labels = np.asarray(labels).astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=float)
    sorted_scores = np.asarray(scores)[order]
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    for start, count in zip(first, counts, strict=True):
        if count > 1:
            ranks[order[start : start + count]] = start + (count + 1) / 2
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
