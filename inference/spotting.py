"""From candidates to spotted intervals and decisions: the steps the live engine and the offline evaluation
share, so that both measure and decide the same way.

* :class:`CandidateMeasurer`: each candidate's extent measured from the motion (:mod:`inference.extent`),
  candidates found twice dropped;
* :func:`decide`: the HRS filter's decision for a measured candidate, at the ECG sample its rule names;
* :func:`spot_offline`: both over a whole recording (features and the heart already computed).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from inference.decision import HrsFilter
from inference.extent import EXTENT, Extent, ExtentSettings, is_duplicate, measure_extent
from inference.signal.causal import CausalHeartRate
from inference.spotters import Candidate

RECENT_EXTENTS = 8  # measured candidates a new one is checked against for duplicates


@dataclass(frozen=True)
class Measured:
    candidate: Candidate
    extent: Extent  # frame indices counted from the session's first frame

    def apex_sample(self, ecg_rate: float) -> int:
        return round(self.extent.apex_ms * ecg_rate / 1000.0)

    def ready_sample(self, ecg_rate: float, settings: ExtentSettings) -> int:
        """The ECG sample by which the motion after the candidate's apex estimate has been read."""
        return round((self.candidate.apex_ms + settings.post_ms) * ecg_rate / 1000.0)


class CandidateMeasurer:
    """Measure candidates in the order they come; drop those that are an earlier one again."""

    def __init__(self, reference_ms: float, settings: ExtentSettings = EXTENT) -> None:
        self.reference_ms = reference_ms
        self.settings = settings
        self.unmeasured = 0
        self.duplicates = 0
        self._recent: deque[Extent] = deque(maxlen=RECENT_EXTENTS)

    def ready(self, candidate: Candidate, last_frame_ms: float) -> bool:
        return last_frame_ms >= candidate.apex_ms + self.settings.post_ms

    def measure(self, candidate: Candidate, features: np.ndarray, frame_ms: np.ndarray, first_frame: int = 0
                ) -> Measured | None:
        """``features``/``frame_ms``: the frames kept, the first of them frame number ``first_frame``."""
        extent = measure_extent(features, frame_ms, candidate.apex_ms, self.reference_ms, self.settings)
        if extent is None:
            self.unmeasured += 1
            return None
        extent = extent.shifted(first_frame)
        if is_duplicate(extent, list(self._recent)):
            self.duplicates += 1
            return None
        self._recent.append(extent)
        return Measured(candidate, extent)


def decide(measured: Measured, heart: CausalHeartRate, hrs: HrsFilter, trial_start: int,
           extent: ExtentSettings, final: bool) -> tuple[str, float, float] | None:
    """(decision, HRS at the apex, baseline mean HRS), or None while the heart has not said enough (at the
    end of a session (``final``) it decides with what there is)."""
    rate = heart.sampling_rate
    apex = measured.apex_sample(rate)
    at = hrs.decision_sample(heart, apex, measured.ready_sample(rate, extent))
    if at is None:
        if not final:
            return None
        at = heart.samples_seen
    return hrs.decide(heart, apex, trial_start, at)


def spot_offline(candidates: list[Candidate], features: np.ndarray, frame_ms: np.ndarray,
                 heart: CausalHeartRate,
                 *, reference_ms: float, hrs: HrsFilter, trial_start: int = 0, extent: ExtentSettings = EXTENT
                 ) -> list[tuple[Measured, str]]:
    """Every candidate of a recording measured and decided, as the live engine does at the session's end."""
    measurer = CandidateMeasurer(reference_ms, extent)
    out = []
    for candidate in candidates:
        measured = measurer.measure(candidate, features, frame_ms)
        if measured is not None:
            decision = decide(measured, heart, hrs, trial_start, extent, final=True)
            assert decision is not None
            out.append((measured, decision[0]))
    return out
