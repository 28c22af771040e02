"""From window scores to spotted intervals: merge consecutive positive windows into candidates, then find
onset, apex and offset on the facial motion profile, and call the candidate an ME or a macro-expression by
the duration rules. Pure functions; the real-time engine and the offline evaluation share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acquisition.readers.annotations import classify_expression

PHASE_LEVEL = 0.5  # onset/offset: where the motion profile crosses this fraction of its peak above baseline
PHASE_MARGIN_MS = 120.0  # look this far around the merged windows for the motion's rise and fall


@dataclass(frozen=True)
class Candidate:
    """Consecutive positive windows: [start_ms, end_ms) on the session clock."""

    start_ms: float
    end_ms: float
    peak_score: float
    mean_score: float
    windows: int


@dataclass(frozen=True)
class SpottedInterval:
    onset_frame: int
    apex_frame: int
    offset_frame: int
    onset_ms: float
    apex_ms: float
    offset_ms: float
    score: float
    kind: str  # "ME" or "macro"


def merge_windows(
    starts_ms: np.ndarray, scores: np.ndarray, threshold: float, window_ms: float, max_gap_windows: int = 1
) -> list[Candidate]:
    """Windows with score >= threshold, merged when at most ``max_gap_windows`` below-threshold windows
    separate them (``starts_ms`` ascending, one per stride)."""
    starts_ms = np.asarray(starts_ms, dtype=float)
    scores = np.asarray(scores, dtype=float)
    positive = np.flatnonzero(scores >= threshold)
    if positive.size == 0:
        return []
    groups = np.split(positive, np.flatnonzero(np.diff(positive) > max_gap_windows + 1) + 1)
    out = []
    for group in groups:
        span = scores[group[0] : group[-1] + 1]
        out.append(
            Candidate(
                float(starts_ms[group[0]]),
                float(starts_ms[group[-1]] + window_ms),
                float(span.max()),
                float(scores[group].mean()),
                len(group),
            )
        )
    return out


def locate_phases(
    profile: np.ndarray, frame_ms: np.ndarray, candidate: Candidate, margin_ms: float = PHASE_MARGIN_MS
) -> tuple[int, int, int]:
    """(onset, apex, offset) frame indices of the motion inside a candidate.

    ``profile`` is a per-frame motion magnitude (head motion removed). The apex is its peak; onset and
    offset are where it crosses ``PHASE_LEVEL`` of the peak above the candidate's baseline on either side.
    """
    frame_ms = np.asarray(frame_ms, dtype=float)
    lo = int(np.searchsorted(frame_ms, candidate.start_ms - margin_ms, side="left"))
    hi = int(np.searchsorted(frame_ms, candidate.end_ms + margin_ms, side="right"))
    lo, hi = max(lo, 0), min(max(hi, lo + 1), len(profile))
    segment = np.asarray(profile[lo:hi], dtype=float)
    if segment.size == 0:
        centre = int(
            np.clip(
                np.searchsorted(frame_ms, (candidate.start_ms + candidate.end_ms) / 2), 0, len(frame_ms) - 1
            )
        )
        return centre, centre, centre
    peak = int(np.argmax(segment))
    baseline = float(np.min(segment))
    level = baseline + PHASE_LEVEL * (segment[peak] - baseline)
    above = segment >= level
    onset = peak
    while onset > 0 and above[onset - 1]:
        onset -= 1
    offset = peak
    while offset < len(segment) - 1 and above[offset + 1]:
        offset += 1
    return lo + onset, lo + peak, lo + offset


def spot_intervals(
    starts_ms: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    window_ms: float,
    profile: np.ndarray,
    frame_ms: np.ndarray,
) -> list[SpottedInterval]:
    """Candidates from the window scores, phased on the motion profile and classified (ME / macro)."""
    out = []
    for candidate in merge_windows(starts_ms, scores, threshold, window_ms):
        onset, apex, offset = locate_phases(profile, frame_ms, candidate)
        onset_ms, apex_ms, offset_ms = (float(frame_ms[i]) for i in (onset, apex, offset))
        out.append(
            SpottedInterval(
                onset,
                apex,
                offset,
                onset_ms,
                apex_ms,
                offset_ms,
                candidate.peak_score,
                classify_expression(onset_ms / 1000, apex_ms / 1000, offset_ms / 1000),
            )
        )
    return out
