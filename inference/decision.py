"""The heart-rate-slope (HRS) filter: one place for CMCL-Net's decision, used by the live engine, the GUI, the
report and the offline evaluation alike.

A candidate is **genuine** when HRS = |dHR/dt| at its apex exceeds ``eta`` times the mean HRS of the
baseline, and **rejected** otherwise; it is **unfiltered** when the filter is off or the heart gave nothing
to decide on (no R-peak yet, or none within ``timeout_s`` after the apex). The baseline is the trial so far
(``"trial"``, from the trial's start marker) or the last ``trailing_s`` (``"trailing"``), always as known at
the decision: never the future, so that what the offline evaluation reports is what a live session does.

The decision is taken at one well-defined ECG sample, :meth:`HrsFilter.decision_sample`: once the motion
after the apex has been read (``ready_sample``) and the first R-peak after the apex has been confirmed (HRS
there needs the beat after it), or at the timeout. Everything is computed from the peaks confirmed by that
sample, so the live engine and an offline replay of the same ECG decide identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inference.signal.causal import CausalHeartRate

DECISIONS = ("genuine", "rejected", "unfiltered")
BASELINES = ("trial", "trailing")


@dataclass(frozen=True)
class HrsFilter:
    eta: float = 2.0
    enabled: bool = True
    baseline: str = "trial"  # "trial": since the trial started; "trailing": the last trailing_s
    trailing_s: float = 60.0
    timeout_s: float = 3.0  # signal time after the apex without an R-peak: decide without the heart

    def __post_init__(self) -> None:
        if not (math.isfinite(self.eta) and self.eta >= 0):
            raise ValueError(f"eta must be a finite number >= 0, not {self.eta!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"HRS baseline must be one of {', '.join(BASELINES)}, not {self.baseline!r}")
        for name in ("trailing_s", "timeout_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be positive, not {value!r}")

    def baseline_start(self, trial_start: int, now: int, rate: float) -> int:
        if self.baseline == "trial":
            return trial_start
        return max(trial_start, now - round(self.trailing_s * rate))

    def baseline_mean(self, heart: CausalHeartRate, trial_start: int, now: int) -> float:
        """Mean HRS of the baseline as known at sample ``now`` (NaN before two beats)."""
        start = self.baseline_start(trial_start, now, heart.sampling_rate)
        return heart.mean_hrs(start, now, upto=now) if now > start else float("nan")

    def decision_sample(self, heart: CausalHeartRate, apex_sample: int, ready_sample: int) -> int | None:
        """The ECG sample at which a candidate whose motion has been read by ``ready_sample`` is decided:
        None while the heart has not yet said enough (and the timeout has not passed)."""
        timeout = apex_sample + round(self.timeout_s * heart.sampling_rate)
        covered = heart.covered_at(apex_sample)
        at = min(max(ready_sample, covered), timeout) if covered is not None else timeout
        at = max(at, ready_sample)
        return at if heart.samples_seen >= at else None

    def decide(self, heart: CausalHeartRate, apex_sample: int, trial_start: int, at: int
               ) -> tuple[str, float, float]:
        """(decision, HRS at the apex, baseline mean HRS) from the heart as known at sample ``at``."""
        covered = heart.covers(apex_sample, upto=at)
        hrs_apex = heart.hrs_at(apex_sample, upto=at) if covered else float("nan")
        hrs_mean = self.baseline_mean(heart, trial_start, at)
        if not self.enabled or not math.isfinite(hrs_apex) or not math.isfinite(hrs_mean):
            return "unfiltered", hrs_apex, hrs_mean
        return ("genuine" if hrs_apex > self.eta * hrs_mean else "rejected"), hrs_apex, hrs_mean
