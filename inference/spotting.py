"""From window scores to spotted intervals: merge consecutive positive windows into candidates, put the
apex at the windows' score-weighted centre moved to the facial motion peak nearby, onset and offset at the
typical ME rise and fall times around it, and call the candidate an ME or a macro-expression by the
duration rules. Pure functions; the real-time engine and the offline evaluation share them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from acquisition.readers.annotations import classify_expression


def motion_profile(video_features: np.ndarray) -> np.ndarray:
    """Per-frame facial motion (head motion removed): the sum of the AU regions' flow magnitudes."""
    from inference.features.video import VIDEO_FEATURE_NAMES

    columns = [
        i
        for i, name in enumerate(VIDEO_FEATURE_NAMES)
        if name.endswith("_mag") and not name.startswith("head")
    ]
    return np.asarray(video_features)[:, columns].sum(axis=1)


APEX_REFINE_MS = 40.0  # the apex moves to the motion peak within this distance of the windows' estimate
ONSET_BEFORE_APEX_MS = 90.0  # typical ME onset-apex and apex-offset times: the interval around the apex
OFFSET_AFTER_APEX_MS = 170.0


@dataclass(frozen=True)
class Candidate:
    """Consecutive positive windows: [start_ms, end_ms) on the session clock; ``apex_ms`` is the
    score-weighted centre of its windows (an ME window has the apex in its middle)."""

    start_ms: float
    end_ms: float
    peak_score: float
    mean_score: float
    windows: int
    apex_ms: float


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
        weights = scores[group]
        centres = starts_ms[group] + window_ms / 2
        out.append(
            Candidate(
                float(starts_ms[group[0]]),
                float(starts_ms[group[-1]] + window_ms),
                float(weights.max()),
                float(weights.mean()),
                len(group),
                float(np.sum(weights * centres) / np.sum(weights)),
            )
        )
    return out


def locate_phases(profile: np.ndarray, frame_ms: np.ndarray, candidate: Candidate) -> tuple[int, int, int]:
    """(onset, apex, offset) frame indices of a candidate: the apex is the windows' estimate moved to the
    facial motion peak nearby; onset and offset lie the typical ME rise and fall times around it."""
    frame_ms = np.asarray(frame_ms, dtype=float)
    if len(frame_ms) == 0:
        return 0, 0, 0
    lo = int(np.searchsorted(frame_ms, candidate.apex_ms - APEX_REFINE_MS, side="left"))
    hi = int(np.searchsorted(frame_ms, candidate.apex_ms + APEX_REFINE_MS, side="right"))
    lo, hi = min(max(lo, 0), len(frame_ms) - 1), min(max(hi, lo + 1), len(frame_ms))
    apex = lo + int(np.argmax(np.asarray(profile[lo:hi], dtype=float))) if hi > lo else lo
    apex_ms = frame_ms[apex]
    onset = int(np.clip(np.searchsorted(frame_ms, apex_ms - ONSET_BEFORE_APEX_MS), 0, apex))
    offset = int(
        np.clip(np.searchsorted(frame_ms, apex_ms + OFFSET_AFTER_APEX_MS) - 1, apex, len(frame_ms) - 1)
    )
    return onset, apex, offset


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
